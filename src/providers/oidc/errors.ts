import { ClientError, ResponseBodyError, WWWAuthenticateChallengeError } from 'openid-client';
import { OAUTH_ERROR_CODES, ProviderError, kindForStatus, parseRetryAfter, type ProviderErrorKind } from '../errors.js';

export const PROVIDER = 'oidc';

/**
 * Why the server refused the refresh token or our client, as a stable CamelCase word the
 * reconciler can use verbatim as a condition reason. Each one needs a human: the grant
 * will not succeed by retrying.
 */
export type OidcRefusalReason =
  | 'RefreshTokenExpired' //   idle or max lifetime passed
  | 'SessionNotActive' //      session revoked, logged out, lapsed, or killed by a reuse
  | 'RefreshTokenReused' //    rotation is on and an already used token was presented
  | 'StaleToken' //            older than a not-before policy
  | 'InvalidRefreshToken' //   not a refresh token (wrong type, wrong realm, garbled)
  | 'ClientMismatch' //        the token was issued to another client_id
  | 'UserDisabled' //          the user is disabled or gone
  | 'RefreshTokenRejected' //  invalid_grant with a description we do not know
  | 'InvalidClient' //         unknown client_id or wrong client credentials (HTTP 401)
  | 'UnauthorizedClient'; //   the client may not use this grant (HTTP 400)

/** What the person who owns the token should do, per reason (ends up in a condition message). */
const WHAT_TO_DO: Record<OidcRefusalReason, string> = {
  RefreshTokenExpired: 'the refresh token has expired; generate a new token and update the seed Secret',
  SessionNotActive: 'the token session has ended (revoked, logged out, expired or killed by a token reuse); generate a new token and update the seed Secret',
  RefreshTokenReused: 'an already used refresh token was presented, so the server ended the session; generate a new token and update the seed Secret, and make sure only one writer refreshes it',
  StaleToken: 'the token predates a not-before policy; generate a new token and update the seed Secret',
  InvalidRefreshToken: 'the seed Secret does not hold a refresh token for this realm; check which value was pasted',
  ClientMismatch: 'the refresh token was issued to a different client; set clientId to the client chosen when the token was generated',
  UserDisabled: "the token's user is disabled or deleted; an administrator must re-enable it, then generate a new token",
  RefreshTokenRejected: 'the server refused the refresh token; generate a new token and update the seed Secret',
  InvalidClient: 'the server does not know this client or refused its credentials; check clientId and the client secret',
  UnauthorizedClient: 'this client may not use the refresh grant or needs credentials; check clientId and the client secret',
};

// Keycloak's error_description strings for invalid_grant (TokenManager, 26.x; see
// ../../../../shared/research/providers.md §2.4). Matched loosely: wording drifts between versions.
const GRANT_REASONS: ReadonlyArray<[RegExp, OidcRefusalReason]> = [
  [/refresh token reuse/i, 'RefreshTokenReused'],
  [/^token (is )?not active/i, 'RefreshTokenExpired'],
  [/session (is )?not (active|found)|session doesn't have required client/i, 'SessionNotActive'],
  [/^stale token/i, 'StaleToken'],
  // before InvalidRefreshToken: Keycloak words it "Invalid refresh token. Token client and authorized client don't match"
  [/unmatching clients|client.*don't match/i, 'ClientMismatch'],
  [/^invalid refresh token|^invalid token/i, 'InvalidRefreshToken'],
  [/user .*disabled|unknown user|user not found/i, 'UserDisabled'],
];

export function reasonForGrantError(description: string | undefined): OidcRefusalReason {
  if (description) {
    for (const [pattern, reason] of GRANT_REASONS) if (pattern.test(description)) return reason;
  }
  return 'RefreshTokenRejected';
}

/**
 * A ProviderError that may carry why the server refused us. `reason` is set whenever a
 * human must act (kind Unauthorized); the message says what to do.
 */
export class OidcError extends ProviderError {
  readonly reason?: OidcRefusalReason;

  constructor(
    kind: ProviderErrorKind,
    message: string,
    opts: ConstructorParameters<typeof ProviderError>[2] & { reason?: OidcRefusalReason },
  ) {
    const { reason, ...rest } = opts;
    super(kind, message, rest);
    if (reason !== undefined) this.reason = reason;
  }
}

export function isOidcError(e: unknown): e is OidcError {
  return e instanceof OidcError;
}

/**
 * Turns anything openid-client (or our HttpClient under it) throws into an OidcError.
 *
 * Never passes the original error on as `cause`: openid-client errors hold the request
 * and response, and for a malformed token response the parsed body, which may carry
 * fresh tokens. Only the status, the OAuth error code and a sanitized description survive.
 */
export function toOidcError(e: unknown, call: string, nowMs: number): ProviderError {
  if (e instanceof ProviderError) return e;
  // our HttpClient's transport errors arrive wrapped by openid-client's error handler
  const transport = findProviderError(e);
  if (transport) return transport;

  const where = { provider: PROVIDER, call };

  if (e instanceof ResponseBodyError) {
    return fromOAuthError(where, e.status, e.error, e.error_description, e.response?.headers, nowMs);
  }
  if (e instanceof WWWAuthenticateChallengeError) {
    // a 401 challenge on the token or revocation endpoint is about our client credentials
    const challenge = e.cause[0]?.parameters;
    const code = challenge?.error ?? (e.status === 401 ? 'invalid_client' : undefined);
    return fromOAuthError(where, e.status, code, challenge?.error_description, e.response?.headers, nowMs);
  }
  if (e instanceof ClientError) {
    // An error status without a usable OAuth error body (a 5xx, or an HTML page from a
    // proxy): openid-client puts the Response in `cause`, and the status decides.
    if (e.cause instanceof Response && (e.cause.status < 200 || e.cause.status > 299)) {
      return fromOAuthError(where, e.cause.status, undefined, undefined, e.cause.headers, nowMs);
    }
    switch (e.code) {
      case 'OAUTH_HTTP_REQUEST_FORBIDDEN':
        // openid-client's own https rule, which also holds the endpoints discovery returns:
        // the same refusal as the egress policy's (egress/policy.ts 'insecure-http')
        return new OidcError('EgressDenied', `${call}: an endpoint is plain http://, which is refused unless the resource sets allowInsecureHttp and the operator runs with --allow-insecure-http`, where);
      case 'OAUTH_REQUEST_PROTOCOL_FORBIDDEN':
        return new OidcError('Invalid', `${call}: only http and https endpoints are supported`, where);
      case 'OAUTH_MISSING_SERVER_METADATA':
        return new OidcError('Invalid', `${call}: the issuer does not advertise the endpoint this call needs`, where);
      case 'OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED':
        return new OidcError('Invalid', `${call}: the discovered issuer does not match issuerUrl`, where);
      case 'OAUTH_TIMEOUT':
      case 'OAUTH_ABORT':
        return new OidcError('Retryable', `${call}: timed out`, where);
      default:
        // not JSON, unparseable, missing fields, unsupported token_type, …
        return new OidcError('BadResponse', `${call}: invalid response (${e.code ?? 'unknown'})`, where);
    }
  }
  if (e instanceof TypeError) {
    return new OidcError('Invalid', `${call}: invalid configuration (${e.message})`, where);
  }
  return new OidcError('Retryable', `${call}: unexpected failure`, where);
}

function findProviderError(e: unknown): ProviderError | undefined {
  for (let cur: unknown = e, depth = 0; cur instanceof Error && depth < 5; cur = cur.cause, depth++) {
    if (cur instanceof ProviderError) return cur;
  }
  return undefined;
}

function fromOAuthError(
  where: { provider: string; call: string },
  status: number,
  code: string | undefined,
  description: string | undefined,
  headers: Headers | undefined,
  nowMs: number,
): ProviderError {
  // Only an OAuth server's own answer is repeated (a registered error code and its description):
  // a URL may point anywhere, and a message must not relay what some other service said.
  const detail = code !== undefined && OAUTH_ERROR_CODES.has(code) ? [code, description].filter(Boolean).join(': ') : '';
  const base = `${where.call}: HTTP ${status}${detail ? ` (${detail})` : ''}`;
  const opts = { ...where, status, ...(code ? { code } : {}) };

  if (status === 429) {
    const retryAfterMs = parseRetryAfter(headers?.get('retry-after'), nowMs);
    return new OidcError('RateLimited', base, { ...opts, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) });
  }
  if (status >= 500) return new OidcError('Retryable', base, opts);

  let reason: OidcRefusalReason | undefined;
  if (code === 'invalid_grant') reason = reasonForGrantError(description);
  // Keycloak 26 answers a wrong client secret with 401 unauthorized_client "Invalid
  // client or Invalid client credentials", and an unknown client_id with 401 invalid_client
  else if (code === 'invalid_client' || (code === 'unauthorized_client' && status === 401)) reason = 'InvalidClient';
  else if (code === 'unauthorized_client') reason = 'UnauthorizedClient';
  if (reason) {
    return new OidcError('Unauthorized', `${base}: ${WHAT_TO_DO[reason]}`, { ...opts, reason });
  }
  return new OidcError(kindForStatus(status), base, opts);
}
