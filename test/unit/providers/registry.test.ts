import { describe, expect, it } from 'vitest';
import { KINDS } from '../../../src/api/index.js';
import { createProviders, PROVIDERS } from '../../../src/providers/registry.js';
import { fetchHttpClient } from '../../../src/providers/http.js';
import { systemClock } from '../../../src/schedule/clock.js';

/** The registry and the API's provider blocks are one list, seen from two sides. */
describe('the provider registry', () => {
  it('has a provider for every provider block of every kind, and no other', () => {
    for (const k of KINDS) expect(Object.keys(PROVIDERS[k.kind]).sort()).toEqual([...k.providers].sort());
  });

  it('builds one instance of each for the process, each with a distinct name', () => {
    const providers = createProviders({ http: fetchHttpClient(), clock: systemClock, allowInsecureHttp: false });
    const names = Object.values(providers).flatMap((byField) => Object.values(byField).map((p) => p.name));
    expect(new Set(names).size).toBe(names.length);
  });

  it('a chain names seed inputs the provider declares', () => {
    const providers = createProviders({ http: fetchHttpClient(), clock: systemClock, allowInsecureHttp: false });
    const spec = { refreshTokenSecretRef: { name: 's', key: 'k' }, privateKeySecretRef: { name: 'k', key: 'p' }, accessTokenSecretRef: { name: 'g', key: 'a' }, manageUrlSecretRef: { name: 'g', key: 'm' } };
    for (const byField of Object.values(providers)) {
      for (const p of Object.values(byField)) {
        if (!p.traits.chain) continue;
        const inputs = p.inputs(spec);
        for (const seed of Object.keys(p.traits.chain.seed)) expect(inputs, `${p.name}: seed input ${seed}`).toHaveProperty(seed);
      }
    }
  });
});
