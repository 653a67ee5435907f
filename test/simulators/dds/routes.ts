import type { IncomingHttpHeaders } from 'node:http';
import { z } from 'zod';
import type { SimRoute } from './faults.js';
import type { DdsSimState, SimDdsToken } from './state.js';

/**
 * The vendor-facing endpoints: zDirect `/auth/token`, DDS `/dds-tokens`, the Databricks
 * activation page and API, and Delta Sharing `/shares`. Each handler turns a request into
 * a Reply; server.ts does the HTTP, faults and logging.
 */

export interface SimRequest {
  method: string;
  url: URL;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface Reply {
  status: number;
  headers?: Record<string, string>;
  body?: string;
  /** the zDirect client behind the request, for the log */
  clientId?: string;
}

const ACTIVATION_API = /^\/api\/2\.[01]\/unity-catalog\/public\/data_sharing_activation\/(.+)$/;

export function routeOf(method: string, path: string): SimRoute | undefined {
  if (path === '/auth/token' && method === 'POST') return 'auth';
  if (path === '/dds-tokens') {
    if (method === 'GET') return 'dds-tokens.get';
    if (method === 'POST') return 'dds-tokens.post';
    if (method === 'PATCH') return 'dds-tokens.patch';
  }
  if (method !== 'GET') return undefined;
  if (path === '/delta_sharing/retrieve_config.html') return 'activation-page';
  if (ACTIVATION_API.test(path)) return 'activation';
  if (path === '/delta-sharing/shares') return 'shares';
  return undefined;
}

export function handle(route: SimRoute, req: SimRequest, state: DdsSimState): Reply {
  switch (route) {
    case 'auth':
      return issueAccessToken(req, state);
    case 'dds-tokens.get':
    case 'dds-tokens.post':
    case 'dds-tokens.patch':
      return ddsTokens(route, req, state);
    case 'activation':
      return downloadProfile(req, state);
    case 'activation-page':
      return activationPage(req);
    case 'shares':
      return listShares(req, state);
  }
}

export function json(status: number, value: unknown, headers: Record<string, string> = {}): Reply {
  return { status, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(value) };
}

/** zDirect's error format (RFC 9457) */
export function problem(status: number, title: string, detail: string, headers: Record<string, string> = {}): Reply {
  return {
    status,
    headers: { 'content-type': 'application/problem+json', ...headers },
    body: JSON.stringify({ type: 'about:blank', title, status, detail }),
  };
}

// ---- zDirect /auth/token ---------------------------------------------------------------

function issueAccessToken(req: SimRequest, state: DdsSimState): Reply {
  const oauthError = (status: number, error: string, description: string, clientId?: string): Reply => ({
    ...json(status, { error, error_description: description }),
    ...(clientId ? { clientId } : {}),
  });
  if (!String(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) {
    return oauthError(400, 'invalid_request', 'expected a form-encoded body');
  }
  const form = new URLSearchParams(req.body);
  const basic = parseBasic(req.headers.authorization);
  const clientId = basic?.clientId ?? form.get('client_id') ?? undefined;
  const secret = basic?.clientSecret ?? form.get('client_secret') ?? undefined;
  if (!clientId) return oauthError(401, 'invalid_client', 'client authentication failed');

  const retryAfter = state.tokenRateLimited(clientId);
  if (retryAfter !== undefined) {
    return {
      ...problem(429, 'Too Many Requests', 'token endpoint rate limit exceeded', { 'retry-after': String(retryAfter) }),
      clientId,
    };
  }
  if (form.get('grant_type') !== 'client_credentials') {
    return oauthError(400, 'unsupported_grant_type', 'only client_credentials is supported', clientId);
  }
  if (state.clients.get(clientId) !== secret) return oauthError(401, 'invalid_client', 'client authentication failed', clientId);

  const { accessToken, expiresIn } = state.issueAccessToken(clientId);
  return {
    ...json(200, {
      access_token: accessToken,
      token_type: 'Bearer',
      ...(expiresIn === null ? {} : { expires_in: expiresIn }),
      scope: 'dds',
    }),
    clientId,
  };
}

function parseBasic(header: string | undefined): { clientId: string; clientSecret: string } | undefined {
  const match = /^Basic\s+(.+)$/i.exec(header ?? '');
  if (!match?.[1]) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { clientId: decoded.slice(0, colon), clientSecret: decoded.slice(colon + 1) };
}

// ---- DDS /dds-tokens ------------------------------------------------------------------

const TtlBody = z.object({ existing_token_expiry_time_in_seconds: z.number().int() });

function ddsTokens(route: SimRoute, req: SimRequest, state: DdsSimState): Reply {
  const bearer = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1];
  const clientId = bearer === undefined ? undefined : state.clientFor(bearer);
  if (!clientId) {
    return problem(401, 'Unauthorized', 'missing, invalid or expired access token', { 'www-authenticate': 'Bearer' });
  }
  const withClient = (r: Reply): Reply => ({ ...r, clientId });
  if (route === 'dds-tokens.get') return withClient(tokenList(state.live(clientId), state));

  let ttl: number;
  try {
    const parsed = TtlBody.safeParse(JSON.parse(req.body));
    if (!parsed.success) throw new Error('shape');
    ttl = parsed.data.existing_token_expiry_time_in_seconds;
  } catch {
    return withClient(problem(400, 'Bad Request', 'existing_token_expiry_time_in_seconds (integer) is required'));
  }
  if (ttl < 0) return withClient(problem(400, 'Bad Request', 'existing_token_expiry_time_in_seconds must not be negative'));

  if (route === 'dds-tokens.patch') return withClient(tokenList(state.expireAll(clientId, ttl), state));
  const outcome = state.rotate(clientId, ttl);
  if (!outcome.ok) {
    const status = state.settings.ceilingStatus;
    return withClient(
      problem(
        status,
        status === 409 ? 'Conflict' : 'Bad Request',
        'Maximum of two tokens per recipient reached: wait until the rotated token expires or revoke all tokens.',
      ),
    );
  }
  return withClient(tokenList(outcome.tokens, state));
}

function tokenList(tokens: SimDdsToken[], state: DdsSimState): Reply {
  const time = (ms: number) => (state.settings.timestampFormat === 'iso' ? new Date(ms).toISOString() : ms);
  const items = tokens.map((k) => ({
    id: k.id,
    status: k.status,
    activation_link: state.activationLink(k),
    created_at: time(k.createdAt),
    expiration_time: time(k.expiresAt),
    created_by: 'dds-simulator', // a field the client does not know, as real APIs add them
  }));
  return json(200, state.settings.listEnvelope === 'items' ? { items } : items);
}

// ---- Databricks activation ---------------------------------------------------------------

/** The page a person opens; it never consumes the link (a browser may load it many times). */
function activationPage(req: SimRequest): Reply {
  const token = req.url.search.replace(/^\?/, '');
  const api = `/api/2.1/unity-catalog/public/data_sharing_activation/${token}`;
  return {
    status: 200,
    headers: { 'content-type': 'text/html; charset=utf-8' },
    body: `<!doctype html><html><head><title>Delta Sharing</title></head><body><h1>Delta Sharing activation</h1><p><a href="${api}">Download credential file</a> (can be downloaded only once)</p></body></html>`,
  };
}

function downloadProfile(req: SimRequest, state: DdsSimState): Reply {
  let param = decodeURIComponent(ACTIVATION_API.exec(req.url.pathname)?.[1] ?? '');
  // The route also takes the whole activation URL, URL-encoded.
  if (param.includes('?')) param = param.slice(param.indexOf('?') + 1);
  const outcome = state.download(param);
  if (!outcome.ok) {
    if (outcome.reason === 'consumed') {
      return json(state.settings.consumedStatus, {
        error_code: 'INVALID_PARAMETER_VALUE',
        message: 'The activation link has already been used.',
      });
    }
    return json(404, { error_code: 'RESOURCE_DOES_NOT_EXIST', message: 'Activation link not found or expired.' });
  }
  const { token } = outcome;
  const endpoint = `${state.baseUrl}/delta-sharing/`;
  const expirationTime = state.settings.expirationTimeFormat === 'iso' ? new Date(token.expiresAt).toISOString() : token.expiresAt;
  switch (state.settings.profileForm) {
    case 'v1':
      return json(200, { shareCredentialsVersion: 1, endpoint, bearerToken: token.bearerToken, expirationTime });
    case 'v2-bearer':
      return json(200, { shareCredentialsVersion: 2, type: 'bearer_token', endpoint, bearerToken: token.bearerToken, expirationTime, sharingPlatform: 'dds-simulator' });
    case 'v2-oauth':
      return json(200, {
        shareCredentialsVersion: 2,
        type: 'oauth_client_credentials',
        endpoint,
        tokenEndpoint: `${state.baseUrl}/oauth/token`,
        clientId: `recipient-${token.id}`,
        clientSecret: token.bearerToken,
        scope: 'sharing',
      });
  }
}

// ---- Delta Sharing -----------------------------------------------------------------------

const SHARES = [
  { name: 'zalando_partner_sales', id: '5a1c2b62-1f1e-4c5e-9d52-1a8e2f1f0a01' },
  { name: 'zalando_partner_returns', id: '5a1c2b62-1f1e-4c5e-9d52-1a8e2f1f0a02' },
];

function listShares(req: SimRequest, state: DdsSimState): Reply {
  const bearer = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1];
  const token = bearer === undefined ? undefined : state.liveBearer(bearer);
  if (!token) return json(401, { errorCode: 'UNAUTHENTICATED', message: 'The bearer token is missing or invalid.' });
  const max = Number(req.url.searchParams.get('maxResults') ?? '500');
  const start = Number(req.url.searchParams.get('pageToken') ?? '0');
  if (!Number.isInteger(max) || max < 1 || !Number.isInteger(start) || start < 0) {
    return json(400, { errorCode: 'INVALID_PARAMETER_VALUE', message: 'bad maxResults or pageToken' });
  }
  const items = SHARES.slice(start, start + max);
  const next = start + max < SHARES.length ? { nextPageToken: String(start + max) } : {};
  return json(200, { items, ...next });
}
