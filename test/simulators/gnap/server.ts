/**
 * A local Open Payments authorization server, as far as token management goes, with
 * Rafiki's semantics (../../../../shared/research/providers.md §4.2–4.3; Rafiki
 * packages/auth/src/signature/middleware.ts, accessToken/{routes,service}.ts):
 *
 * - `POST /token/:id` rotates: the old token is revoked at once, a new value and a new
 *   management id (so a new manage URL) are issued with expires_in = accessTokenExpirySeconds.
 *   Expired-but-unrevoked tokens can still be rotated (the lookup filters only on revokedAt).
 * - `DELETE /token/:id` revokes → 204; a second revoke → 401 invalid_client.
 * - Both verify the client's Ed25519 HTTP message signature with
 *   @interledger/http-signature-utils, against the JWK registered for the grant's client.
 *   Like Rafiki, the `Authorization: GNAP …` value is not compared with the token.
 * - `GET /resource` is a protected resource: 200 for `Authorization: GNAP <live value>`,
 *   401 otherwise. (No signature needed: consumers in tests only prove the token works.)
 * - `GET /incoming-payments` and `GET /outgoing-payments` (`?wallet-address=…`) are the resource
 *   server's list routes, checked in Rafiki's order (backend open_payments/auth/middleware.ts):
 *   the token is introspected first (revoked or expired → 403 "Inactive Token"; active but its
 *   grant may not list there → 403 "Insufficient Grant"), then the signature (→ 401), then an
 *   empty page. The operator's liveness check reads them.
 * - `GET /<wallet>` and `GET /<wallet>/jwks.json` serve registered client wallets.
 * - `/_sim/*` is an admin API for people running it by hand (see main.ts); `POST /_sim/revoke`
 *   (`{"walletAddressUrl"}`, `{"grantId"}` or empty: every token) revokes tokens out of band,
 *   as the resource owner ending a grant would.
 *
 * Failure injection applies to `/token/*` only; see GnapFault.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  getKeyId,
  validateSignature,
  validateSignatureHeaders,
  type JWK,
  type RequestLike,
} from '@interledger/http-signature-utils';
import type { AccessItem } from '@interledger/open-payments';
import { z } from 'zod';
import { systemClock, type Clock } from '../../../src/schedule/clock.js';
import { type SimAddress, simUrl } from '../address.js';

export interface GnapSimulatorOptions extends SimAddress {
  /** 0 (default) picks a free port */
  port?: number;
  clock?: Clock;
  /** Rafiki's ACCESS_TOKEN_EXPIRY_SECONDS; default 600 */
  accessTokenExpirySeconds?: number;
  /** added before every non-admin response (ms); default 0 */
  latencyMs?: number;
}

export const GnapFaultSchema = z.object({
  /**
   * request_denied: 500 {"error":{"code":"request_denied"}}
   * timeout:        no reply; the connection is dropped after delayMs
   * malformed:      200 with a body that is not JSON
   * wrong_shape:    200 with JSON that lacks manage/access
   * rate_limited:   429 with Retry-After: retryAfterSeconds
   */
  kind: z.enum(['request_denied', 'timeout', 'malformed', 'wrong_shape', 'rate_limited']),
  /** how many of the next /token requests get this fault; default 1 */
  count: z.number().int().positive().default(1),
  /** rate_limited: Retry-After seconds; default 7 */
  retryAfterSeconds: z.number().int().nonnegative().default(7),
  /** timeout: how long to hold the request before dropping it; default 30 s */
  delayMs: z.number().int().nonnegative().default(30_000),
  /**
   * true: perform the real rotation/revocation first, then answer with the fault, the way
   * a reply lost after the server committed looks to the client
   */
  commit: z.boolean().default(false),
});
export type GnapFault = z.output<typeof GnapFaultSchema>;
export type GnapFaultInput = z.input<typeof GnapFaultSchema>;

export interface SimGrant {
  id: string;
  /** the client's wallet address URL; its registered JWKs verify signatures */
  client: string;
  access: AccessItem[];
}

export interface SimToken {
  value: string;
  managementId: string;
  grantId: string;
  createdAtMs: number;
  expiresInSeconds: number;
  revokedAtMs?: number;
}

export interface SimRequest {
  method: string;
  path: string;
  status: number | 'dropped';
  fault?: GnapFault['kind'];
  /** arrival (after latencyMs), ms since the epoch by the simulator's clock */
  at: number;
}

export interface GnapSimState {
  /** wallet address URL → its JWKs */
  clients: Map<string, JWK[]>;
  grants: Map<string, SimGrant>;
  /** management id → token (revoked tokens are kept, with revokedAtMs) */
  tokens: Map<string, SimToken>;
  /** every request, in order */
  requests: SimRequest[];
}

export interface GnapFaults {
  inject(fault: GnapFaultInput): void;
  clear(): void;
  /** faults still to fire, oldest first */
  pending(): GnapFault[];
}

export interface IssuedToken {
  value: string;
  manageUrl: string;
  expiresIn: number;
}

export interface GnapSimulator {
  url: string;
  state: GnapSimState;
  faults: GnapFaults;
  close(): Promise<void>;
  /** issues a token on a new grant of `walletAddressUrl` (default: the last registered client) */
  issueToken(access?: AccessItem[], opts?: { walletAddressUrl?: string }): IssuedToken;
  /** adds (or replaces, by kid) a public key of a client wallet */
  registerClientKey(walletAddressUrl: string, jwk: JWK): void;
  /** `${url}/${name}`: a wallet address served by this simulator */
  walletAddressUrl(name: string): string;
  manageUrlOf(managementId: string): string;
  /** unrevoked and unexpired, by the simulator's clock */
  isLive(token: SimToken): boolean;
  /** revokes every unrevoked token (of one client wallet or grant, if given) out of band; returns how many */
  revokeTokens(filter?: { walletAddressUrl?: string; grantId?: string }): number;
}

interface Reply {
  status: number;
  headers?: Record<string, string>;
  /** an object is sent as JSON; a string as is */
  body?: unknown;
}

const gnapError = (status: number, code: string, description: string): Reply => ({
  status,
  body: { error: { code, description } },
});

/** Rafiki's generateToken(): 10 random bytes, upper-case hex. Shorter than sanitize()'s 24. */
const newTokenValue = () => randomBytes(10).toString('hex').toUpperCase();

export async function startGnapSimulator(opts: GnapSimulatorOptions = {}): Promise<GnapSimulator> {
  const clock = opts.clock ?? systemClock;
  const expirySeconds = opts.accessTokenExpirySeconds ?? 600;
  const state: GnapSimState = { clients: new Map(), grants: new Map(), tokens: new Map(), requests: [] };
  const pendingFaults: GnapFault[] = [];
  const hangs = new Set<NodeJS.Timeout>();
  let lastClient: string | undefined;
  let url = '';

  const faults: GnapFaults = {
    inject: (f) => void pendingFaults.push(GnapFaultSchema.parse(f)),
    clear: () => void pendingFaults.splice(0),
    pending: () => pendingFaults.map((f) => ({ ...f })),
  };

  function takeFault(): GnapFault | undefined {
    const head = pendingFaults[0];
    if (!head) return undefined;
    const fired = { ...head };
    if (--head.count <= 0) pendingFaults.shift();
    return fired;
  }

  const isLive = (t: SimToken) =>
    t.revokedAtMs === undefined && t.createdAtMs + t.expiresInSeconds * 1000 >= clock.now().getTime();

  const manageUrlOf = (managementId: string) => `${url}/token/${managementId}`;

  function createToken(grantId: string): SimToken {
    const token: SimToken = {
      value: newTokenValue(),
      managementId: randomUUID(),
      grantId,
      createdAtMs: clock.now().getTime(),
      expiresInSeconds: expirySeconds,
    };
    state.tokens.set(token.managementId, token);
    return token;
  }

  function registerClientKey(walletAddressUrl: string, jwk: JWK): void {
    const keys = (state.clients.get(walletAddressUrl) ?? []).filter((k) => k.kid !== jwk.kid);
    state.clients.set(walletAddressUrl, [...keys, jwk]);
    lastClient = walletAddressUrl;
  }

  function issueToken(access?: AccessItem[], o: { walletAddressUrl?: string } = {}): IssuedToken {
    const client = o.walletAddressUrl ?? lastClient;
    if (!client || !state.clients.has(client)) {
      throw new Error('issueToken: register a client key for the wallet address first');
    }
    const grant: SimGrant = {
      id: randomUUID(),
      client,
      access: access ?? [{ type: 'outgoing-payment', actions: ['create', 'read'], identifier: client }],
    };
    state.grants.set(grant.id, grant);
    const token = createToken(grant.id);
    return { value: token.value, manageUrl: manageUrlOf(token.managementId), expiresIn: token.expiresInSeconds };
  }

  /** Rafiki tokenHttpsigMiddleware, step by step. */
  async function authenticateManagement(
    req: IncomingMessage,
    managementId: string,
  ): Promise<{ token: SimToken; grant: SimGrant } | Reply> {
    const requestLike: RequestLike = {
      method: req.method ?? 'GET',
      // Rafiki signs against ctx.href: the URL as this server was addressed
      url: `http://${req.headers.host ?? '127.0.0.1'}${req.url ?? '/'}`,
      headers: flatHeaders(req),
    };
    if (!validateSignatureHeaders(requestLike)) return gnapError(401, 'invalid_client', 'invalid signature headers');
    const token = state.tokens.get(managementId);
    if (!token || token.revokedAtMs !== undefined) return gnapError(401, 'invalid_client', 'invalid access token');
    const grant = state.grants.get(token.grantId);
    if (!grant) return gnapError(500, 'request_denied', 'internal server error');
    const keyId = getKeyId(String(requestLike.headers['signature-input']));
    if (!keyId) return gnapError(401, 'invalid_client', 'invalid signature input');
    const jwk = state.clients.get(grant.client)?.find((k) => k.kid === keyId);
    if (!jwk) return gnapError(400, 'invalid_client', 'could not determine client');
    let ok = false;
    try {
      ok = await validateSignature(jwk, requestLike);
    } catch {
      ok = false;
    }
    if (!ok) return gnapError(401, 'invalid_client', 'invalid signature');
    return { token, grant };
  }

  async function manageToken(req: IncomingMessage, managementId: string): Promise<Reply> {
    const auth = await authenticateManagement(req, managementId);
    if ('status' in auth) return auth;
    const { token, grant } = auth;
    if (req.method === 'DELETE') {
      // Rafiki's revoke route answers 204 even if a concurrent request revoked it first
      token.revokedAtMs ??= clock.now().getTime();
      return { status: 204 };
    }
    // a concurrent rotate/revoke got there after our lookup: Rafiki's rotate finds no
    // unrevoked token inside its transaction and maps that (like any failure) to 404
    if (token.revokedAtMs !== undefined) return gnapError(404, 'invalid_rotation', 'invalid access token');
    // rotate: one step, like Rafiki's transaction: revoke the old, create the new
    token.revokedAtMs = clock.now().getTime();
    const next = createToken(grant.id);
    return {
      status: 200,
      body: {
        access_token: {
          value: next.value,
          manage: manageUrlOf(next.managementId),
          expires_in: next.expiresInSeconds,
          access: grant.access,
        },
      },
    };
  }

  function faultReply(fault: GnapFault): Reply | 'hang' {
    switch (fault.kind) {
      case 'request_denied':
        return gnapError(500, 'request_denied', 'request denied (injected)');
      case 'rate_limited':
        return {
          status: 429,
          headers: { 'retry-after': String(fault.retryAfterSeconds) },
          body: { error: { code: 'too_many_requests', description: 'slow down (injected)' } },
        };
      case 'malformed':
        return { status: 200, headers: { 'content-type': 'application/json' }, body: '{"access_token": {"value": <html>' };
      case 'wrong_shape':
        return { status: 200, body: { access_token: { value: newTokenValue() } } };
      case 'timeout':
        return 'hang';
    }
  }

  function serveWallet(pathname: string): Reply | undefined {
    const jwks = pathname.endsWith('/jwks.json');
    const walletPath = jwks ? pathname.slice(0, -'/jwks.json'.length) : pathname;
    for (const [wallet, keys] of state.clients) {
      if (new URL(wallet).pathname !== walletPath) continue;
      if (jwks) return { status: 200, body: { keys } };
      return {
        status: 200,
        body: {
          id: wallet,
          publicName: walletPath.slice(1),
          assetCode: 'USD',
          assetScale: 2,
          authServer: url,
          resourceServer: url,
        },
      };
    }
    return undefined;
  }

  function revokeTokens(filter: { walletAddressUrl?: string; grantId?: string } = {}): number {
    let n = 0;
    for (const t of state.tokens.values()) {
      if (t.revokedAtMs !== undefined) continue;
      if (filter.grantId !== undefined && t.grantId !== filter.grantId) continue;
      if (filter.walletAddressUrl !== undefined && state.grants.get(t.grantId)?.client !== filter.walletAddressUrl) continue;
      t.revokedAtMs = clock.now().getTime();
      n += 1;
    }
    return n;
  }

  /** The resource server's list routes, in Rafiki's order: introspection, access, signature. */
  async function serveList(req: IncomingMessage, pathname: string, query: URLSearchParams): Promise<Reply> {
    const rsError = (status: number, description: string, headers: Record<string, string> = {}): Reply => ({
      status,
      headers,
      body: { error: { code: String(status), description } },
    });
    const header = req.headers.authorization ?? '';
    const parts = header.split(' ');
    if (parts.length !== 2 || parts[0] !== 'GNAP') return rsError(401, 'Missing or invalid authorization header value');
    const wallet = query.get('wallet-address');
    if (!wallet) return rsError(400, 'wallet-address is required');
    const challenge = { 'www-authenticate': `GNAP as_uri=${url}` };
    const token = [...state.tokens.values()].find((t) => t.value === parts[1]);
    const grant = token && isLive(token) ? state.grants.get(token.grantId) : undefined;
    if (!token || !grant) return rsError(403, 'Inactive Token', challenge);
    const type = pathname === '/incoming-payments' ? 'incoming-payment' : 'outgoing-payment';
    const allowed = grant.access.some(
      (a) => a.type === type && (a.actions as string[]).some((x) => x === 'list' || x === 'list-all') && (!('identifier' in a) || !a.identifier || a.identifier === wallet),
    );
    if (!allowed) return rsError(403, 'Insufficient Grant', challenge);
    const requestLike: RequestLike = { method: 'GET', url: `http://${req.headers.host ?? '127.0.0.1'}${req.url ?? '/'}`, headers: flatHeaders(req) };
    const keyId = validateSignatureHeaders(requestLike) ? getKeyId(String(requestLike.headers['signature-input'])) : undefined;
    const jwk = keyId ? state.clients.get(grant.client)?.find((k) => k.kid === keyId) : undefined;
    let ok = false;
    try {
      ok = jwk !== undefined && (await validateSignature(jwk, requestLike));
    } catch {
      ok = false;
    }
    if (!ok) return rsError(401, 'Signature validation error', challenge);
    return { status: 200, body: { pagination: { hasPreviousPage: false, hasNextPage: false }, result: [] } };
  }

  function serveResource(req: IncomingMessage): Reply {
    const header = req.headers.authorization ?? '';
    const value = header.startsWith('GNAP ') ? header.slice(5) : undefined;
    const token = value ? [...state.tokens.values()].find((t) => t.value === value) : undefined;
    if (!token || !isLive(token)) {
      return {
        status: 401,
        headers: { 'www-authenticate': `GNAP as_uri=${url}` },
        body: { error: { code: 'invalid_token', description: 'token is not active' } },
      };
    }
    const grant = state.grants.get(token.grantId);
    return { status: 200, body: { active: true, grant: token.grantId, client: grant?.client, access: grant?.access } };
  }

  function snapshot() {
    return {
      clients: Object.fromEntries(state.clients),
      grants: [...state.grants.values()],
      tokens: [...state.tokens.values()].map((t) => ({
        managementId: t.managementId,
        manageUrl: manageUrlOf(t.managementId),
        value: t.value,
        grantId: t.grantId,
        createdAt: new Date(t.createdAtMs).toISOString(),
        expiresAt: new Date(t.createdAtMs + t.expiresInSeconds * 1000).toISOString(),
        ...(t.revokedAtMs !== undefined ? { revokedAt: new Date(t.revokedAtMs).toISOString() } : {}),
        live: isLive(t),
      })),
      faults: faults.pending(),
      requests: state.requests.slice(-100),
    };
  }

  const IssueBody = z.object({
    walletAddressUrl: z.string().optional(),
    access: z.array(z.record(z.string(), z.unknown())).optional(),
  });
  const RevokeBody = z.object({ walletAddressUrl: z.string().optional(), grantId: z.string().optional() });
  const KeyBody = z.object({
    walletAddressUrl: z.url(),
    jwk: z.object({ kid: z.string(), x: z.string() }).loose(),
  });

  function admin(method: string, pathname: string, body: string): Reply {
    const json = (): unknown => (body ? JSON.parse(body) : {});
    try {
      if (method === 'GET' && pathname === '/_sim/state') return { status: 200, body: snapshot() };
      if (method === 'POST' && pathname === '/_sim/faults') {
        faults.inject(GnapFaultSchema.parse(json()));
        return { status: 200, body: { faults: faults.pending() } };
      }
      if (method === 'DELETE' && pathname === '/_sim/faults') {
        faults.clear();
        return { status: 204 };
      }
      if (method === 'POST' && pathname === '/_sim/tokens') {
        const b = IssueBody.parse(json());
        const issued = issueToken(
          b.access as AccessItem[] | undefined,
          b.walletAddressUrl !== undefined ? { walletAddressUrl: b.walletAddressUrl } : {},
        );
        return { status: 201, body: issued };
      }
      if (method === 'POST' && pathname === '/_sim/revoke') {
        const b = RevokeBody.parse(json());
        return {
          status: 200,
          body: { revoked: revokeTokens({ ...(b.walletAddressUrl !== undefined ? { walletAddressUrl: b.walletAddressUrl } : {}), ...(b.grantId !== undefined ? { grantId: b.grantId } : {}) }) },
        };
      }
      if (method === 'POST' && pathname === '/_sim/keys') {
        const b = KeyBody.parse(json());
        registerClientKey(b.walletAddressUrl, { alg: 'EdDSA', kty: 'OKP', crv: 'Ed25519', ...b.jwk } as JWK);
        return { status: 204 };
      }
    } catch (e) {
      return { status: 400, body: { error: { code: 'invalid_request', description: (e as Error).message } } };
    }
    return { status: 404, body: { error: { code: 'not_found', description: 'no such admin route' } } };
  }

  async function route(req: IncomingMessage, body: string): Promise<{ reply: Reply | 'hang'; fault?: GnapFault }> {
    const method = req.method ?? 'GET';
    const { pathname, searchParams } = new URL(req.url ?? '/', 'http://sim');
    if (pathname.startsWith('/_sim/')) return { reply: admin(method, pathname, body) };
    if (pathname === '/resource' && method === 'GET') return { reply: serveResource(req) };
    if ((pathname === '/incoming-payments' || pathname === '/outgoing-payments') && method === 'GET') return { reply: await serveList(req, pathname, searchParams) };
    const tokenRoute = /^\/token\/([^/]+)$/.exec(pathname);
    if (tokenRoute && (method === 'POST' || method === 'DELETE')) {
      const fault = takeFault();
      if (fault && !fault.commit) return { reply: faultReply(fault), fault };
      const real = await manageToken(req, decodeURIComponent(tokenRoute[1] ?? ''));
      return fault ? { reply: faultReply(fault), fault } : { reply: real };
    }
    if (method === 'GET') {
      const wallet = serveWallet(pathname);
      if (wallet) return { reply: wallet };
    }
    return { reply: { status: 404, body: { error: { code: 'not_found', description: 'not found' } } } };
  }

  const server = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      const { pathname } = new URL(req.url ?? '/', 'http://sim');
      if (opts.latencyMs && !pathname.startsWith('/_sim/')) await new Promise((resolve) => setTimeout(resolve, opts.latencyMs));
      const log: SimRequest = { method: req.method ?? 'GET', path: pathname, status: 0, at: clock.now().getTime() };
      let outcome: Awaited<ReturnType<typeof route>>;
      try {
        outcome = await route(req, body);
      } catch {
        outcome = { reply: gnapError(500, 'request_denied', 'internal server error') };
      }
      if (outcome.fault) log.fault = outcome.fault.kind;
      if (!pathname.startsWith('/_sim/')) state.requests.push(log);
      if (outcome.reply === 'hang') {
        log.status = 'dropped';
        const timer = setTimeout(() => {
          hangs.delete(timer);
          req.socket.destroy();
        }, outcome.fault?.delayMs ?? 30_000);
        hangs.add(timer);
        return;
      }
      log.status = outcome.reply.status;
      write(res, outcome.reply);
    })().catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  url = simUrl(opts, (server.address() as AddressInfo).port);

  return {
    url,
    state,
    faults,
    issueToken,
    registerClientKey,
    walletAddressUrl: (name) => `${url}/${name}`,
    manageUrlOf,
    isLive,
    revokeTokens,
    close: async () => {
      for (const t of hangs) clearTimeout(t);
      hangs.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function flatHeaders(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function write(res: ServerResponse, reply: Reply): void {
  const headers: Record<string, string> = { ...reply.headers };
  let payload: string | undefined;
  if (typeof reply.body === 'string') payload = reply.body;
  else if (reply.body !== undefined) {
    payload = JSON.stringify(reply.body);
    headers['content-type'] ??= 'application/json';
  }
  res.writeHead(reply.status, headers);
  res.end(payload);
}
