/**
 * Two-tier back-off, persisted in status (failedAttempts, lastFailureTime) so a restart
 * neither forgets nor resets it: transient failures (network, 5xx, malformed answers)
 * retry fast; refusals (bad credentials, invalid input) back off steeply, since only a
 * human can fix them. A spec change resets the count.
 */
export interface BackoffPolicy {
  transientBaseMs: number;
  transientMaxMs: number;
  refusalBaseMs: number;
  refusalMaxMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = {
  transientBaseMs: 5_000,
  transientMaxMs: 5 * 60_000,
  refusalBaseMs: 60_000,
  refusalMaxMs: 60 * 60_000,
};

export function backoffDelay(failedAttempts: number, transient: boolean, p: BackoffPolicy = DEFAULT_BACKOFF): number {
  if (failedAttempts <= 0) return 0;
  const base = transient ? p.transientBaseMs : p.refusalBaseMs;
  const max = transient ? p.transientMaxMs : p.refusalMaxMs;
  return Math.min(max, base * 2 ** Math.min(failedAttempts - 1, 20));
}
