import { expect, it } from 'vitest';
import { isProviderError } from '../../../../src/providers/errors.js';
import type { SimFaultInput, SimRoute } from '../../../simulators/dds/faults.js';
import { HOUR_S, startWorld } from './world.js';

/**
 * Rule 3 of the architecture: no secret value in an error. Drive every failure path and
 * look for the client secret, access tokens, bearer tokens and activation tokens in what
 * the errors carry (message, code, cause, JSON form).
 */
it('never puts a client secret, token or activation link into an error', async () => {
  const { sim, provider, account } = await startWorld({
    clients: { 'demo-client': 'demo-secret', other: 's3cr3t-other' },
    timeoutMs: 1_000,
  });
  const thrown: unknown[] = [];
  const attempt = async (p: Promise<unknown>) => {
    try {
      await p;
    } catch (e) {
      thrown.push(e);
    }
  };

  const [first] = await provider.listTokens(account);
  const link = first!.activationLink!;
  const profile = await provider.activate(link);
  await attempt(provider.activate(link)); // consumed
  await attempt(provider.activate(`${link}/extra`)); // unrecognised form
  await attempt(provider.activate(link.replace(/\?.*/, '?'))); // no token
  await attempt(provider.activate(`${sim.url}/delta_sharing/retrieve_config.html?${'f'.repeat(40)}`)); // unknown
  await attempt(provider.listTokens({ ...account, credentials: { clientId: 'other', clientSecret: 'demo-secret' } }));
  await attempt(provider.listTokens({ ...account, credentials: { clientId: 'demo-client', clientSecret: 's3cr3t-other' } }));

  const rotated = await provider.rotate(account, HOUR_S);
  await attempt(provider.rotate(account, HOUR_S)); // ceiling
  const spare = await provider.activate(rotated[0]!.activationLink!);
  await provider.revokeAll(account);
  await attempt(provider.verify(spare)); // revoked bearer
  const reissued = await provider.rotate(account, HOUR_S);
  const faults: Array<[SimRoute, SimFaultInput]> = [
    ['dds-tokens.get', { kind: 'status', status: 500 }],
    ['dds-tokens.get', { kind: 'malformed' }],
    ['dds-tokens.get', { kind: 'oversized' }],
    ['dds-tokens.post', { kind: 'status', status: 401 }],
    ['dds-tokens.patch', { kind: 'hang' }],
    ['activation', { kind: 'malformed' }],
    ['activation', { kind: 'rateLimit' }],
    ['shares', { kind: 'status', status: 403 }],
    ['auth', { kind: 'rateLimit' }], // last: the limiter then holds this app back for a while
  ];
  for (const [route, fault] of faults) {
    sim.faults.inject(route, fault, route === 'dds-tokens.post' ? 2 : 1);
    if (route === 'auth') sim.state.expireAccessTokens();
    if (route.startsWith('dds-tokens')) {
      await attempt(route === 'dds-tokens.get' ? provider.listTokens(account) : route === 'dds-tokens.post' ? provider.rotate(account, 1) : provider.revokeAll(account));
    } else if (route === 'activation') {
      await attempt(provider.activate(reissued[0]!.activationLink!));
    } else if (route === 'shares') {
      await attempt(provider.verify(profile));
    } else {
      await attempt(provider.listTokens(account));
    }
  }
  await attempt(provider.listTokens(account)); // held back locally

  expect(thrown.length).toBe(18);
  const secrets = [...sim.state.secrets(), link, link.split('?')[1]!, 'f'.repeat(40)];
  expect(secrets).toContain('demo-secret');
  for (const e of thrown) {
    expect(isProviderError(e)).toBe(true);
    const text = describe(e);
    for (const secret of secrets) expect(text).not.toContain(secret);
  }
});

function describe(e: unknown): string {
  const parts: string[] = [];
  for (let cur: unknown = e; cur !== undefined && cur !== null; cur = (cur as { cause?: unknown }).cause) {
    parts.push(String(cur), JSON.stringify(cur), cur instanceof Error ? (cur.stack ?? '') : '');
  }
  return parts.join('\n');
}
