import { z } from 'zod';
import { send, type HttpClient, type ObservedCall } from './http.js';
import { ALIVE, revoked, unknown, unknownFrom, type Liveness } from './liveness.js';
import { authenticateClient, oauthErrorDetail, type ClientAuthMethod } from './oauth2.js';

/**
 * Liveness of an OAuth2/OIDC access token (docs/liveness.md), for the OAuth2 providers (oidc,
 * client-credentials). A refresh is no check: it spends the refresh token (with rotation on)
 * and belongs to the schedule; a new client credentials token proves the client, not the token
 * in the Secret. Instead:
 *
 * - RFC 7662 introspection, when the client has a secret (public clients may not introspect):
 *   `active: false` = revoked. Keycloak answers false once the token's session is gone (an
 *   admin signed the user out, revoked the offline consent, or the session lapsed).
 * - Otherwise OIDC UserInfo with the access token itself: 401 = revoked (Keycloak checks the
 *   session there too); 403 (no `openid` scope) proves nothing.
 */

export interface LivenessEndpoints {
  userinfo?: string;
  introspection?: string;
}

export interface OidcLivenessCall {
  /** the provider's name, for the call metrics */
  provider: string;
  http: HttpClient;
  observe?: (o: ObservedCall) => void;
  clientId: string;
  clientSecret?: string;
  clientAuthMethod?: ClientAuthMethod;
  /** the resource's (and the operator's) consent to plain http:// endpoints */
  allowInsecureHttp?: boolean;
}

const IntrospectionBody = z.object({ active: z.boolean() });
const OAuthErrorBody = z.object({ error: z.string().optional(), error_description: z.string().optional() });

export async function accessTokenLiveness(c: OidcLivenessCall, endpoints: LivenessEndpoints, accessToken: string): Promise<Liveness> {
  try {
    if (c.clientSecret !== undefined && endpoints.introspection) return await introspect(c, endpoints.introspection, accessToken);
    if (endpoints.userinfo) return await userinfo(c, endpoints.userinfo, accessToken);
    return unknown('the issuer advertises neither a userinfo nor an introspection endpoint (introspection needs a client secret)');
  } catch (e) {
    return unknownFrom(e);
  }
}

async function introspect(c: OidcLivenessCall, url: string, accessToken: string): Promise<Liveness> {
  const call = 'introspect';
  if (!allowed(url, c)) return unknown(`${call}: plain http endpoint refused (allowInsecureHttp is off)`);
  const form = new URLSearchParams({ token: accessToken, token_type_hint: 'access_token' });
  const headers = authenticateClient({ clientId: c.clientId, clientSecret: c.clientSecret ?? '', method: c.clientAuthMethod ?? 'client_secret_post' }, form);
  const res = await send(
    c.http,
    { method: 'POST', url, headers, body: form, ...(c.allowInsecureHttp ? { allowInsecureHttp: true } : {}) },
    { provider: c.provider, call, ...(c.observe ? { observe: c.observe } : {}) },
  );
  if (res.status !== 200) return unknown(`${call}: HTTP ${res.status}${oauthError(res.text)}`);
  let parsed: z.infer<typeof IntrospectionBody> | undefined;
  try {
    parsed = IntrospectionBody.parse(JSON.parse(res.text));
  } catch {
    return unknown(`${call}: unexpected response shape`);
  }
  return parsed.active ? ALIVE : revoked(`${call}: the server reports the access token as not active (its session was ended, revoked or has lapsed)`);
}

async function userinfo(c: OidcLivenessCall, url: string, accessToken: string): Promise<Liveness> {
  const call = 'userinfo';
  if (!allowed(url, c)) return unknown(`${call}: plain http endpoint refused (allowInsecureHttp is off)`);
  const res = await send(
    c.http,
    { method: 'GET', url, headers: { authorization: `Bearer ${accessToken}` }, ...(c.allowInsecureHttp ? { allowInsecureHttp: true } : {}) },
    { provider: c.provider, call, ...(c.observe ? { observe: c.observe } : {}) },
  );
  if (res.status >= 200 && res.status < 300) return ALIVE;
  const detail = challenge(res.headers.get('www-authenticate')) || oauthError(res.text);
  if (res.status === 401) return revoked(`${call}: HTTP 401${detail}: the server no longer accepts the access token`);
  if (res.status === 403) return unknown(`${call}: HTTP 403${detail}: the access token may not call userinfo (it needs the openid scope), so it cannot be checked this way`);
  return unknown(`${call}: HTTP ${res.status}${detail}`);
}

function allowed(url: string, c: OidcLivenessCall): boolean {
  return url.startsWith('https://') || (c.allowInsecureHttp === true && url.startsWith('http://'));
}


/** from an OAuth error body */
function oauthError(text: string): string {
  try {
    const b = OAuthErrorBody.parse(JSON.parse(text));
    return oauthErrorDetail(b.error, b.error_description);
  } catch {
    return '';
  }
}

/** from a Bearer challenge (RFC 6750 §3) */
function challenge(header: string | null): string {
  if (!header) return '';
  return oauthErrorDetail(/error="([^"]*)"/.exec(header)?.[1], /error_description="([^"]*)"/.exec(header)?.[1]);
}
