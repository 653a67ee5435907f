import { sleep, type Clock } from './clock.js';

/**
 * Every retry policy of the operator, in one place, on the injected clock:
 * 1. the persisted back-off tiers of a failing resource (status.failedAttempts/lastFailureTime);
 * 2. a provider's Retry-After, held per resource;
 * 3. the work queue's limiter, for reconciles that throw;
 * 4. in-process retries of a credential's Secret write (a one-time credential must land);
 * 5. one retry with a fresh caller credential when a provider refuses a cached one.
 * Nothing else retries: providers' HTTP calls never do (http.ts), the next reconcile does.
 */

// ---------------------------------------------------------------------------------------
// 1. Persisted back-off

/**
 * Two tiers, persisted in status so a restart neither forgets nor resets them: transient
 * failures (network, 5xx, malformed answers) retry fast; refusals (bad credentials, invalid
 * input) back off steeply, since only a human can fix them. A spec change resets the count.
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

/** What the back-off reads from a resource's status. */
export interface FailureRecord {
  failedAttempts?: number;
  lastFailureTime?: string;
  observedGeneration?: number;
}

/**
 * How long a failing resource still waits before the provider may be called again, or
 * undefined. A spec change (a generation not yet observed) lifts it; a pending rotate request
 * does not: the failure may have been that very request.
 */
export function backoffWait(s: FailureRecord | undefined, generation: number | undefined, transient: boolean, now: Date): number | undefined {
  if (!s?.failedAttempts || !s.lastFailureTime) return undefined;
  if (s.observedGeneration !== generation) return undefined;
  const wait = Date.parse(s.lastFailureTime) + backoffDelay(s.failedAttempts, transient) - now.getTime();
  return wait > 0 ? wait : undefined;
}

/** The delay before the next attempt after one more failure: the tier's, or the provider's Retry-After if longer. */
export function nextAttemptDelay(failedAttempts: number, transient: boolean, retryAfterMs: number | undefined): number {
  return Math.max(backoffDelay(failedAttempts, transient), retryAfterMs ?? 0);
}

// ---------------------------------------------------------------------------------------
// 2. Retry-After

/**
 * A provider's Retry-After, by resource uid. The persisted back-off alone would let a wake-up
 * (our own status write, a resync) call again after the tier's delay, before Retry-After. In
 * memory only: a restart forgets it, and a spec change lifts it like the back-off.
 */
export class RetryAfterHolds {
  private readonly holds = new Map<string, { until: number; generation: number | undefined }>();

  hold(uid: string, untilMs: number, generation: number | undefined): void {
    this.holds.set(uid, { until: untilMs, generation });
  }

  /** ms left to wait, or undefined (an expired or outdated hold is dropped) */
  wait(uid: string, generation: number | undefined, nowMs: number): number | undefined {
    const h = this.holds.get(uid);
    if (!h) return undefined;
    if (h.generation !== generation || h.until <= nowMs) {
      this.holds.delete(uid);
      return undefined;
    }
    return h.until - nowMs;
  }

  forget(uid: string): void {
    this.holds.delete(uid);
  }
}

// ---------------------------------------------------------------------------------------
// 3. The work queue's limiter (a reconcile that threw: a conflict, an API server error)

export interface QueueRetryPolicy {
  /** per key: base × 2^(failures), up to max */
  baseDelayMs: number;
  maxDelayMs: number;
  /** across keys (client-go: 10 qps, burst 100) */
  qps: number;
  burst: number;
}

export const QUEUE_RETRY: QueueRetryPolicy = { baseDelayMs: 1000, maxDelayMs: 5 * 60_000, qps: 10, burst: 100 };

export function queueRetryDelay(failures: number, p: QueueRetryPolicy = QUEUE_RETRY): number {
  return Math.min(p.baseDelayMs * 2 ** failures, p.maxDelayMs);
}

// ---------------------------------------------------------------------------------------
// 4. Secret-write retries

/**
 * A freshly issued credential's write is retried in-process: some providers hand a credential
 * out once, so giving up after one failed write would lose it. The API server being away
 * (restarting, upgraded, a network blip, the leader lease unconfirmed meanwhile) is ridden out
 * for `transientBudgetMs` on the injected clock: a 60 s outage must not lose a one-time
 * credential. A refusal (403, 422: a person must act) gets `refusedAttempts`; what still fails
 * then waits in the skeleton's pending-credential memory for the next reconcile.
 */
export interface WriteRetryPolicy {
  firstDelayMs: number;
  maxDelayMs: number;
  transientBudgetMs: number;
  refusedAttempts: number;
}

export const CREDENTIAL_WRITE_RETRY: WriteRetryPolicy = { firstDelayMs: 500, maxDelayMs: 5_000, transientBudgetMs: 120_000, refusedAttempts: 5 };

/** How a failed write counts: retried within the budget, retried a few times, or not at all. */
export type WriteFailure = 'transient' | 'refused' | 'final';

/**
 * Runs `write` until it succeeds or the policy gives up on the failure `classify` names;
 * `onRetry` hears of each failure that is retried.
 */
export async function retryWrite<T>(
  clock: Clock,
  write: (attempt: number) => Promise<T>,
  classify: (e: unknown) => WriteFailure,
  opts: { policy?: WriteRetryPolicy; onRetry?: (r: { attempt: number; failure: WriteFailure; elapsedMs: number; error: unknown }) => void } = {},
): Promise<T> {
  const p = opts.policy ?? CREDENTIAL_WRITE_RETRY;
  const started = clock.now().getTime();
  let delay = p.firstDelayMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await write(attempt);
    } catch (e) {
      const failure = classify(e);
      const elapsedMs = clock.now().getTime() - started;
      if (failure === 'final' || (failure === 'refused' ? attempt >= p.refusedAttempts : elapsedMs >= p.transientBudgetMs)) throw e;
      opts.onRetry?.({ attempt, failure, elapsedMs, error: e });
      await sleep(clock, delay);
      delay = Math.min(delay * 2, p.maxDelayMs);
    }
  }
}

// ---------------------------------------------------------------------------------------
// 5. A refused cached caller credential

/**
 * Runs `call` with a cached caller credential; when the provider refuses it (`refused`: it
 * expired early, was revoked), drops it and tries once more with a fresh one. A second refusal
 * is real. (The zDirect token of DDS calls; a Privicore profile authorization.)
 */
export async function withFreshCredential<C, T>(
  get: () => Promise<C>,
  drop: (refusedCredential: C) => void,
  call: (credential: C) => Promise<T>,
  refused: (e: unknown) => boolean,
): Promise<T> {
  const first = await get();
  try {
    return await call(first);
  } catch (e) {
    if (!refused(e)) throw e;
    drop(first);
    return call(await get());
  }
}
