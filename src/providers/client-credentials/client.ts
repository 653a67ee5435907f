import type { Clock } from '../../schedule/clock.js';
import { ProviderError, kindForStatus, parseRetryAfter, type Refusal } from '../errors.js';
import { parseBody, send, type HttpClient, type HttpResponse, type ObservedCall } from '../http.js';
import { jwtExpiry } from '../jwt.js';
import { authenticateClient, oauthErrorDetail, type ClientAuthMethod } from '../oauth2.js';
import { createDiscoveryCache } from '../oauth2-discovery.js';
import { Discovery, OAuthError, TokenResponse } from './schemas.js';

export const PROVIDER = 'client-credentials';

export type { ClientAuthMethod };

export interface ClientCredentials {
  clientId: string;
  clientSecret: string;
  method: ClientAuthMethod;
}

export interface Endpoints {
  token: string;
  revocation?: string;
  /** RFC 7662 token introspection: the liveness check */
  introspection?: string;
}

export interface IssuedToken {
  accessToken: string;
  /** `Bearer` in its usual spelling (servers send any case) */
  tokenType: string;
  /** from expires_in, else the token's JWT `exp`; undefined when the server says neither */
  expiresAt?: Date;
}

export function clientCredentialsClient(opts: { http: HttpClient; clock: Clock; observe?: (o: ObservedCall) => void }) {
  // the OAuth2 providers' bounded discovery cache (size, bytes, least recently used; one
  // in-flight discovery per issuer)
  const discovery = createDiscoveryCache({ clock: opts.clock });
  const now = () => opts.clock.now().getTime();
  const where = (call: string) => ({ provider: PROVIDER, call, ...(opts.observe ? { observe: opts.observe } : {}) });

  function discover(issuerUrl: string, allowInsecureHttp: boolean) {
    return discovery.get(issuerUrl, async () => {
      const url = `${issuerUrl.replace(/\/+$/, '')}/.well-known/openid-configuration`;
      const res = await send(opts.http, { method: 'GET', url, ...insecure(allowInsecureHttp) }, where('discover'));
      if (res.status !== 200) throw failure(res, 'discover', now());
      const doc = parseBody(res, Discovery, where('discover'));
      if (doc.issuer.replace(/\/+$/, '') !== issuerUrl.replace(/\/+$/, '')) {
        throw new ProviderError('Invalid', 'discover: the discovered issuer does not match issuerUrl', { provider: PROVIDER, call: 'discover' });
      }
      return doc;
    });
  }

  /** Only the URL about to be called is held to https: an http endpoint the call never uses blocks nothing. */
  function requireHttps(url: string, allowInsecureHttp: boolean, call: string): void {
    if (url.startsWith('http:') && !allowInsecureHttp) {
      throw new ProviderError('Invalid', `${call}: the endpoint is plain http, refused unless the resource and the operator allow insecure http`, {
        provider: PROVIDER,
        call,
        code: 'insecure_url',
      });
    }
  }

  return {
    /**
     * The token, revocation and introspection endpoints: as configured, else discovered, else
     * the token URL's siblings …/revoke and …/token/introspect (Keycloak's layout).
     */
    async endpoints(spec: { issuerUrl?: string | undefined; tokenUrl?: string | undefined; revocationUrl?: string | undefined }, allowInsecureHttp: boolean): Promise<Endpoints> {
      const found = spec.tokenUrl ? undefined : spec.issuerUrl ? await discover(spec.issuerUrl, allowInsecureHttp) : undefined;
      const token = spec.tokenUrl ?? found?.token_endpoint;
      if (!token) throw new ProviderError('Invalid', 'configure: one of issuerUrl and tokenUrl is required', { provider: PROVIDER, call: 'configure' });
      const revocation = spec.revocationUrl ?? found?.revocation_endpoint ?? (token.endsWith('/token') ? `${token.slice(0, -'/token'.length)}/revoke` : undefined);
      const introspection = found ? found.introspection_endpoint : token.endsWith('/token') ? `${token}/introspect` : undefined;
      return { token, ...(revocation ? { revocation } : {}), ...(introspection ? { introspection } : {}) };
    },

    /** One access token; lifetimes count from when we asked, so a slow answer never stretches them. */
    async token(req: ClientCredentials & { tokenUrl: string; scope?: string | undefined; audience?: string | undefined; allowInsecureHttp: boolean }): Promise<IssuedToken> {
      const form = new URLSearchParams({ grant_type: 'client_credentials' });
      if (req.scope) form.set('scope', req.scope);
      if (req.audience) form.set('audience', req.audience);
      requireHttps(req.tokenUrl, req.allowInsecureHttp, 'token');
      const headers = authenticateClient(req, form);
      const askedAt = now();
      const res = await send(opts.http, { method: 'POST', url: req.tokenUrl, headers, body: form, ...insecure(req.allowInsecureHttp) }, where('token'));
      if (res.status !== 200) throw failure(res, 'token', now());
      const t = parseBody(res, TokenResponse, where('token'));
      const expiresAt = t.expires_in !== undefined ? new Date(askedAt + t.expires_in * 1000) : jwtExpiry(t.access_token);
      return { accessToken: t.access_token, tokenType: t.token_type.toLowerCase() === 'bearer' ? 'Bearer' : t.token_type, ...(expiresAt ? { expiresAt } : {}) };
    },

    /** RFC 7009: revoked, or already unknown (a 200 either way). */
    async revoke(req: ClientCredentials & { revocationUrl: string; token: string; allowInsecureHttp: boolean }): Promise<void> {
      const form = new URLSearchParams({ token: req.token, token_type_hint: 'access_token' });
      requireHttps(req.revocationUrl, req.allowInsecureHttp, 'revoke');
      const headers = authenticateClient(req, form);
      const res = await send(opts.http, { method: 'POST', url: req.revocationUrl, headers, body: form, ...insecure(req.allowInsecureHttp) }, where('revoke'));
      if (res.status !== 200) throw failure(res, 'revoke', now());
    },
  };
}

export type ClientCredentialsClient = ReturnType<typeof clientCredentialsClient>;

/** The resource's consent to plain http, for the egress policy (http.ts). */
const insecure = (allowed: boolean) => (allowed ? { allowInsecureHttp: true } : {});

/**
 * Which refusals only a person can fix (RFC 6749 §5.2), in the vendor's words. Keycloak answers
 * a wrong secret with 401 unauthorized_client, and an unknown client with 401 invalid_client.
 */
function refusalOf(status: number, code: string | undefined): { refusal: Refusal; says: string } | undefined {
  if (code === 'invalid_client' || (status === 401 && (code === undefined || code === 'unauthorized_client'))) {
    return { refusal: { reason: 'InvalidClient', config: ['clientId'], inputs: ['clientSecret'] }, says: 'the server does not know this client or refused its secret' };
  }
  if (code === 'unauthorized_client') {
    return { refusal: { reason: 'UnauthorizedClient', config: ['clientId'] }, says: 'this client may not use the client credentials grant (in Keycloak: enable its service account)' };
  }
  if (code === 'invalid_scope') return { refusal: { reason: 'InvalidScope', config: ['scope'] }, says: 'the server refused the requested scope' };
  return undefined;
}

function failure(res: HttpResponse, call: string, nowMs: number): ProviderError {
  let body: { error: string; error_description?: string | undefined } | undefined;
  try {
    const parsed = OAuthError.safeParse(JSON.parse(res.text));
    body = parsed.success ? parsed.data : undefined;
  } catch {
    body = undefined;
  }
  const code = body?.error;
  const base = `${call}: HTTP ${res.status}${oauthErrorDetail(code, body?.error_description)}`;
  const where = { provider: PROVIDER, call, status: res.status, ...(code ? { code } : {}) };
  if (res.status === 429) {
    const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'), nowMs);
    return new ProviderError('RateLimited', base, { ...where, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) });
  }
  const refused = res.status < 500 ? refusalOf(res.status, code) : undefined;
  if (refused) return new ProviderError(refused.refusal.reason === 'InvalidScope' ? 'Invalid' : 'Unauthorized', `${base}: ${refused.says}`, { ...where, refusal: refused.refusal });
  return new ProviderError(kindForStatus(res.status), base, where);
}
