import { isProviderError, sanitize, statusClassOnly } from './errors.js';

/**
 * What a liveness check found out about a credential the operator already issued: the cheapest
 * call that proves it still works at the provider (docs/liveness.md). Never
 * a renewal: a check must not spend or replace what it checks.
 *
 * - alive: the provider accepted it (or listed it as valid).
 * - revoked: the provider said it no longer works (revoked out of band, session ended, deleted);
 *   `said` says what the provider answered, the way every provider message does: the status
 *   class (HTTP 4xx), the vendor's own error codes, never a secret.
 * - unknown: the answer proves nothing either way (timeout, 5xx, rate limit, a check the
 *   provider cannot answer for this credential); `said` says why. The caller tries again later.
 */
export type Liveness = { state: 'alive' } | { state: 'revoked'; said: string } | { state: 'unknown'; said: string };

export const ALIVE: Liveness = { state: 'alive' };

export function revoked(said: string): Liveness {
  return { state: 'revoked', said: statusClassOnly(sanitize(said)) };
}

export function unknown(said: string): Liveness {
  return { state: 'unknown', said: statusClassOnly(sanitize(said)) };
}

/** Any failure of a check call that is not a definite "no longer valid": unknown, with the (sanitized) reason. */
export function unknownFrom(e: unknown): Liveness {
  if (isProviderError(e)) return unknown(`${e.provider}: ${e.message}`);
  return unknown('unexpected failure of the check');
}
