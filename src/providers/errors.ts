/**
 * Every provider failure becomes one of these kinds. The reconciler maps kinds to
 * conditions and back-off; providers never decide about Kubernetes.
 *
 * Messages must never carry a credential: they are built from status codes, call
 * names and the provider's (sanitized) error code, never from raw response bodies.
 */
export type ProviderErrorKind =
  | 'Retryable' //     network failure, timeout, 5xx: try again soon
  | 'RateLimited' //   429 or a known quota: wait retryAfterMs
  | 'Unauthorized' //  our caller credentials are refused (401/403): a human must fix them
  | 'Invalid' //       the request is wrong (4xx): retrying the same input will not help
  | 'NotFound' //      the thing is gone at the provider
  | 'Conflict' //      provider state forbids this now (e.g. the DDS two-token ceiling)
  | 'BadResponse' //   the provider answered something we cannot parse: keep the last good Secret
  | 'EgressDenied'; // the operator's egress policy refused the address: no connection was made

export interface ProviderErrorOptions {
  provider: string;
  call: string;
  status?: number;
  code?: string;
  retryAfterMs?: number;
  cause?: unknown;
}

export class ProviderError extends Error {
  readonly kind: ProviderErrorKind;
  readonly provider: string;
  readonly call: string;
  readonly status?: number;
  /** the provider's own machine-readable error code (e.g. OAuth `invalid_grant`), sanitized */
  readonly code?: string;
  readonly retryAfterMs?: number;

  constructor(kind: ProviderErrorKind, message: string, opts: ProviderErrorOptions) {
    super(statusClassOnly(sanitize(message)), opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'ProviderError';
    this.kind = kind;
    this.provider = opts.provider;
    this.call = opts.call;
    if (opts.status !== undefined) this.status = opts.status;
    // codes are short vendor identifiers (invalid_grant, TwoTokenCeiling); anything else is dropped
    if (opts.code !== undefined) this.code = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/.test(opts.code) ? opts.code : 'unrecognized';
    if (opts.retryAfterMs !== undefined) this.retryAfterMs = opts.retryAfterMs;
  }

  /** transient kinds are retried quickly; the others back off exponentially */
  get transient(): boolean {
    return this.kind === 'Retryable' || this.kind === 'RateLimited' || this.kind === 'BadResponse';
  }
}

export function isProviderError(e: unknown): e is ProviderError {
  return e instanceof ProviderError;
}

/** Kind for an HTTP status, for providers whose error bodies say nothing more specific. */
export function kindForStatus(status: number): ProviderErrorKind {
  if (status === 429) return 'RateLimited';
  if (status >= 500) return 'Retryable';
  if (status === 401 || status === 403) return 'Unauthorized';
  if (status === 404 || status === 410) return 'NotFound';
  if (status === 409) return 'Conflict';
  if (status === 408) return 'Retryable';
  return 'Invalid';
}

/** Retry-After is either delta-seconds or an HTTP-date (RFC 9110 §10.2.3). */
export function parseRetryAfter(value: string | null | undefined, nowMs: number): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  // Some servers send fractional seconds; Date.parse would read "1.5" as 5 January 2001.
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.ceil(Math.round(Number(trimmed) * 1e6) / 1e3);
  // An HTTP-date always names a weekday and month; Date.parse reads "-5" as a year.
  if (!/[a-z]/i.test(trimmed)) return undefined;
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - nowMs);
}

// Long opaque runs (JWTs, bearer tokens, activation tokens) are replaced wholesale: a
// provider may echo one back inside an error description, and that text reaches status.
const TOKEN_LIKE = /[A-Za-z0-9_\-.~+/=]{24,}/g;
// ...except a bare host name, which a message must be able to name (egress refusals, GNAP hosts):
// lower-case labels and an alphabetic top-level label, the shape URL parsing gives every host.
// Opaque tokens have upper case, digits or '_' in their last run, or no dot at all.
const HOST_NAME = /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;
// Any scheme (postgres://, amqp://, …); userinfo runs to the LAST "@" before the path, so a
// raw "@" inside a password cannot leave its tail behind.
const URL_QUERY = /([a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^\s?#]+)[?#][^\s]*/g;
const URL_USERINFO = /([a-zA-Z][a-zA-Z0-9+.-]*:\/\/)[^\s/?#]*@/g;

/**
 * OAuth 2.0 error codes (RFC 6749 §5.2, RFC 6750 §3.1, RFC 7009 §2.2.1, RFC 8628 excluded): the
 * vocabulary an OAuth server answers in. A body whose `error` is one of these is an OAuth
 * server's answer, and its code (with its description) may be repeated in a message.
 */
export const OAUTH_ERROR_CODES: ReadonlySet<string> = new Set([
  'invalid_request',
  'invalid_client',
  'invalid_grant',
  'unauthorized_client',
  'unsupported_grant_type',
  'invalid_scope',
  'access_denied',
  'unsupported_response_type',
  'server_error',
  'temporarily_unavailable',
  'invalid_token',
  'insufficient_scope',
  'unsupported_token_type',
]);

const HTTP_STATUS = /\bHTTP ([1-5])\d\d\b/g;

/**
 * A message says which class of status came back (`HTTP 4xx`), not the exact code: whatever a
 * URL points at, status must not become a way to probe what answers there (an internal
 * service's 401 vs 404 vs 405). The exact status stays on the error (`status`) and in the
 * provider-call metric's outcome label, for the operator's administrators.
 */
export function statusClassOnly(text: string): string {
  return text.replace(HTTP_STATUS, 'HTTP $1xx');
}

/** Strips anything credential-shaped from text bound for logs, events or status. */
export function sanitize(text: string): string {
  return text
    .replace(URL_USERINFO, '$1')
    .replace(URL_QUERY, '$1?…')
    .replace(TOKEN_LIKE, (run) => (HOST_NAME.test(run) ? run : '[redacted]'))
    .slice(0, 512);
}
