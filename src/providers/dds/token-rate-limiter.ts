import { type Clock, sleep, systemClock } from '../../schedule/clock.js';
import { ProviderError } from '../errors.js';

/**
 * Sliding-window limiter for the zDirect token endpoint, which allows 8 requests per
 * minute per app in production (1 in sandbox) and may ban apps that exceed it
 * (docs/providers.md "Zalando DDS: caller authentication (zDirect)").
 *
 * Calls for one key run one at a time, and each call is recorded at the moment it
 * *finishes*: the server has seen the request by then, so network latency can never
 * squeeze nine requests into the server's window. A caller waits for a free slot for at
 * most `maxWaitMs` (counted from when it queued); past that it gets RateLimited with
 * `retryAfterMs`, so a reconcile worker is never parked for a whole window.
 */
export interface TokenRateLimiterOptions {
  /** requests allowed per window; 8 is the production limit (use 1 for the sandbox) */
  limit?: number;
  windowMs?: number;
  maxWaitMs?: number;
  clock?: Clock;
  /** how to wait; tests pass one that moves a ManualClock */
  sleep?: (ms: number) => Promise<void>;
}

export interface TokenRateLimiter {
  /** runs `fn` when the key has a free slot in its window, one call per key at a time */
  run<T>(key: string, fn: () => Promise<T>): Promise<T>;
  /** no call for `key` before `ms` from now (the server said 429 with Retry-After) */
  pause(key: string, ms: number): void;
}

interface KeyState {
  /** finish times of recent calls, oldest first */
  finished: number[];
  pausedUntil: number;
  tail: Promise<unknown>;
  /** calls queued or running */
  active: number;
}

const SETTLED: Promise<unknown> = Promise.resolve();

export const DEFAULT_TOKEN_LIMIT = 8;
export const DEFAULT_TOKEN_WINDOW_MS = 60_000;
const DEFAULT_MAX_WAIT_MS = 5_000;

export function createTokenRateLimiter(opts: TokenRateLimiterOptions = {}): TokenRateLimiter {
  const limit = opts.limit ?? DEFAULT_TOKEN_LIMIT;
  const windowMs = opts.windowMs ?? DEFAULT_TOKEN_WINDOW_MS;
  const maxWaitMs = opts.maxWaitMs ?? DEFAULT_MAX_WAIT_MS;
  const clock = opts.clock ?? systemClock;
  const pause = opts.sleep ?? ((ms: number) => sleep(clock, ms, true));
  const keys = new Map<string, KeyState>();
  const now = () => clock.now().getTime();

  // One state per app ever seen would grow with the number of apps (one per resource, often):
  // at most once a window, drop the states that remember nothing that still matters — no call
  // queued or running, none finished within the window, no pause ahead. A fresh state for such
  // a key behaves exactly like the dropped one.
  let lastSweep = Number.NEGATIVE_INFINITY;
  function sweep(t: number): void {
    if (t - lastSweep < windowMs) return;
    lastSweep = t;
    for (const [key, s] of keys) {
      const last = s.finished[s.finished.length - 1];
      if (s.active === 0 && s.pausedUntil <= t && (last === undefined || last <= t - windowMs)) keys.delete(key);
    }
  }

  function stateOf(key: string): KeyState {
    sweep(now());
    let s = keys.get(key);
    if (!s) {
      s = { finished: [], pausedUntil: 0, tail: SETTLED, active: 0 };
      keys.set(key, s);
    }
    return s;
  }

  /** when the next call may start, given the calls of the last window */
  function readyAt(s: KeyState, t: number): number {
    while (s.finished.length > 0 && (s.finished[0] ?? 0) <= t - windowMs) s.finished.shift();
    const oldestInWindow = s.finished.length >= limit ? s.finished[s.finished.length - limit] : undefined;
    return Math.max(t, s.pausedUntil, oldestInWindow === undefined ? t : oldestInWindow + windowMs);
  }

  async function turn<T>(s: KeyState, queuedAt: number, fn: () => Promise<T>): Promise<T> {
    const t = now();
    const wait = readyAt(s, t) - t;
    if (wait > 0) {
      if (t - queuedAt + wait > maxWaitMs) {
        throw new ProviderError('RateLimited', 'auth-token: local rate limit for this client reached', {
          provider: 'dds',
          call: 'auth-token',
          code: 'ClientRateLimit',
          retryAfterMs: wait,
        });
      }
      await pause(wait);
    }
    try {
      return await fn();
    } finally {
      // a new exact-size array: one that was pushed to reserves 17 slots, kept per app
      s.finished = s.finished.concat(now());
    }
  }

  return {
    run(key, fn) {
      const s = stateOf(key);
      const queuedAt = now();
      s.active++;
      const result = s.tail.then(() => turn(s, queuedAt, fn));
      const settled = () => {
        // nothing queued behind it: drop the chain (one shared settled promise instead)
        if (--s.active === 0) s.tail = SETTLED;
      };
      s.tail = result.then(settled, settled);
      return result;
    },
    pause(key, ms) {
      const s = stateOf(key);
      s.pausedUntil = Math.max(s.pausedUntil, now() + ms);
    },
  };
}
