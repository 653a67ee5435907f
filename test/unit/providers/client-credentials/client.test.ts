import { describe, expect, it } from 'vitest';
import { clientCredentialsProvider } from '../../../../src/providers/client-credentials/credential-provider.js';
import type { ClientCredentialsSpec } from '../../../../src/api/index.js';
import type { IssueCall, RevokeCall } from '../../../../src/providers/credential-provider.js';
import type { HttpClient, HttpRequest } from '../../../../src/providers/http.js';
import { ManualClock } from '../../../../src/schedule/clock.js';

/**
 * The client credentials provider against a scripted token endpoint: what each request carries
 * (client authentication, scope, audience), what the Secret gets, and how refusals read.
 */
const NOW = '2026-06-01T00:00:00.000Z';
const SECRET = 's3cr3t value/with+odd:chars';

function server(answer: (req: HttpRequest) => { status: number; body?: unknown; headers?: Record<string, string> }) {
  const seen: HttpRequest[] = [];
  const http: HttpClient = async (req) => {
    seen.push(req);
    const a = answer(req);
    return { status: a.status, headers: new Headers(a.headers ?? { 'content-type': 'application/json' }), text: a.body === undefined ? '' : JSON.stringify(a.body) };
  };
  return { http, seen };
}

function provider(http: HttpClient) {
  const clock = new ManualClock(NOW);
  return { cc: clientCredentialsProvider({ http, clock, allowInsecureHttp: false }), clock };
}

const spec = (o: Partial<ClientCredentialsSpec> = {}): ClientCredentialsSpec => ({
  tokenUrl: 'https://idp.example/realms/r/protocol/openid-connect/token',
  clientId: 'billing-agent',
  clientSecretRef: { name: 'billing-agent', key: 'client_secret' },
  ...o,
});

function call(s: ClientCredentialsSpec): IssueCall<ClientCredentialsSpec, undefined> {
  return { spec: s, inputs: { clientSecret: SECRET }, now: new Date(NOW), allowInsecureHttp: false, step: () => undefined, save: async () => undefined, params: undefined };
}

const form = (req: HttpRequest) => new URLSearchParams(String(req.body));

describe('client credentials: the token request', () => {
  it('client_secret_basic (the default): HTTP Basic of the form-encoded id and secret, nothing secret in the form', async () => {
    const { http, seen } = server(() => ({ status: 200, body: { access_token: 'at-1', token_type: 'bearer', expires_in: 300 } }));
    const { cc } = provider(http);
    const issued = await cc.issue(call(spec({ scope: 'billing reports', audience: 'billing-api' })));
    const req = seen[0]!;
    expect(req.method).toBe('POST');
    expect(req.url).toBe(spec().tokenUrl);
    const basic = Buffer.from(req.headers!.authorization!.replace(/^Basic /, ''), 'base64').toString();
    expect(basic).toBe(`billing-agent:${new URLSearchParams({ v: SECRET }).toString().slice(2)}`);
    expect(Object.fromEntries(form(req))).toEqual({ grant_type: 'client_credentials', scope: 'billing reports', audience: 'billing-api' });
    expect(issued.data).toEqual({ access_token: 'at-1', token_type: 'Bearer', expires_at: '2026-06-01T00:05:00.000Z' });
    expect(issued.private).toBeUndefined();
  });

  it('client_secret_post: id and secret in the form, no Authorization header', async () => {
    const { http, seen } = server(() => ({ status: 200, body: { access_token: 'at-1', token_type: 'Bearer', expires_in: 60 } }));
    const { cc } = provider(http);
    await cc.issue(call(spec({ clientAuthMethod: 'client_secret_post' })));
    expect(seen[0]!.headers?.authorization).toBeUndefined();
    expect(Object.fromEntries(form(seen[0]!))).toEqual({ grant_type: 'client_credentials', client_id: 'billing-agent', client_secret: SECRET });
  });

  it('keeps no refresh token a server sends anyway, and dates a token without expires_in by its JWT exp', async () => {
    const exp = Date.parse('2026-06-01T01:00:00Z') / 1000;
    const jwt = `h.${Buffer.from(JSON.stringify({ exp })).toString('base64url')}.s`;
    const { http } = server(() => ({ status: 200, body: { access_token: jwt, token_type: 'Bearer', refresh_token: 'should-not-be-here' } }));
    const { cc } = provider(http);
    const issued = await cc.issue(call(spec()));
    expect(JSON.stringify(issued)).not.toContain('should-not-be-here');
    expect(issued.expiresAt?.toISOString()).toBe('2026-06-01T01:00:00.000Z');
  });

  it('discovers the token endpoint from issuerUrl once per issuer, and refuses a discovered http endpoint', async () => {
    const issuer = 'https://idp.example/realms/r';
    const { http, seen } = server((req) =>
      req.method === 'GET'
        ? { status: 200, body: { issuer, token_endpoint: `${issuer}/protocol/openid-connect/token`, revocation_endpoint: `${issuer}/protocol/openid-connect/revoke` } }
        : { status: 200, body: { access_token: 'at', token_type: 'Bearer', expires_in: 60 } },
    );
    const { cc } = provider(http);
    await cc.issue(call(spec({ tokenUrl: undefined, issuerUrl: issuer })));
    await cc.issue(call(spec({ tokenUrl: undefined, issuerUrl: issuer })));
    expect(seen.map((r) => `${r.method} ${new URL(r.url).pathname}`)).toEqual([
      'GET /realms/r/.well-known/openid-configuration',
      'POST /realms/r/protocol/openid-connect/token',
      'POST /realms/r/protocol/openid-connect/token',
    ]);

    const plain = server(() => ({ status: 200, body: { issuer: 'https://idp.two/r', token_endpoint: 'http://idp.two/r/token' } }));
    await expect(provider(plain.http).cc.issue(call(spec({ tokenUrl: undefined, issuerUrl: 'https://idp.two/r' })))).rejects.toMatchObject({ kind: 'Invalid', code: 'insecure_url' });
  });
});

describe('client credentials: refusals a person must fix', () => {
  it.each([
    [401, { error: 'invalid_client', error_description: 'Invalid client credentials' }, 'InvalidClient', ['clientId'], ['clientSecret']],
    [401, { error: 'unauthorized_client', error_description: 'Invalid client or Invalid client credentials' }, 'InvalidClient', ['clientId'], ['clientSecret']],
    [400, { error: 'unauthorized_client', error_description: 'Client not enabled to retrieve service account' }, 'UnauthorizedClient', ['clientId'], undefined],
    [400, { error: 'invalid_scope', error_description: 'Invalid scopes: nope' }, 'InvalidScope', ['scope'], undefined],
  ])('%i %j → %s', async (status, body, reason, config, inputs) => {
    const { http } = server(() => ({ status, body }));
    const e = await provider(http).cc.issue(call(spec())).catch((x: unknown) => x);
    expect(e).toMatchObject({ provider: 'client-credentials', status, refusal: { reason, config, ...(inputs ? { inputs } : {}) } });
    expect(String((e as Error).message)).not.toContain(SECRET);
  });

  it('a 5xx is retried, a 429 carries Retry-After: no refusal', async () => {
    const down = await provider(server(() => ({ status: 503 })).http).cc.issue(call(spec())).catch((x: unknown) => x);
    expect(down).toMatchObject({ kind: 'Retryable' });
    expect((down as { refusal?: unknown }).refusal).toBeUndefined();
    const busy = await provider(server(() => ({ status: 429, headers: { 'retry-after': '7' } })).http).cc.issue(call(spec())).catch((x: unknown) => x);
    expect(busy).toMatchObject({ kind: 'RateLimited', retryAfterMs: 7000 });
  });
});

describe('client credentials: revoke on delete', () => {
  it('revokes the current access token at the token URL\'s sibling …/revoke, authenticated like the token request', async () => {
    const { http, seen } = server(() => ({ status: 200 }));
    const { cc } = provider(http);
    const revoke: RevokeCall<ClientCredentialsSpec, undefined> = {
      ...call(spec()),
      current: { data: { access_token: 'at-current' } },
      mayAlreadyBeRevoked: false,
      params: undefined,
    };
    await cc.revoke(revoke);
    expect(seen[0]!.url).toBe('https://idp.example/realms/r/protocol/openid-connect/revoke');
    expect(Object.fromEntries(form(seen[0]!))).toEqual({ token: 'at-current', token_type_hint: 'access_token' });
    expect(seen[0]!.headers?.authorization).toMatch(/^Basic /);
  });

  it('nothing to revoke without a token', async () => {
    const { http, seen } = server(() => ({ status: 200 }));
    await provider(http).cc.revoke({ ...call(spec()), mayAlreadyBeRevoked: false, params: undefined });
    expect(seen).toHaveLength(0);
  });
});

describe('client credentials: liveness (introspection with the client\'s own credentials)', () => {
  const live = (s: ClientCredentialsSpec, token = 'at-1') => ({
    spec: s,
    inputs: { clientSecret: SECRET },
    now: new Date(NOW),
    allowInsecureHttp: false,
    step: () => undefined,
    data: { access_token: token, token_type: 'Bearer', expires_at: NOW },
    intervalMs: 3_600_000,
    mayPresent: true,
  });

  it('asks the token URL\'s sibling …/token/introspect about the token in the Secret: active → alive, inactive → revoked; never a new token', async () => {
    let active = true;
    const { http, seen } = server(() => ({ status: 200, body: { active } }));
    const { cc } = provider(http);
    expect(await cc.checkLiveness!(live(spec()))).toEqual({ state: 'alive' });
    active = false;
    const dead = await cc.checkLiveness!(live(spec()));
    expect(dead).toMatchObject({ state: 'revoked' });
    expect(JSON.stringify(dead)).not.toContain('at-1');
    expect(seen.map((r) => `${r.method} ${r.url}`)).toEqual([`POST ${spec().tokenUrl}/introspect`, `POST ${spec().tokenUrl}/introspect`]);
    const basic = Buffer.from(seen[0]!.headers!.authorization!.replace(/^Basic /, ''), 'base64').toString();
    expect(basic.startsWith('billing-agent:')).toBe(true);
    expect(Object.fromEntries(form(seen[0]!))).toEqual({ token: 'at-1', token_type_hint: 'access_token' });
    expect(seen.some((r) => form(r).get('grant_type'))).toBe(false);
  });

  it('the discovered introspection endpoint; a refused client (a rotated secret) or an outage proves nothing', async () => {
    const issuer = 'https://idp.example/realms/r';
    let status = 200;
    const { http, seen } = server((req) =>
      req.method === 'GET'
        ? { status: 200, body: { issuer, token_endpoint: `${issuer}/t`, introspection_endpoint: `${issuer}/i` } }
        : { status, body: status === 200 ? { active: true } : { error: 'unauthorized_client' } },
    );
    const { cc } = provider(http);
    const s = spec({ tokenUrl: undefined, issuerUrl: issuer });
    expect(await cc.checkLiveness!(live(s))).toEqual({ state: 'alive' });
    expect(seen.at(-1)!.url).toBe(`${issuer}/i`);
    status = 401;
    expect(await cc.checkLiveness!(live(s))).toMatchObject({ state: 'unknown' });
    status = 503;
    expect(await cc.checkLiveness!(live(s))).toMatchObject({ state: 'unknown' });
  });
});

describe('client credentials: what a URL may and may not do', () => {
  it('a discovered plain http revocation or introspection endpoint does not block issuing; revoking there is refused', async () => {
    const issuer = 'https://idp.three/r';
    const { http, seen } = server((req) =>
      req.url.endsWith('/.well-known/openid-configuration')
        ? { status: 200, body: { issuer, token_endpoint: `${issuer}/token`, revocation_endpoint: 'http://idp.three/r/revoke', introspection_endpoint: 'http://idp.three/r/introspect' } }
        : { status: 200, body: { access_token: 'at', token_type: 'Bearer', expires_in: 60 } },
    );
    const { cc } = provider(http);
    const issued = await cc.issue(call(spec({ tokenUrl: undefined, issuerUrl: issuer })));
    expect(issued.data.access_token).toBe('at');
    const revoke: RevokeCall<ClientCredentialsSpec, undefined> = { ...call(spec({ tokenUrl: undefined, issuerUrl: issuer })), current: { data: issued.data }, mayAlreadyBeRevoked: false, params: undefined };
    await expect(cc.revoke(revoke)).rejects.toMatchObject({ kind: 'Invalid', code: 'insecure_url' });
    expect(seen.filter((r) => r.url.startsWith('http:'))).toEqual([]);
  });

  it('repeats an OAuth server\'s registered error code, never what some other service answered', async () => {
    const echo = server(() => ({ status: 400, body: { error: 'client_secret=hunter2-echoed', error_description: 'whatever the body said' } }));
    const e1 = (await provider(echo.http).cc.issue(call(spec())).then(() => new Error('issued'), (e: unknown) => e)) as Error;
    expect(e1.message).not.toContain('hunter2');
    expect(e1.message).not.toContain('whatever the body said');
    const oauth = server(() => ({ status: 400, body: { error: 'invalid_request', error_description: 'missing audience' } }));
    const e2 = (await provider(oauth.http).cc.issue(call(spec())).then(() => new Error('issued'), (e: unknown) => e)) as Error;
    expect(e2.message).toContain('(invalid_request: missing audience)');
  });
});
