/**
 * Every provider failure becomes one of these kinds. The reconciler maps kinds to
 * conditions and back-off (src/controllers/shared/failures.ts); providers never decide about
 * Kubernetes.
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
  | 'BadResponse'; //  the provider answered something we cannot parse: keep the last good Secret

/**
 * The vendor refused for good: retrying the same thing will not help, a person must change
 * what `inputs` or `config` name. The provider says it in its own vocabulary; the controller
 * turns the names into Kubernetes advice (which Secret, which spec field).
 */
export interface Refusal {
  /** CamelCase and stable: becomes the condition reason verbatim (e.g. RefreshTokenExpired) */
  reason: string;
  /** the provider's own input names (CredentialProvider.inputs) whose values must change */
  inputs?: readonly string[];
  /** fields of the provider's spec block that may be wrong */
  config?: readonly string[];
}

export interface ProviderErrorOptions {
  provider: string;
  call: string;
  status?: number;
  code?: string;
  retryAfterMs?: number;
  refusal?: Refusal;
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
  /** set when only a person can fix it (kind Unauthorized or Invalid, usually) */
  readonly refusal?: Refusal;

  constructor(kind: ProviderErrorKind, message: string, opts: ProviderErrorOptions) {
    super(sanitize(message), opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'ProviderError';
    this.kind = kind;
    this.provider = opts.provider;
    this.call = opts.call;
    if (opts.status !== undefined) this.status = opts.status;
    // codes are short vendor identifiers (invalid_grant, TwoTokenCeiling); anything else is dropped
    if (opts.code !== undefined) this.code = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/.test(opts.code) ? opts.code : 'unrecognized';
    if (opts.retryAfterMs !== undefined) this.retryAfterMs = opts.retryAfterMs;
    if (opts.refusal !== undefined) this.refusal = opts.refusal;
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
// Any scheme (postgres://, amqp://, …); userinfo runs to the LAST "@" before the path, so a
// raw "@" inside a password cannot leave its tail behind.
const URL_QUERY = /([a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^\s?#]+)[?#][^\s]*/g;
const URL_USERINFO = /([a-zA-Z][a-zA-Z0-9+.-]*:\/\/)[^\s/?#]*@/g;

/** Strips anything credential-shaped from text bound for logs, events or status. */
export function sanitize(text: string): string {
  return text
    .replace(URL_USERINFO, '$1')
    .replace(URL_QUERY, '$1?…')
    .replace(TOKEN_LIKE, '[redacted]')
    .slice(0, 512);
}
