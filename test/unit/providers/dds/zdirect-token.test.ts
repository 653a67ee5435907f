import { describe, expect, it } from 'vitest';
import { createTokenRateLimiter, createDdsProvider } from '../../../../src/providers/dds/index.js';
import { createZDirectTokenClient } from '../../../../src/providers/dds/zdirect-token.js';
import { ManualClock } from '../../../../src/schedule/clock.js';
import { clockSleep, rejection, startWorld } from './world.js';

const MINUTE = 60_000;

describe('zDirect token cache', () => {
  it('serves every resource of one app from one cached token', async () => {
    const { sim, provider, account } = await startWorld();
    await Promise.all(Array.from({ length: 20 }, () => provider.listTokens({ ...account })));
    await provider.listTokens(account);
    expect(sim.state.tokenRequests()).toHaveLength(1);
  });

  it('renews shortly before expires_in, and assumes 5 minutes when it is missing', async () => {
    const { clock, sim, provider, account } = await startWorld();
    await provider.listTokens(account);
    clock.advance(7200_000 - 61_000);
    await provider.listTokens(account);
    expect(sim.state.tokenRequests()).toHaveLength(1);
    clock.advance(2_000); // inside the last minute
    await provider.listTokens(account);
    expect(sim.state.tokenRequests()).toHaveLength(2);

    sim.state.settings.accessTokenTtlSeconds = null;
    clock.advance(7200_000);
    await provider.listTokens(account);
    clock.advance(4 * MINUTE - 1);
    await provider.listTokens(account);
    expect(sim.state.tokenRequests()).toHaveLength(3);
    clock.advance(1);
    await provider.listTokens(account);
    expect(sim.state.tokenRequests()).toHaveLength(4);
  });

  it('drops the cached token when the DDS API answers 401, and retries once', async () => {
    const { sim, provider, account } = await startWorld();
    await provider.listTokens(account);
    sim.state.expireAccessTokens();
    await expect(provider.listTokens(account)).resolves.toHaveLength(1);
    expect(sim.state.tokenRequests()).toHaveLength(2);
    expect(sim.state.log.filter((e) => e.route === 'dds-tokens.get').map((e) => e.status)).toEqual([200, 401, 200]);

    sim.faults.inject('dds-tokens.get', { kind: 'status', status: 401 }, 2);
    expect(await rejection(provider.listTokens(account))).toMatchObject({ kind: 'Unauthorized', status: 401 });
  });

  it('refuses wrong credentials, and never serves a cached token to a wrong secret', async () => {
    const { sim, provider, account } = await startWorld();
    await provider.listTokens(account);
    const wrong = { ...account, credentials: { clientId: 'demo-client', clientSecret: 'guess' } };
    expect(await rejection(provider.listTokens(wrong))).toMatchObject({ kind: 'Unauthorized', status: 401 });
    expect(sim.state.tokenRequests().map((e) => e.status)).toEqual([200, 401]);
  });

  it('can send the credentials in the form body', async () => {
    const { clock, sim, http, account } = await startWorld();
    const provider = createDdsProvider({ http, clock, clientAuth: 'body' });
    await expect(provider.listTokens(account)).resolves.toHaveLength(1);
    expect(sim.state.tokenRequests()[0]).toMatchObject({ clientId: 'demo-client', status: 200 });
  });

  it('maps 429 to RateLimited and then holds further requests back locally', async () => {
    const { sim, provider, account } = await startWorld();
    sim.faults.inject('auth', { kind: 'rateLimit', retryAfterSeconds: 30 });
    expect(await rejection(provider.listTokens(account))).toMatchObject({ kind: 'RateLimited', status: 429, retryAfterMs: 30_000 });
    const e = await rejection(provider.listTokens(account));
    expect(e).toMatchObject({ kind: 'RateLimited', code: 'ClientRateLimit' });
    expect(e.retryAfterMs).toBeGreaterThan(0);
    expect(sim.state.tokenRequests()).toHaveLength(1);
  });
});

describe('zDirect token rate limiter', () => {
  it('never lets 50 concurrent callers over 5 apps exceed 8 requests per 60 s per app', async () => {
    const clock = new ManualClock('2026-03-01T00:00:00Z');
    const apps = Array.from({ length: 5 }, (_, i) => ({ clientId: `app-${i}`, clientSecret: `secret-${i}` }));
    const { sim, http } = await startWorld({ clock, clients: Object.fromEntries(apps.map((a) => [a.clientId, a.clientSecret])) });
    const limiter = createTokenRateLimiter({ clock, sleep: clockSleep(clock), maxWaitMs: 10 * MINUTE });
    const tokens = createZDirectTokenClient({ http, clock, limiter });
    const tokenUrl = `${sim.url}/auth/token`;

    // Each resource needs 12 fresh tokens (as if each one were refused with a 401).
    const resources = Array.from({ length: 50 }, (_, i) => apps[i % apps.length]!);
    await Promise.all(
      resources.map(async (creds) => {
        for (let n = 0; n < 12; n++) tokens.invalidate(tokenUrl, creds, await tokens.getToken(tokenUrl, creds));
      }),
    );

    for (const app of apps) {
      const calls = sim.state.tokenRequests(app.clientId);
      expect(calls.length).toBeGreaterThanOrEqual(12);
      expect(calls.every((c) => c.status === 200)).toBe(true);
      for (let i = 0; i + 8 < calls.length; i++) {
        expect(calls[i + 8]!.at.getTime() - calls[i]!.at.getTime()).toBeGreaterThanOrEqual(MINUTE);
      }
    }
  });

  it("a resource naming another app's client id with a wrong secret spends a budget of its own, never that app's", async () => {
    const clock = new ManualClock('2026-03-01T00:00:00Z');
    const { sim, http } = await startWorld({ clock });
    const tokens = createZDirectTokenClient({ http, clock, limiter: createTokenRateLimiter({ clock, maxWaitMs: 0 }) });
    const tokenUrl = `${sim.url}/auth/token`;
    const real = { clientId: 'demo-client', clientSecret: 'demo-secret' };
    const borrowed = { clientId: 'demo-client', clientSecret: 'not-the-secret' };
    // the hostile resource keeps asking until its own window of 8 is full (and then is held back locally)
    for (let i = 0; i < 8; i++) expect(await rejection(tokens.getToken(tokenUrl, borrowed))).toMatchObject({ kind: 'Unauthorized' });
    expect(await rejection(tokens.getToken(tokenUrl, borrowed))).toMatchObject({ kind: 'RateLimited', code: 'ClientRateLimit' });
    expect(sim.state.tokenRequests()).toHaveLength(8);
    // the app's own resources still have all 8 of theirs
    for (let i = 0; i < 8; i++) tokens.invalidate(tokenUrl, real, await tokens.getToken(tokenUrl, real));
    expect(sim.state.tokenRequests().filter((r) => r.status === 200)).toHaveLength(8);
    expect(await rejection(tokens.getToken(tokenUrl, real))).toMatchObject({ kind: 'RateLimited', code: 'ClientRateLimit' });
  });

  it("a 429 earned by a wrong secret does not pause the app's own requests", async () => {
    const { sim, http, clock } = await startWorld();
    const tokens = createZDirectTokenClient({ http, clock });
    const tokenUrl = `${sim.url}/auth/token`;
    sim.faults.inject('auth', { kind: 'rateLimit', retryAfterSeconds: 30 });
    expect(await rejection(tokens.getToken(tokenUrl, { clientId: 'demo-client', clientSecret: 'wrong' }))).toMatchObject({ kind: 'RateLimited', status: 429 });
    await expect(tokens.getToken(tokenUrl, { clientId: 'demo-client', clientSecret: 'demo-secret' })).resolves.toEqual(expect.any(String));
  });

  it('fails fast with RateLimited when the window is full and the wait is too long', async () => {
    const { sim, http, clock } = await startWorld();
    const tokens = createZDirectTokenClient({ http, clock, limiter: createTokenRateLimiter({ clock, maxWaitMs: 5_000 }) });
    const creds = { clientId: 'demo-client', clientSecret: 'demo-secret' };
    const tokenUrl = `${sim.url}/auth/token`;
    for (let i = 0; i < 8; i++) tokens.invalidate(tokenUrl, creds, await tokens.getToken(tokenUrl, creds));
    clock.advance(10_000);
    const e = await rejection(tokens.getToken(tokenUrl, creds));
    expect(e).toMatchObject({ kind: 'RateLimited', code: 'ClientRateLimit' });
    expect(e.retryAfterMs).toBe(50_000);
    expect(sim.state.tokenRequests()).toHaveLength(8);

    clock.advance(50_000);
    await expect(tokens.getToken(tokenUrl, creds)).resolves.toEqual(expect.any(String));
  });
});
