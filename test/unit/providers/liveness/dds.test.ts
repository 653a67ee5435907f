import { describe, expect, it } from 'vitest';
import { listedLiveness } from '../../../../src/providers/dds/liveness.js';
import { DEMO_CLIENT } from '../../../simulators/dds/server.js';
import { startWorld } from '../dds/world.js';

async function issued() {
  const w = await startWorld();
  const [token] = await w.provider.listTokens(w.account);
  const profile = await w.provider.activate(token!.activationLink!);
  return { ...w, profile, tokenId: token!.id };
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

  it('token list: alive while listed ACTIVE or ROTATED, revoked when gone', async () => {
    const { sim, provider, account, tokenId } = await issued();
    expect(await provider.listedLiveness(account, tokenId)).toEqual({ state: 'alive' });
    await provider.rotate(account, 3600);
    expect(await provider.listedLiveness(account, tokenId)).toEqual({ state: 'alive' }); // now ROTATED
    sim.state.revokeOutOfBand();
    const r = await provider.listedLiveness(account, tokenId);
    expect(r).toMatchObject({ state: 'revoked' });
    expect(r.state === 'revoked' && r.said).toMatch(/no longer listed as ACTIVE or ROTATED \(0 valid token/);
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
