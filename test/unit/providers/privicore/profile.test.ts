import { describe, expect, it } from 'vitest';
import { PASSWORD, USERNAME, harness, providerError } from './harness.js';

describe('privicore profile authorization', () => {
  it('authenticates with username and password and reads expiresAt', async () => {
    const { provider, clock } = await harness();
    const auth = await provider.authenticate(USERNAME, PASSWORD);
    expect(auth.authorizationToken).toMatch(/^T-/);
    expect(auth.expiresAt.getTime()).toBe(clock.now().getTime() + 3600_000);
  });

  it('refuses bad credentials as Unauthorized without echoing the password', async () => {
    const { provider } = await harness();
    const err = await providerError(provider.authenticate(USERNAME, 'wrong-password'));
    expect(err.kind).toBe('Unauthorized');
    expect(err.status).toBe(401);
    expect(err.message).toBe('authenticate: HTTP 4xx');
    expect(err.message).not.toContain('wrong-password');
  });

  it('reauthorizes synchronously (200 with a fresh token)', async () => {
    const { provider, clock } = await harness();
    const first = await provider.authenticate(USERNAME, PASSWORD);
    clock.advance(10_000);
    const next = await provider.reauthorize(first.authorizationToken, 86_400);
    expect(next.authorizationToken).not.toBe(first.authorizationToken);
    expect(next.expiresAt.getTime()).toBe(clock.now().getTime() + 86_400_000);
  });

  it('reauthorizes asynchronously (202 + command): waits, then reads the extended expiry', async () => {
    const { provider, clock, calls } = await harness({ sim: { settings: { reauthorizeAnswer: 'async' } } });
    const first = await provider.authenticate(USERNAME, PASSWORD);
    const next = await provider.reauthorize(first.authorizationToken, 7_200);
    expect(next.authorizationToken).toBe(first.authorizationToken);
    expect(next.expiresAt.getTime()).toBe(clock.now().getTime() + 7_200_000);
    expect(calls('POST /request-status/:id')).toBeGreaterThan(0);
    expect(calls('POST /profile/authorization-token/expiry')).toBe(1);
  });

  it('maps a refused ttl to Invalid naming the field, never its value', async () => {
    const { provider } = await harness();
    const { authorizationToken } = await provider.authenticate(USERNAME, PASSWORD);
    const err = await providerError(provider.reauthorize(authorizationToken, 99_999_999));
    expect(err.kind).toBe('Invalid');
    expect(err.message).toBe('reauthorize: HTTP 4xx (field ttl)');
    expect(err.message).not.toContain('99999999');
  });

  it('reads the expiry at the live path', async () => {
    const { provider, calls } = await harness();
    const auth = await provider.authenticate(USERNAME, PASSWORD);
    expect((await provider.retrieveExpiry(auth.authorizationToken)).getTime()).toBe(auth.expiresAt.getTime());
    expect(calls('POST /profile/authorization-token/expiry')).toBe(1);
    expect(calls('GET /profile/retrieve-token-expiry')).toBe(0);
  });

  it('falls back to the documented GET expiry path on 404 and remembers it', async () => {
    const { provider, calls } = await harness({ sim: { settings: { dialect: 'docs' } } });
    const auth = await provider.authenticate(USERNAME, PASSWORD);
    expect((await provider.retrieveExpiry(auth.authorizationToken)).getTime()).toBe(auth.expiresAt.getTime());
    await provider.retrieveExpiry(auth.authorizationToken);
    expect(calls('POST /profile/authorization-token/expiry')).toBe(1);
    expect(calls('GET /profile/retrieve-token-expiry')).toBe(2);
  });

  it('revokes the presented token: later calls with it are Unauthorized', async () => {
    const { provider } = await harness();
    const auth = await provider.authenticate(USERNAME, PASSWORD);
    await provider.revoke(auth.authorizationToken);
    const err = await providerError(provider.retrieveExpiry(auth.authorizationToken));
    expect(err.kind).toBe('Unauthorized');
    expect(err.message).not.toContain(auth.authorizationToken);
  });

  it('treats a token past expiresAt as Unauthorized (simulator follows the injected clock)', async () => {
    const { provider, clock } = await harness();
    const auth = await provider.authenticate(USERNAME, PASSWORD);
    clock.set(auth.expiresAt);
    expect((await providerError(provider.retrieveExpiry(auth.authorizationToken))).kind).toBe('Unauthorized');
  });
});
