import { describe, expect, it } from 'vitest';
import { ddsCredentialProvider } from '../../../../src/providers/dds/credential-provider.js';
import { listedLiveness } from '../../../../src/providers/dds/liveness.js';
import { DEMO_CLIENT } from '../../../simulators/dds/server.js';
import { startWorld } from '../dds/world.js';

async function issued() {
  const w = await startWorld();
  const [token] = await w.provider.listTokens(w.account);
  const profile = await w.provider.activate(token!.activationLink!);
  return { ...w, profile, tokenId: token!.id };
}

/** The provider's checkLiveness as the skeleton calls it: `spec` = whether the operator may present the token (spec.verify). */
function checker(w: Awaited<ReturnType<typeof issued>>) {
  const cp = ddsCredentialProvider({ http: w.http, clock: w.clock, allowInsecureHttp: true }, w.provider);
  return (o: { spec: boolean; tokenId?: string | undefined; data?: Record<string, string> }) =>
    cp.checkLiveness!({
      spec: { apiUrl: w.account.apiUrl, credentialsSecretRef: { name: 'zdirect' } },
      inputs: { clientId: w.account.credentials.clientId, clientSecret: w.account.credentials.clientSecret },
      now: w.clock.now(),
      allowInsecureHttp: true,
      step: () => undefined,
      data: o.data ?? { endpoint: w.profile.endpoint, bearerToken: w.profile.bearerToken! },
      ...(o.tokenId ? { tokenId: o.tokenId } : {}),
      intervalMs: 3_600_000,
      mayPresent: o.spec,
    });
}

describe('DDS liveness', () => {
  it('share access: alive while the server accepts the bearer token, revoked once every token of the account is revoked out of band', async () => {
    const { sim, provider, profile } = await issued();
    expect(await provider.shareLiveness(profile)).toEqual({ state: 'alive' });

    expect(sim.state.revokeOutOfBand(DEMO_CLIENT.clientId)).toBe(1);
    const dead = await provider.shareLiveness(profile);
    expect(dead.state).toBe('revoked');
    const said = dead.state === 'revoked' ? dead.said : '';
    // the status class only, as in every provider message (the egress rule: no probing by status)
    expect(said).toBe('the Delta Sharing server refused the bearer token (verify-shares: HTTP 4xx)');
    expect(said).not.toContain(profile.bearerToken);
    // out of band: not counted as the operator's PATCH 0
    expect(sim.state.patchZeroCalls).toBe(0);
  });

  it('share access: a 5xx or a rate limit proves nothing (unknown), and the check spends no zDirect token', async () => {
    const { sim, provider, profile } = await issued();
    const tokenCalls = sim.state.tokenRequests().length;
    await provider.shareLiveness(profile);
    expect(sim.state.tokenRequests().length).toBe(tokenCalls);
    sim.faults.inject('shares', { kind: 'status', status: 503 });
    sim.faults.inject('shares', { kind: 'rateLimit' });
    expect(await provider.shareLiveness(profile)).toMatchObject({ state: 'unknown', said: expect.stringContaining('HTTP 5xx') });
    expect(await provider.shareLiveness(profile)).toMatchObject({ state: 'unknown', said: expect.stringContaining('HTTP 4xx') });
    expect(await provider.shareLiveness(profile)).toEqual({ state: 'alive' });
  });

  it('token list (the operator may not call the sharing server): alive while listed ACTIVE or ROTATED, revoked when gone', async () => {
    const w = await issued();
    const check = checker(w);
    const listed = { spec: false, tokenId: w.tokenId };
    expect(await check(listed)).toEqual({ state: 'alive' });
    await w.provider.rotate(w.account, 3600);
    expect(await check(listed)).toEqual({ state: 'alive' }); // now ROTATED
    w.sim.state.revokeOutOfBand();
    const r = await check(listed);
    expect(r).toMatchObject({ state: 'revoked', facts: { replacedUntil: null } });
    expect(r.state === 'revoked' && r.said).toMatch(/no longer listed as ACTIVE or ROTATED \(0 valid token/);
  });

  it('a dead bearer token: the token list says whether a live previous token still holds a new one back (two-token ceiling)', async () => {
    const w = await issued();
    const check = checker(w);
    expect(await check({ spec: true })).toEqual({ state: 'alive' });
    // the first token becomes ROTATED for an hour; only the ACTIVE one dies out of band
    const rotated = await w.provider.rotate(w.account, 3600);
    const until = rotated.find((t) => t.status === 'ROTATED')!.expirationTime!;
    const next = rotated.find((t) => t.status === 'ACTIVE')!;
    const profile = await w.provider.activate(next.activationLink!);
    w.sim.state.revokeOutOfBand(DEMO_CLIENT.clientId, 'ACTIVE');
    const r = await check({ spec: true, data: { endpoint: profile.endpoint, bearerToken: profile.bearerToken! } });
    expect(r).toMatchObject({ state: 'revoked', facts: { replacedUntil: until.toISOString() } });
  });

  it('token list without ids: only an empty account says revoked', () => {
    const now = new Date('2026-03-01T00:00:00Z');
    const later = new Date('2026-04-01T00:00:00Z');
    const active = { id: undefined, status: 'ACTIVE', activationLink: null, createdAt: now, expirationTime: later };
    expect(listedLiveness([active], undefined, now).state).toBe('unknown');
    expect(listedLiveness([], undefined, now).state).toBe('revoked');
    expect(listedLiveness([{ ...active, expirationTime: now }], undefined, later).state).toBe('revoked');
    expect(listedLiveness([{ ...active, id: 'a' }], 'b', now).state).toBe('revoked');
  });

  it('the simulator admin API revokes out of band', async () => {
    const { sim, provider, profile } = await issued();
    const res = await fetch(`${sim.url}/_sim/revoke-all`, { method: 'POST', body: JSON.stringify({ clientId: DEMO_CLIENT.clientId }) });
    expect(await res.json()).toEqual({ revoked: 1 });
    expect((await provider.shareLiveness(profile)).state).toBe('revoked');
  });
});
