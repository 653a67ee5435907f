import { afterEach, describe, expect, it } from 'vitest';
import { probeOf } from '../../../../src/providers/gnap/liveness.js';
import { gnapFixture, newEd25519Pem } from '../gnap/fixture.js';

type Fixture = Awaited<ReturnType<typeof gnapFixture>>;
let fx: Fixture | undefined;
afterEach(async () => {
  await fx?.sim.close();
  fx = undefined;
});

describe('GNAP liveness', () => {
  it('alive without rotating: a grant that may list gets 200, one that may not gets 403 Insufficient Grant; both mean active', async () => {
    fx = await gnapFixture();
    const ref = fx.issue();
    const before = fx.sim.state.requests.length;
    const access = [{ type: 'outgoing-payment', actions: ['create', 'read'], identifier: fx.walletAddressUrl }];
    expect(await fx.provider.verify({ ...ref, access })).toEqual({ state: 'alive' });
    const probes = fx.sim.state.requests.slice(before);
    expect(probes.map((r) => `${r.method} ${r.path} ${r.status}`)).toEqual(['GET /alice 200', 'GET /outgoing-payments 403']);

    const listing = fx.sim.issueToken([{ type: 'incoming-payment', actions: ['list', 'read'], identifier: fx.walletAddressUrl }]);
    const access2 = [{ type: 'incoming-payment', actions: ['list', 'read'], identifier: fx.walletAddressUrl }];
    expect(await fx.provider.verify({ ...ref, accessToken: listing.value, access: access2 })).toEqual({ state: 'alive' });
    expect(fx.sim.state.requests.at(-1)).toMatchObject({ method: 'GET', path: '/incoming-payments', status: 200 });
    // nothing was rotated or revoked: the token still works
    expect(await fx.resourceStatus(ref.accessToken)).toBe(200);
    expect([...fx.sim.state.tokens.values()].every((t) => t.revokedAtMs === undefined)).toBe(true);
  });

  it('revoked when the resource server reports the token inactive (revoked out of band); the message carries no secret', async () => {
    fx = await gnapFixture();
    const ref = fx.issue();
    const access = [{ type: 'outgoing-payment', actions: ['create', 'read'], identifier: fx.walletAddressUrl }];
    const res = await fetch(`${fx.sim.url}/_sim/revoke`, { method: 'POST', body: JSON.stringify({ walletAddressUrl: fx.walletAddressUrl }) });
    expect(await res.json()).toEqual({ revoked: 1 });
    const r = await fx.provider.verify({ ...ref, access });
    expect(r.state).toBe('revoked');
    const said = r.state === 'revoked' ? r.said : '';
    expect(said).toBe(`GET /outgoing-payments at ${new URL(fx.sim.url).host}: HTTP 4xx: the resource server reports the access token as inactive (revoked, expired, or its grant ended)`);
    for (const secret of [ref.accessToken, ref.manageUrl, new URL(ref.manageUrl).pathname]) expect(said).not.toContain(secret);
  });

  it('a refused signature or an unreachable wallet proves nothing (unknown)', async () => {
    fx = await gnapFixture();
    const ref = fx.issue();
    const access = [{ type: 'incoming-payment' as const, actions: ['list' as const], identifier: fx.walletAddressUrl }];
    const listing = fx.sim.issueToken(access);
    const otherKey = newEd25519Pem();
    const bad = await fx.provider.verify({ ...ref, accessToken: listing.value, privateKeyPem: otherKey, access });
    expect(bad).toMatchObject({ state: 'unknown' });
    expect(bad.state === 'unknown' && bad.said).toContain('HTTP 4xx');
    const nowhere = await fx.provider.verify({ ...ref, access: [{ type: 'outgoing-payment', actions: ['read'], identifier: `${fx.sim.url}/nobody` }] });
    expect(nowhere).toMatchObject({ state: 'unknown' });
    expect(nowhere.state === 'unknown' && nowhere.said).toContain('wallet-address');
  });

  it('probes a list the grant may use, at the wallet address its access names', () => {
    expect(probeOf([], 'https://w/alice')).toEqual({ collection: 'outgoing-payments', wallet: 'https://w/alice' });
    expect(probeOf([{ type: 'quote', actions: ['create'] }], 'https://w/a')).toEqual({ collection: 'outgoing-payments', wallet: 'https://w/a' });
    expect(
      probeOf(
        [
          { type: 'outgoing-payment', actions: ['create'], identifier: 'https://w/bob' },
          { type: 'incoming-payment', actions: ['list-all'], identifier: 'https://w/carol' },
        ],
        'https://w/a',
      ),
    ).toEqual({ collection: 'incoming-payments', wallet: 'https://w/carol' });
    expect(probeOf([{ type: 'incoming-payment', actions: ['read'] }], 'https://w/a')).toEqual({ collection: 'incoming-payments', wallet: 'https://w/a' });
  });
});
