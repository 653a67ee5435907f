import { ProviderError, kindForStatus, parseRetryAfter, type ProviderErrorKind } from '../errors.js';
import type { HttpResponse } from '../http.js';
import { GnapErrorBodySchema } from './schema.js';

export const GNAP_PROVIDER = 'gnap';

/**
 * Removes this call's secrets from text that may end up in a message. `sanitize()` in
 * ProviderError only catches runs of 24+ token characters; Rafiki's token values are 20
 * hex characters and management ids are UUIDs with dashes, so we scrub the known values
 * explicitly: the token, the whole manage URL and its path (a capability URL: whoever
 * holds it plus the key can rotate).
 */
export function scrubberFor(secrets: Array<string | undefined>): (text: string) => string {
  const needles = [...new Set(secrets.filter((s): s is string => !!s && s.length >= 4))].sort(
    (a, b) => b.length - a.length,
  );
  return (text) => needles.reduce((acc, needle) => acc.split(needle).join('[redacted]'), text);
}

/** The manage URL's path segments (management id) are secret; its host is what a human needs. */
export function secretsOfManageUrl(manageUrl: string): string[] {
  try {
    const u = new URL(manageUrl);
    const segments = u.pathname.split('/').filter((s) => s.length >= 4);
    return [manageUrl, u.href, u.pathname, ...segments.filter((s) => s !== 'token')];
  } catch {
    return [manageUrl];
  }
}

export function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return '(unparseable URL)';
  }
}

/** GNAP error codes (RFC 9635 §3.6): what a GNAP authorization server answers in. */
const GNAP_ERROR_CODES: ReadonlySet<string> = new Set([
  'invalid_request',
  'invalid_client',
  'invalid_interaction',
  'invalid_flag',
  'invalid_rotation',
  'key_rotation_not_supported',
  'invalid_continuation',
  'user_denied',
  'request_denied',
  'unknown_user',
  'unknown_interaction',
  'too_fast',
  'too_many_attempts',
]);

export interface FailureContext {
  call: string;
  host: string;
  scrub: (text: string) => string;
  nowMs: number;
}

/**
 * Maps a non-2xx reply of `/token/{id}` to a ProviderError, by GNAP error code first and
 * status second (auth-server.yaml; Rafiki `tokenHttpsigMiddleware` and `rotateToken`):
 *
 * - `invalid_client` (401 bad/missing signature or unknown/revoked management id; 400 when
 *   the key id is not in the client's JWKS) → Unauthorized: our key or token is refused.
 * - `invalid_rotation` 404 (Rafiki maps every failed rotation to 404) → NotFound: this
 *   token cannot be rotated any more, a new grant is needed; 400 → Invalid.
 * - `request_denied` / any 5xx → Retryable. 429 → RateLimited with Retry-After.
 */
export function gnapFailure(res: HttpResponse, ctx: FailureContext): ProviderError {
  const { code, description } = readErrorBody(res.text);
  const kind = kindFor(res.status, code);
  const retryAfterMs = kind === 'RateLimited' ? parseRetryAfter(res.headers.get('retry-after'), ctx.nowMs) : undefined;
  // Only a GNAP server's own answer is repeated (a code from RFC 9635's list, and its description)
  const known = code !== undefined && GNAP_ERROR_CODES.has(code);
  const detail = known ? [code, description ? ctx.scrub(description).slice(0, 120) : undefined].filter(Boolean).join(': ') : '';
  // code is a fixed identifier (readErrorBody drops anything else), so it needs no scrubbing
  return new ProviderError(kind, `${ctx.call} at ${ctx.host}: HTTP ${res.status}${detail ? ` (${detail})` : ''}`, {
    provider: GNAP_PROVIDER,
    call: ctx.call,
    status: res.status,
    ...(code ? { code } : {}),
    ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
  });
}

function kindFor(status: number, code: string | undefined): ProviderErrorKind {
  if (status === 429) return 'RateLimited';
  if (status >= 500) return 'Retryable';
  if (code === 'invalid_client' && status >= 400) return 'Unauthorized';
  if (code === 'invalid_rotation') return status === 404 ? 'NotFound' : 'Invalid';
  return kindForStatus(status);
}

export function readErrorBody(text: string): { code?: string; description?: string } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return {};
  }
  const parsed = GnapErrorBodySchema.safeParse(json);
  if (!parsed.success) return {};
  // GNAP codes are snake_case identifiers; anything else is not a code we can act on
  const code = /^[a-z][a-z0-9_]{0,63}$/.test(parsed.data.error.code) ? parsed.data.error.code : undefined;
  return {
    ...(code !== undefined ? { code } : {}),
    ...(parsed.data.error.description !== undefined ? { description: parsed.data.error.description } : {}),
  };
}
