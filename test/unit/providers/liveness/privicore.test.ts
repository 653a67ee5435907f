import { describe, expect, it } from 'vitest';
import { DataTokenListings } from '../../../../src/providers/privicore/index.js';
import { harness, USERNAME } from '../privicore/harness.js';

const LIST = 'GET /data-token/list-data-tokens';

describe('Privicore liveness', () => {
  it('a data token is alive while listed; deleted out of band it is revoked', async () => {
    const { sim, clock, makeProvider, calls } = await harness();
    const provider = makeProvider({ listings: new DataTokenListings({ clock }) });
    const { token } = await provider.tokenize({ data: Buffer.from('payload'), context: 'c' });
    const writtenAt = clock.now();
    clock.advance(1000);
    expect(await provider.dataTokenLiveness(token, writtenAt, 60_000)).toEqual({ state: 'alive' });

    const res = await fetch(`${sim.url}/_sim/data-tokens/delete`, { method: 'POST', body: JSON.stringify({ token }) });
    expect(res.status).toBe(200);
    clock.advance(61_000); // past the shared listing's age limit
    const r = await provider.dataTokenLiveness(token, writtenAt, 60_000);
    expect(r).toMatchObject({ state: 'revoked' });
    expect(r.state === 'revoked' && r.said).toContain('no longer listed');
    expect(r.state === 'revoked' && r.said).not.toContain(token);
    expect(calls(LIST)).toBe(2);
  });

  it('one listing serves every check of the profile within its ttl; a token newer than the listing fetches it again', async () => {
    const { clock, makeProvider, calls } = await harness();
    const listings = new DataTokenListings({ clock });
    const provider = makeProvider({ listings });
    const a = await provider.tokenize({ data: Buffer.from('a'), context: 'c' });
    const b = await provider.tokenize({ data: Buffer.from('b'), context: 'c' });
    const written = clock.now();
    clock.advance(1000);
    expect(await provider.dataTokenLiveness(a.token, written, 60_000)).toEqual({ state: 'alive' });
    expect(await makeProvider({ listings }).dataTokenLiveness(b.token, written, 60_000)).toEqual({ state: 'alive' });
    expect(calls(LIST)).toBe(1);

    const c = await provider.tokenize({ data: Buffer.from('c'), context: 'c' });
    expect(await provider.dataTokenLiveness(c.token, clock.now(), 60_000)).toEqual({ state: 'alive' });
    expect(calls(LIST)).toBe(2);
    // a token missing from a listing taken after it was written is gone, without another listing
    expect(await provider.dataTokenLiveness('dtk-never-existed', written, 60_000)).toMatchObject({ state: 'revoked' });
    expect(calls(LIST)).toBe(2);
    // a check that allows only a younger listing fetches it again
    clock.advance(10_000);
    expect(await provider.dataTokenLiveness(a.token, written, 5_000)).toEqual({ state: 'alive' });
    expect(calls(LIST)).toBe(3);
  });

  it('an authorization revoked out of band is replaced by a fresh login, never reported as a revoked credential', async () => {
    const { sim, provider, calls } = await harness();
    expect(await provider.authorizationLiveness()).toEqual({ liveness: { state: 'alive' }, relogged: false }); // nothing held yet
    const first = await provider.authorization();
    expect(await provider.authorizationLiveness()).toEqual({ liveness: { state: 'alive' }, relogged: false });
    const logins = calls('POST /profile/authenticate');

    const res = await fetch(`${sim.url}/_sim/authorizations/revoke`, { method: 'POST', body: JSON.stringify({ username: USERNAME }) });
    expect(await res.json()).toEqual({ revoked: 1 });
    expect(await provider.authorizationLiveness()).toEqual({ liveness: { state: 'alive' }, relogged: true });
    expect(calls('POST /profile/authenticate')).toBe(logins + 1);
    expect((await provider.authorization()).authorizationToken).not.toBe(first.authorizationToken);
  });
});
