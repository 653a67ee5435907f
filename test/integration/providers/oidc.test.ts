/**
 * The OIDC provider against a real Keycloak, set up like DataChain's `dc-realm`
 * (../../../../shared/research/providers.md §2): rotating one-use refresh tokens, offline
 * tokens, a public client, revocation.
 */
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProviderError } from '../../../src/providers/errors.js';
import { fetchHttpClient, type HttpClient, type HttpResponse } from '../../../src/providers/http.js';
import {
  createDiscoveryCache,
  createOidcProvider,
  type OidcProviderOptions,
  type OidcRefusalReason,
} from '../../../src/providers/oidc/index.js';
import { ManualClock } from '../../../src/schedule/clock.js';
import {
  endUserSessions,
  introspect,
  keycloakAvailable,
  provisionRealm,
  seedOfflineToken,
  seedToken,
  type KeycloakRealm,
} from '../../support/keycloak.js';

const skip = await keycloakAvailable();
if (skip) console.warn(`skipping the Keycloak tests: ${skip}`);

describe.skipIf(skip !== undefined)(`oidc provider against Keycloak${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let realm: KeycloakRealm;
  // every credential a test handled: none may ever show up in an error
  const secrets: string[] = [];

  beforeAll(async () => {
    realm = await provisionRealm();
    secrets.push(realm.confidentialClientSecret, realm.password);
  }, 420_000);

  afterAll(async () => {
    await realm?.delete();
  });

  const publicClient = (extra: Partial<OidcProviderOptions> = {}) =>
    createOidcProvider({ tokenUrl: realm.tokenUrl, clientId: realm.publicClientId, allowInsecureHttp: true, ...extra });

  const confidentialClient = (extra: Partial<OidcProviderOptions> = {}) =>
    createOidcProvider({
      issuerUrl: realm.issuerUrl,
      clientId: realm.confidentialClientId,
      clientSecret: realm.confidentialClientSecret,
      allowInsecureHttp: true,
      discoveryCache: createDiscoveryCache(),
      ...extra,
    });

  async function seed(...args: Parameters<typeof seedToken>) {
    const tokens = await seedToken(...args);
    secrets.push(tokens.refreshToken, tokens.accessToken);
    return tokens;
  }

  /** awaits a refusal, checks its kind/code/reason and that it leaks no credential */
  async function refused(
    p: Promise<unknown>,
    expected: { kind: string; status?: number; code?: string; reason?: OidcRefusalReason },
  ) {
    const e: unknown = await p.then(
      () => expect.fail('expected a refusal'),
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(ProviderError);
    expect(e).toMatchObject(expected);
    const rendered = [String(e), JSON.stringify(e), inspect(e, { depth: 10, showHidden: true })].join('\n');
    for (const secret of secrets) expect(rendered).not.toContain(secret);
    return e as Error & { reason?: OidcRefusalReason };
  }

  it('refreshes across 10 rotations; each refresh token is new and a replay kills the session', async () => {
    const provider = publicClient();
    const seeded = await seed(realm, { offline: false });
    const seen = new Set([seeded.refreshToken]);
    let current = seeded.refreshToken;
    let previous = '';
    for (let i = 0; i < 10; i++) {
      const t = await provider.refresh({ refreshToken: current });
      secrets.push(t.refreshToken, t.accessToken);
      expect(t.tokenType).toBe('Bearer');
      expect(t.refreshTokenRotated).toBe(true);
      expect(seen.has(t.refreshToken)).toBe(false);
      seen.add(t.refreshToken);
      // online session: refresh_expires_in > 0
      expect(t.refreshExpiresAt).toBeInstanceOf(Date);
      expect(t.expiresAt!.getTime() - Date.now()).toBeGreaterThan(50_000);
      expect(t.expiresAt!.getTime() - Date.now()).toBeLessThanOrEqual(60_000);
      expect((await introspect(realm, t.accessToken)).active).toBe(true);
      previous = current;
      current = t.refreshToken;
    }
    // the spent token is refused as a reuse…
    await refused(provider.refresh({ refreshToken: previous }), {
      kind: 'Unauthorized',
      code: 'invalid_grant',
      reason: 'RefreshTokenReused',
    });
    // …and, in current Keycloak, the replay also ends the session (providers.md §2.3)
    await refused(provider.refresh({ refreshToken: current }), {
      kind: 'Unauthorized',
      code: 'invalid_grant',
      reason: 'SessionNotActive',
    });
  });

  it('a malformed answer after Keycloak rotated: the new refresh token reaches onRotated before the error, and the chain goes on from it', async () => {
    const seeded = await seed(realm, { offline: false });
    // Keycloak rotates for real; the answer is then broken on the way (an empty access_token)
    const real = fetchHttpClient({ timeoutMs: 10_000 });
    const breaking: HttpClient = async (req) => {
      const res = await real(req);
      if (res.status !== 200 || !req.url.endsWith('/token')) return res;
      const body = JSON.parse(res.text) as Record<string, unknown>;
      return { ...res, text: JSON.stringify({ ...body, access_token: '' }) };
    };
    const saved: string[] = [];
    await expect(publicClient({ http: breaking }).refresh({ refreshToken: seeded.refreshToken, onRotated: async (t) => void saved.push(t) })).rejects.toBeInstanceOf(
      ProviderError,
    );
    expect(saved).toHaveLength(1);
    secrets.push(saved[0]!);
    expect(saved[0]).not.toBe(seeded.refreshToken);
    // the presented token is spent; the saved one is the live one
    const next = await publicClient().refresh({ refreshToken: saved[0]! });
    secrets.push(next.refreshToken, next.accessToken);
    expect((await introspect(realm, next.accessToken)).active).toBe(true);
  });

  it('refreshes an offline token: no refresh expiry, and it rotates too', async () => {
    const seeded = await seedOfflineToken(realm);
    secrets.push(seeded.refreshToken, seeded.accessToken);
    expect(seeded.refreshExpiresIn).toBe(0);
    const clock = new ManualClock('2030-01-01T00:00:00Z');
    const provider = publicClient({ clock });
    const t = await provider.refresh({ refreshToken: seeded.refreshToken });
    secrets.push(t.refreshToken, t.accessToken);
    expect(t.refreshExpiresAt).toBeNull();
    expect(t.refreshTokenRotated).toBe(true);
    // lifetimes are counted on the injected clock, from when the grant was sent
    expect(t.expiresAt).toEqual(new Date('2030-01-01T00:01:00Z'));
    expect(t.scope?.split(' ')).toContain('offline_access');
    const again = await provider.refresh({ refreshToken: t.refreshToken });
    secrets.push(again.refreshToken, again.accessToken);
    expect(again.refreshExpiresAt).toBeNull();
    await refused(provider.refresh({ refreshToken: t.refreshToken }), {
      kind: 'Unauthorized',
      code: 'invalid_grant',
      reason: 'RefreshTokenReused',
    });
  });

  it('works with discovery (fetched once per issuer) and with an explicit tokenUrl', async () => {
    let discoveries = 0;
    const real = fetchHttpClient();
    const counting: HttpClient = (req) => {
      if (req.url.endsWith('/.well-known/openid-configuration')) discoveries++;
      return real(req);
    };
    const cache = createDiscoveryCache();
    const viaDiscovery = () =>
      createOidcProvider({ issuerUrl: realm.issuerUrl, clientId: realm.publicClientId, allowInsecureHttp: true, http: counting, discoveryCache: cache });

    const a = await seed(realm);
    const ta = await viaDiscovery().refresh({ refreshToken: a.refreshToken });
    secrets.push(ta.refreshToken, ta.accessToken);
    const tb = await viaDiscovery().refresh({ refreshToken: ta.refreshToken });
    secrets.push(tb.refreshToken, tb.accessToken);
    expect(discoveries).toBe(1);

    const viaTokenUrl = createOidcProvider({ tokenUrl: realm.tokenUrl, clientId: realm.publicClientId, allowInsecureHttp: true, http: counting });
    const tc = await viaTokenUrl.refresh({ refreshToken: tb.refreshToken });
    secrets.push(tc.refreshToken, tc.accessToken);
    expect(discoveries).toBe(1);
    expect((await introspect(realm, tc.accessToken)).active).toBe(true);
    // the ID token Keycloak adds (scope openid) is not checked: with an explicit tokenUrl
    // the issuer is only a label, and a failed check must never cost a rotated token
    const td = await createOidcProvider({
      tokenUrl: realm.tokenUrl,
      issuerUrl: 'https://not-the-issuer.example',
      clientId: realm.publicClientId,
      allowInsecureHttp: true,
    }).refresh({ refreshToken: tc.refreshToken });
    secrets.push(td.refreshToken, td.accessToken);
    expect(td.scope?.split(' ')).toContain('openid');
    // the revocation endpoint is derived from the token URL (Keycloak layout)
    await viaTokenUrl.revoke(td.refreshToken);
    expect((await introspect(realm, td.refreshToken)).active).toBe(false);
  });

  it('refuses plain http unless allowInsecureHttp is set', async () => {
    const a = await seed(realm);
    // the same refusal as the egress policy's for plain http (openid-client's own https rule)
    await refused(createOidcProvider({ tokenUrl: realm.tokenUrl, clientId: realm.publicClientId }).refresh({ refreshToken: a.refreshToken }), {
      kind: 'EgressDenied',
    });
    await refused(
      createOidcProvider({ issuerUrl: realm.issuerUrl, clientId: realm.publicClientId, discoveryCache: createDiscoveryCache() }).refresh({
        refreshToken: a.refreshToken,
      }),
      { kind: 'EgressDenied' },
    );
  });

  it('works for a confidential client, with the secret posted or sent as Basic', async () => {
    const seeded = await seed(realm, { client: 'confidential' });
    const t1 = await confidentialClient().refresh({ refreshToken: seeded.refreshToken });
    secrets.push(t1.refreshToken, t1.accessToken);
    const t2 = await confidentialClient({ clientAuthMethod: 'client_secret_basic', tokenUrl: realm.tokenUrl }).refresh({
      refreshToken: t1.refreshToken,
    });
    secrets.push(t2.refreshToken, t2.accessToken);
    expect((await introspect(realm, t2.accessToken)).active).toBe(true);

    // a wrong secret is the client's fault, not the token's; the token stays usable.
    // Keycloak 26 says 401 unauthorized_client here (invalid_client is for unknown ids).
    const wrongSecret = `${realm.confidentialClientSecret.slice(0, -4)}beef`;
    secrets.push(wrongSecret);
    for (const clientAuthMethod of ['client_secret_post', 'client_secret_basic'] as const) {
      const e = await refused(confidentialClient({ clientSecret: wrongSecret, clientAuthMethod }).refresh({ refreshToken: t2.refreshToken }), {
        kind: 'Unauthorized',
        status: 401,
        code: 'unauthorized_client',
        reason: 'InvalidClient',
      });
      expect(e.message).toMatch(/check clientId and the client secret/);
    }
    const t3 = await confidentialClient().refresh({ refreshToken: t2.refreshToken });
    secrets.push(t3.refreshToken, t3.accessToken);

    // a token issued to the confidential client, presented by the public one
    await refused(publicClient().refresh({ refreshToken: t3.refreshToken }), {
      kind: 'Unauthorized',
      code: 'invalid_grant',
      reason: 'ClientMismatch',
    });
  });

  it('revokes: the token turns inactive, a later refresh fails with a reason, and revoking again succeeds', async () => {
    for (const offline of [true, false]) {
      const provider = publicClient();
      const seeded = await seed(realm, { offline });
      const t = await provider.refresh({ refreshToken: seeded.refreshToken });
      secrets.push(t.refreshToken, t.accessToken);
      expect((await introspect(realm, t.refreshToken)).active).toBe(true);

      await provider.revoke(t.refreshToken);
      expect((await introspect(realm, t.refreshToken)).active).toBe(false);
      // Keycloak 26.5: "Offline user session not found" (offline) / "Session not active"
      await refused(provider.refresh({ refreshToken: t.refreshToken }), {
        kind: 'Unauthorized',
        code: 'invalid_grant',
        reason: 'SessionNotActive',
      });

      // Keycloak answers 200 {"error":"invalid_token"} here: still a success
      const bodies: string[] = [];
      const real = fetchHttpClient();
      const recording: HttpClient = async (req) => {
        const res = await real(req);
        bodies.push(res.text);
        return res;
      };
      await publicClient({ http: recording }).revoke(t.refreshToken);
      await publicClient({ http: recording }).revoke('not-a-token-at-all');
      for (const body of bodies) expect(JSON.parse(body)).toMatchObject({ error: 'invalid_token' });
      expect(bodies).toHaveLength(2);
    }
  });

  it('maps an unknown client id to Unauthorized invalid_client', async () => {
    const seeded = await seed(realm);
    await refused(publicClient({ clientId: 'no-such-client' }).refresh({ refreshToken: seeded.refreshToken }), {
      kind: 'Unauthorized',
      code: 'invalid_client',
      reason: 'InvalidClient',
    });
    await refused(publicClient({ clientId: 'no-such-client' }).revoke(seeded.refreshToken), {
      kind: 'Unauthorized',
      code: 'invalid_client',
    });
  });

  it('maps a garbled token to InvalidRefreshToken and a pushed not-before to StaleToken', async () => {
    const provider = publicClient();
    await refused(provider.refresh({ refreshToken: 'garbled.refresh.token' }), {
      kind: 'Unauthorized',
      code: 'invalid_grant',
      reason: 'InvalidRefreshToken',
    });
    // an access token is a JWT of the wrong type
    const seeded = await seed(realm);
    await refused(provider.refresh({ refreshToken: seeded.accessToken }), { kind: 'Unauthorized', code: 'invalid_grant' });

    const kc = await realm.admin();
    await new Promise((r) => setTimeout(r, 1100)); // notBefore has 1 s resolution
    await kc.realms.update({ realm: realm.name }, { notBefore: Math.floor(Date.now() / 1000) });
    try {
      await refused(provider.refresh({ refreshToken: seeded.refreshToken }), {
        kind: 'Unauthorized',
        code: 'invalid_grant',
        reason: 'StaleToken',
      });
    } finally {
      await kc.realms.update({ realm: realm.name }, { notBefore: 0 });
    }
  });

  it('maps an expired refresh token to RefreshTokenExpired', async () => {
    const short = await provisionRealm({ realm: { ssoSessionMaxLifespan: 3, ssoSessionIdleTimeout: 3 } });
    try {
      const seeded = await seedToken(short, { offline: false });
      secrets.push(seeded.refreshToken, seeded.accessToken);
      await new Promise((r) => setTimeout(r, 4500));
      const provider = createOidcProvider({ tokenUrl: short.tokenUrl, clientId: short.publicClientId, allowInsecureHttp: true });
      // Keycloak: "Token is not active"
      await refused(provider.refresh({ refreshToken: seeded.refreshToken }), {
        kind: 'Unauthorized',
        code: 'invalid_grant',
        reason: 'RefreshTokenExpired',
      });
    } finally {
      await short.delete();
    }
  });

  it('liveness without a refresh: alive, then revoked once an admin ends the session (userinfo for the public client, introspection for the confidential one)', async () => {
    const pub = await seed(realm);
    const conf = await seed(realm, { client: 'confidential' });
    const p = publicClient();
    const c = confidentialClient();
    expect(await p.verify(pub.accessToken)).toEqual({ state: 'alive' });
    expect(await c.verify(conf.accessToken)).toEqual({ state: 'alive' });
    // the checks spent nothing: the refresh tokens still work afterwards
    expect((await introspect(realm, pub.refreshToken)).active).toBe(true);

    await endUserSessions(realm);
    const p2 = await p.verify(pub.accessToken);
    const c2 = await c.verify(conf.accessToken);
    expect(p2).toMatchObject({ state: 'revoked', said: expect.stringContaining('userinfo: HTTP 4xx (invalid_token') });
    expect(c2).toMatchObject({ state: 'revoked', said: expect.stringContaining('introspect') });
    for (const r of [p2, c2]) for (const secret of secrets) expect(JSON.stringify(r)).not.toContain(secret);
    // and the refresh grant agrees: the chain is dead, a person must issue a new token
    await refused(p.refresh({ refreshToken: pub.refreshToken }), { kind: 'Unauthorized', code: 'invalid_grant' });
  });
});

/**
 * What Keycloak cannot be made to answer on demand (outages, rate limits, broken bodies),
 * served by an HttpClient that answers the token endpoint with canned responses.
 */
describe('oidc provider error mapping for server failures', () => {
  const tokenUrl = 'https://idp.example/realms/dc-realm/protocol/openid-connect/token';
  const refreshToken = 'eyJhbGciOiJIUzI1NiJ9.c2VlZC1yZWZyZXNoLXRva2Vu.c2lnbmF0dXJlLXZhbHVl';

  function answering(status: number, text: string, headers: Record<string, string> = {}) {
    const requests: string[] = [];
    const http: HttpClient = async (req): Promise<HttpResponse> => {
      requests.push(`${req.method} ${req.url}`);
      return { status, text, headers: new Headers({ 'content-type': 'application/json', ...headers }) };
    };
    const provider = createOidcProvider({ tokenUrl, clientId: 'pydc', http, clock: new ManualClock('2030-01-01T00:00:00Z') });
    return { provider, requests };
  }

  async function failure(p: Promise<unknown>): Promise<ProviderError> {
    const e: unknown = await p.then(
      () => expect.fail('expected a failure'),
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(ProviderError);
    expect(inspect(e, { depth: 10, showHidden: true })).not.toContain(refreshToken);
    return e as ProviderError;
  }

  it('5xx is Retryable, with or without an OAuth error body', async () => {
    expect(await failure(answering(503, '<html>down</html>', { 'content-type': 'text/html' }).provider.refresh({ refreshToken }))).toMatchObject({
      kind: 'Retryable',
      status: 503,
    });
    // openid-client reads OAuth error bodies on 4xx only
    expect(await failure(answering(500, '{"error":"server_error"}').provider.refresh({ refreshToken }))).toMatchObject({
      kind: 'Retryable',
      status: 500,
    });
  });

  it('a 4xx page that is not OAuth JSON maps by status', async () => {
    const notFound = answering(404, '<html>no such realm</html>', { 'content-type': 'text/html' });
    expect(await failure(notFound.provider.refresh({ refreshToken }))).toMatchObject({ kind: 'NotFound', status: 404 });
    const proxy = answering(403, 'denied', { 'content-type': 'text/plain' });
    expect(await failure(proxy.provider.refresh({ refreshToken }))).toMatchObject({ kind: 'Unauthorized', status: 403 });
  });

  it('429 is RateLimited with Retry-After', async () => {
    const e = await failure(answering(429, '{"error":"slow_down"}', { 'retry-after': '30' }).provider.refresh({ refreshToken }));
    expect(e).toMatchObject({ kind: 'RateLimited', retryAfterMs: 30_000 });
  });

  it('a malformed 200 is BadResponse, and the body it echoed stays out of the error', async () => {
    expect(await failure(answering(200, 'not json').provider.refresh({ refreshToken }))).toMatchObject({ kind: 'BadResponse' });
    const e = await failure(answering(200, JSON.stringify({ token_type: 'Bearer', refresh_token: refreshToken })).provider.refresh({ refreshToken }));
    expect(e).toMatchObject({ kind: 'BadResponse' });
  });

  it('a network failure is Retryable', async () => {
    const http: HttpClient = async () => {
      throw new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } });
    };
    const e = await failure(createOidcProvider({ tokenUrl, clientId: 'pydc', http }).refresh({ refreshToken }));
    expect(e).toMatchObject({ kind: 'Retryable', message: 'refresh: network error (could not connect)' });
  });

  it('keeps the presented refresh token when none comes back, and dates the access token by its exp', async () => {
    const exp = Date.parse('2030-01-01T00:05:00Z') / 1000;
    const jwt = `e30.${Buffer.from(JSON.stringify({ exp })).toString('base64url')}.sig`;
    const { provider, requests } = answering(200, JSON.stringify({ access_token: jwt, token_type: 'bearer', id_token: 'not even a jwt' }));
    const t = await provider.refresh({ refreshToken });
    expect(t).toEqual({
      accessToken: jwt,
      tokenType: 'Bearer',
      expiresAt: new Date('2030-01-01T00:05:00Z'),
      refreshToken,
      refreshTokenRotated: false,
    });
    expect(requests).toEqual([`POST ${tokenUrl}`]);
  });

  it('an unknown invalid_grant still needs a human', async () => {
    const e = await failure(answering(400, '{"error":"invalid_grant","error_description":"Something new"}').provider.refresh({ refreshToken }));
    expect(e).toMatchObject({ kind: 'Unauthorized', code: 'invalid_grant', reason: 'RefreshTokenRejected' });
  });

  it('a token URL without a /token suffix has no derived revocation endpoint', async () => {
    const http: HttpClient = async () => expect.fail('no request expected');
    const e = await failure(createOidcProvider({ tokenUrl: 'https://idp.example/oauth2/grant', clientId: 'pydc', http }).revoke(refreshToken));
    expect(e).toMatchObject({ kind: 'Invalid' });
  });
});
