import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { fetchHttpClient } from '../../../../src/providers/http.js';
import { createDiscoveryCache, createOidcProvider, type OidcProviderOptions } from '../../../../src/providers/oidc/index.js';

/**
 * OIDC liveness against a small stand-in for Keycloak's userinfo and introspection endpoints
 * (the real Keycloak: test/integration/liveness-oidc.test.ts). One access token is live; a
 * second one's session was ended.
 */
const LIVE = 'live-access-token-aaaaaaaaaaaaaaaaaaaaaaaaaaaa';
const ENDED = 'ended-access-token-bbbbbbbbbbbbbbbbbbbbbbbbbbb';
const NO_OPENID = 'no-openid-scope-token-ccccccccccccccccccccccc';
const SECRET = 'client-secret';

type Seen = { method: string; path: string; auth?: string; body: string };
let close: (() => Promise<void>) | undefined;
afterEach(async () => {
  await close?.();
  close = undefined;
});

async function issuer(): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      seen.push({ method: req.method ?? '', path, ...(req.headers.authorization ? { auth: req.headers.authorization } : {}), body });
      const send = (status: number, value?: unknown, headers: Record<string, string> = {}) => {
        res.writeHead(status, { 'content-type': 'application/json', ...headers });
        res.end(value === undefined ? '' : JSON.stringify(value));
      };
      if (path === '/realms/r/.well-known/openid-configuration') {
        const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/realms/r`;
        return send(200, {
          issuer: base,
          token_endpoint: `${base}/protocol/openid-connect/token`,
          userinfo_endpoint: `${base}/protocol/openid-connect/userinfo`,
          introspection_endpoint: `${base}/protocol/openid-connect/token/introspect`,
        });
      }
      if (path === '/realms/r/protocol/openid-connect/userinfo') {
        const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
        if (token === LIVE) return send(200, { sub: 'u1' });
        if (token === NO_OPENID) return send(403, { error: 'insufficient_scope', error_description: 'Missing openid scope' });
        return send(401, { error: 'invalid_token', error_description: 'Token verification failed' }, { 'www-authenticate': 'Bearer realm="r", error="invalid_token", error_description="Token verification failed"' });
      }
      if (path === '/realms/r/protocol/openid-connect/token/introspect') {
        const form = new URLSearchParams(body);
        const basic = req.headers.authorization?.startsWith('Basic ') ? Buffer.from(req.headers.authorization.slice(6), 'base64').toString() : undefined;
        const authed = form.get('client_secret') === SECRET || basic === `confidential:${SECRET}`;
        if (!authed) return send(401, { error: 'invalid_client' });
        return send(200, { active: form.get('token') === LIVE });
      }
      send(404, { error: 'not_found' });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  close = () => new Promise<void>((r) => server.close(() => r()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

function provider(url: string, o: Partial<OidcProviderOptions> = {}) {
  return createOidcProvider({
    issuerUrl: `${url}/realms/r`,
    clientId: 'confidential',
    allowInsecureHttp: true,
    http: fetchHttpClient({ timeoutMs: 2_000 }),
    discoveryCache: createDiscoveryCache(),
    ...o,
  });
}

describe('OIDC liveness', () => {
  it('a public client asks userinfo: 200 alive, 401 revoked (with what the server said), 403 unknown', async () => {
    const { url, seen } = await issuer();
    const p = provider(url);
    expect(await p.verify(LIVE)).toEqual({ state: 'alive' });
    const ended = await p.verify(ENDED);
    expect(ended).toMatchObject({ state: 'revoked' });
    expect(ended.state === 'revoked' && ended.said).toBe('userinfo: HTTP 4xx (invalid_token: Token verification failed): the server no longer accepts the access token');
    expect(await p.verify(NO_OPENID)).toMatchObject({ state: 'unknown', said: expect.stringContaining('openid scope') });
    // never a token grant: nothing was refreshed
    expect(seen.filter((s) => s.path.endsWith('/token'))).toEqual([]);
  });

  it('a confidential client introspects (post or basic auth): active false = revoked; its own refusal proves nothing', async () => {
    const { url, seen } = await issuer();
    const p = provider(url, { clientSecret: SECRET });
    expect(await p.verify(LIVE)).toEqual({ state: 'alive' });
    expect(await p.verify(ENDED)).toMatchObject({ state: 'revoked', said: expect.stringContaining('not active') });
    expect(seen.at(-1)?.body).toContain('token_type_hint=access_token');
    const basic = provider(url, { clientSecret: SECRET, clientAuthMethod: 'client_secret_basic' });
    expect(await basic.verify(LIVE)).toEqual({ state: 'alive' });
    expect(seen.at(-1)?.auth).toMatch(/^Basic /);
    const wrong = provider(url, { clientSecret: 'wrong' });
    expect(await wrong.verify(ENDED)).toMatchObject({ state: 'unknown', said: 'introspect: HTTP 4xx (invalid_client)' });
    expect(seen.filter((s) => s.path.endsWith('/userinfo'))).toEqual([]);
  });

  it('with an explicit tokenUrl (no discovery) it uses the Keycloak layout beside it', async () => {
    const { url, seen } = await issuer();
    const p = provider(url, { issuerUrl: undefined, tokenUrl: `${url}/realms/r/protocol/openid-connect/token` } as Partial<OidcProviderOptions>);
    expect(await p.verify(LIVE)).toEqual({ state: 'alive' });
    expect(seen.map((s) => s.path)).toEqual(['/realms/r/protocol/openid-connect/userinfo']);
  });

  it('an unreachable issuer, or plain http without consent, is unknown', async () => {
    const { url } = await issuer();
    await close!();
    close = undefined;
    expect(await provider(url).verify(LIVE)).toMatchObject({ state: 'unknown' });
    const { url: url2 } = await issuer();
    expect(await provider(url2, { tokenUrl: `${url2}/realms/r/protocol/openid-connect/token`, allowInsecureHttp: false }).verify(LIVE)).toMatchObject({
      state: 'unknown',
      said: expect.stringContaining('plain http'),
    });
  });
});
