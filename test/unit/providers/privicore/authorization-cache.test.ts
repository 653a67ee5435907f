import { describe, expect, it } from 'vitest';
import { fetchHttpClient, type HttpClient } from '../../../../src/providers/http.js';
import { ProviderError } from '../../../../src/providers/errors.js';
import { ManualClock } from '../../../../src/schedule/clock.js';
import {
  AuthorizationCache,
  profileKey,
  type ProfileAuthorization,
  type ProfileSession,
} from '../../../../src/providers/privicore/index.js';
import { PASSWORD, USERNAME, harness, providerError } from './harness.js';

const LOGIN = 'POST /profile/authenticate';
const REAUTH = 'POST /profile/reauthorize-authorization-token';

describe('AuthorizationCache against the simulator', () => {
  it('shares ONE login across 20 concurrent callers', async () => {
    const { provider, calls } = await harness();
    const auths = await Promise.all(Array.from({ length: 20 }, () => provider.authorization()));
    expect(new Set(auths.map((a) => a.authorizationToken)).size).toBe(1);
    expect(calls(LOGIN)).toBe(1);
  });

  it('shares one login across providers and concurrent data calls', async () => {
    const { makeProvider, calls } = await harness();
    await Promise.all(Array.from({ length: 20 }, () => makeProvider().listDataTokens()));
    expect(calls(LOGIN)).toBe(1);
    expect(calls('GET /data-token/list-data-tokens')).toBe(20);
  });

  it('reauthorizes inside the lead window instead of logging in again', async () => {
    const { provider, clock, calls } = await harness();
    const first = await provider.authorization();
    clock.set(first.expiresAt.getTime() - 61_000); // outside the 60 s lead: cached
    expect((await provider.authorization()).authorizationToken).toBe(first.authorizationToken);
    clock.set(first.expiresAt.getTime() - 30_000); // inside it: reauthorize
    const renewed = await Promise.all(Array.from({ length: 5 }, () => provider.authorization()));
    expect(renewed[0]?.authorizationToken).not.toBe(first.authorizationToken);
    expect(calls(REAUTH)).toBe(1);
    expect(calls(LOGIN)).toBe(1);
  });

  it('logs in again only after expiry', async () => {
    const { provider, clock, calls } = await harness();
    const first = await provider.authorization();
    clock.set(first.expiresAt.getTime() + 1);
    const second = await provider.authorization();
    expect(second.authorizationToken).not.toBe(first.authorizationToken);
    expect(calls(LOGIN)).toBe(2);
    expect(calls(REAUTH)).toBe(0);
  });

  it('on a 401 drops the authorization and logs in once more', async () => {
    const { sim, provider, calls } = await harness();
    const first = await provider.authorization();
    const stored = sim.state.authorizations.get(first.authorizationToken);
    if (stored) stored.revoked = true; // revoked behind our back
    await Promise.all([provider.listDataTokens(), provider.listDataTokens()]);
    expect(calls(LOGIN)).toBe(2);
    expect((await provider.authorization()).authorizationToken).not.toBe(first.authorizationToken);
  });

  it('gives up after the one re-login when the 401 persists', async () => {
    let listCalls = 0;
    const inner = fetchHttpClient();
    const http: HttpClient = async (req) => {
      if (req.url.includes('/data-token/list-data-tokens')) {
        listCalls += 1;
        return { status: 401, headers: new Headers(), text: '{"message":"Invalid token"}' };
      }
      return inner(req);
    };
    const { provider, calls } = await harness({ http });
    const err = await providerError(provider.listDataTokens());
    expect(err.kind).toBe('Unauthorized');
    expect(listCalls).toBe(2);
    expect(calls(LOGIN)).toBe(2);
  });

  it('logs in afresh when the password changes, and then forgets the old password\'s authorization', async () => {
    const { sim, cache, provider, makeProvider, calls } = await harness();
    await provider.authorization();
    sim.addProfile(USERNAME, 'a-new-password');
    const changed = makeProvider({ profile: { username: USERNAME, password: 'a-new-password' } });
    await changed.authorization();
    expect(calls(LOGIN)).toBe(2);
    await changed.authorization();
    expect(calls(LOGIN)).toBe(2);
    expect(cache.peek(profileKey(sim.url, USERNAME, PASSWORD))).toBeUndefined();
    expect(cache.peek(profileKey(sim.url, USERNAME, 'a-new-password'))).toBeDefined();
  });

  it("a wrong password (another tenant naming the profile) neither evicts nor uses the real user's authorization", async () => {
    const { cache, sim, provider, makeProvider, calls } = await harness();
    const real = await provider.authorization();
    const wrong = makeProvider({ profile: { username: USERNAME, password: 'guessed-wrong' } });
    for (let i = 0; i < 3; i++) expect((await providerError(wrong.authorization())).kind).toBe('Unauthorized');
    expect(calls(LOGIN)).toBe(4); // the real login and three refused ones: never served the cached token
    // the real user's resources go on with the authorization they had: no new login
    expect((await provider.authorization()).authorizationToken).toBe(real.authorizationToken);
    await provider.listDataTokens();
    expect(calls(LOGIN)).toBe(4);
    // and the refused password left no entry behind
    expect(cache.peek(profileKey(sim.url, USERNAME, 'guessed-wrong'))).toBeUndefined();
  });

  it('falls back to a login when reauthorize is refused', async () => {
    const { provider, clock, calls } = await harness({ provider: { authorizationTtlSeconds: 99_999_999 } });
    const first = await provider.authorization();
    clock.set(first.expiresAt.getTime() - 10_000);
    expect((await provider.authorization()).authorizationToken).not.toBe(first.authorizationToken);
    expect(calls(REAUTH)).toBe(1);
    expect(calls(LOGIN)).toBe(2);
  });

  it('revokeAuthorization revokes the shared token and forgets it', async () => {
    const { sim, provider, calls } = await harness();
    const first = await provider.authorization();
    await provider.revokeAuthorization();
    expect(sim.state.authorizations.get(first.authorizationToken)?.revoked).toBe(true);
    await provider.authorization();
    expect(calls(LOGIN)).toBe(2);
  });
});

describe('AuthorizationCache policy (in-memory session)', () => {
  function countingSession(clock: ManualClock, lifetimeMs: number) {
    const counts = { authenticate: 0, reauthorize: 0 };
    const issue = (): ProfileAuthorization => ({
      authorizationToken: `t${counts.authenticate + counts.reauthorize}`,
      expiresAt: new Date(clock.now().getTime() + lifetimeMs),
    });
    const session: ProfileSession = {
      key: profileKey('https://x.test', 'u', 'p'),
      authenticate: async () => {
        counts.authenticate += 1;
        return issue();
      },
      reauthorize: async () => {
        counts.reauthorize += 1;
        return issue();
      },
    };
    return { session, counts };
  }

  it('uses 10% of a short lifetime as the lead (never a renewal on every call)', async () => {
    const clock = new ManualClock();
    const cache = new AuthorizationCache({ clock });
    const { session, counts } = countingSession(clock, 300_000); // 5 min → lead 30 s
    await cache.get(session);
    clock.advance(269_000);
    await cache.get(session);
    expect(counts.reauthorize).toBe(0);
    clock.advance(2_000);
    await cache.get(session);
    expect(counts).toEqual({ authenticate: 1, reauthorize: 1 });
  });

  it('honours a configured lead', async () => {
    const clock = new ManualClock();
    const cache = new AuthorizationCache({ clock, leadMs: 120_000 });
    const { session, counts } = countingSession(clock, 3_600_000);
    await cache.get(session);
    clock.advance(3_600_000 - 119_000);
    await cache.get(session);
    expect(counts.reauthorize).toBe(1);
  });

  it('hands a failed login to every waiting caller, then tries again on the next call', async () => {
    const clock = new ManualClock();
    const cache = new AuthorizationCache({ clock });
    let attempts = 0;
    const session: ProfileSession = {
      key: profileKey('https://x.test', 'u', 'p'),
      authenticate: async () => {
        attempts += 1;
        if (attempts === 1) throw new ProviderError('Retryable', 'authenticate: HTTP 503', { provider: 'privicore', call: 'authenticate' });
        return { authorizationToken: 'ok', expiresAt: new Date(clock.now().getTime() + 3_600_000) };
      },
      reauthorize: async () => {
        throw new Error('not expected');
      },
    };
    const results = await Promise.allSettled(Array.from({ length: 5 }, () => cache.get(session)));
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
    expect(attempts).toBe(1);
    expect((await cache.get(session)).authorizationToken).toBe('ok');
  });
});
