import { OAUTH_ERROR_CODES } from './errors.js';

/**
 * What the OAuth2 providers (oidc's liveness, client-credentials) send and repeat the same way.
 */

export type ClientAuthMethod = 'client_secret_basic' | 'client_secret_post';

/**
 * Client authentication (RFC 6749 §2.3.1): HTTP Basic of the form-urlencoded id and secret, or
 * both in the form. Returns the headers to send; `form` gets the fields for client_secret_post.
 */
export function authenticateClient(c: { clientId: string; clientSecret: string; method: ClientAuthMethod }, form: URLSearchParams): Record<string, string> {
  if (c.method === 'client_secret_post') {
    form.set('client_id', c.clientId);
    form.set('client_secret', c.clientSecret);
    return {};
  }
  const encode = (v: string) => new URLSearchParams({ v }).toString().slice(2);
  return { authorization: `Basic ${Buffer.from(`${encode(c.clientId)}:${encode(c.clientSecret)}`).toString('base64')}` };
}

/**
 * ` (error: description)`, only when `error` is a registered OAuth error code: a URL may point
 * anywhere, and a message must not relay what some other service said.
 */
export function oauthErrorDetail(error: string | undefined, description: string | undefined): string {
  if (error === undefined || !OAUTH_ERROR_CODES.has(error)) return '';
  return ` (${[error, description?.slice(0, 200)].filter(Boolean).join(': ')})`;
}
