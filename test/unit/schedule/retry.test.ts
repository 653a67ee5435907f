import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/schedule/clock.js';
import {
  DEFAULT_BACKOFF,
  RetryAfterHolds,
  backoffDelay,
  backoffWait,
  nextAttemptDelay,
  retryWrite,
  withFreshCredential,
  type BackoffPolicy,
  type WriteFailure,
} from '../../../src/schedule/retry.js';

describe('backoffDelay', () => {
  it('is zero before any failure', () => {
    expect(backoffDelay(0, true)).toBe(0);
    expect(backoffDelay(0, false)).toBe(0);
    expect(backoffDelay(-3, false)).toBe(0);
  });

  it('doubles from 5s for transient failures, capped at 5m', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8].map((n) => backoffDelay(n, true))).toEqual([
      5_000, 10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000,
    ]);
  });

  it('doubles from 1m for refusals, capped at 1h', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8].map((n) => backoffDelay(n, false))).toEqual([
      60_000, 120_000, 240_000, 480_000, 960_000, 1_920_000, 3_600_000, 3_600_000,
    ]);
  });

  it('refusals always wait at least as long as transient failures', () => {
    for (let n = 1; n < 40; n++) expect(backoffDelay(n, false)).toBeGreaterThanOrEqual(backoffDelay(n, true));
  });

  it('stays finite and capped for absurd attempt counts (persisted status may hold anything)', () => {
    for (const n of [21, 64, 1_000, 1e9, Number.MAX_SAFE_INTEGER]) {
      expect(backoffDelay(n, true)).toBe(DEFAULT_BACKOFF.transientMaxMs);
      expect(backoffDelay(n, false)).toBe(DEFAULT_BACKOFF.refusalMaxMs);
    }
  });

  it('follows a custom policy', () => {
    const p: BackoffPolicy = { transientBaseMs: 10, transientMaxMs: 35, refusalBaseMs: 100, refusalMaxMs: 150 };
    expect([1, 2, 3, 4].map((n) => backoffDelay(n, true, p))).toEqual([10, 20, 35, 35]);
    expect([1, 2, 3].map((n) => backoffDelay(n, false, p))).toEqual([100, 150, 150]);
  });
});

describe('backoffWait: the persisted back-off of a failing resource', () => {
  const now = new Date('2026-06-01T00:10:00Z');
  const failed = { failedAttempts: 2, lastFailureTime: '2026-06-01T00:09:55Z', observedGeneration: 3 };

  it('waits out the tier from the last failure (transient 2nd failure: 10 s)', () => {
    expect(backoffWait(failed, 3, true, now)).toBe(5_000);
    expect(backoffWait(failed, 3, false, now)).toBe(115_000); // refusal tier: 2 min
  });

  it('is lifted by a spec change, and absent without a failure or once over', () => {
    expect(backoffWait(failed, 4, true, now)).toBeUndefined();
    expect(backoffWait({}, 3, true, now)).toBeUndefined();
    expect(backoffWait(failed, 3, true, new Date('2026-06-01T00:10:05Z'))).toBeUndefined();
  });

  it('the next attempt waits for the tier or the provider\'s Retry-After, whichever is longer', () => {
    expect(nextAttemptDelay(1, true, undefined)).toBe(5_000);
    expect(nextAttemptDelay(1, true, 42_000)).toBe(42_000);
    expect(nextAttemptDelay(3, false, 1_000)).toBe(240_000);
  });
});

describe('RetryAfterHolds', () => {
  it('holds a resource until the provider\'s time, forgets it after, and a spec change lifts it', () => {
    const h = new RetryAfterHolds();
    h.hold('uid', 10_000, 1);
    expect(h.wait('uid', 1, 4_000)).toBe(6_000);
    expect(h.wait('uid', 2, 4_000)).toBeUndefined();
    expect(h.wait('uid', 1, 4_000)).toBeUndefined(); // the outdated hold was dropped
    h.hold('uid', 10_000, 1);
    expect(h.wait('uid', 1, 10_000)).toBeUndefined();
  });
});

describe('retryWrite', () => {
  const fast = { firstDelayMs: 1, maxDelayMs: 2, transientBudgetMs: 60_000, refusedAttempts: 3 };
  const failing = (failures: number, error: unknown) => {
    let n = 0;
    return async () => {
      if (n++ < failures) throw error;
      return n;
    };
  };

  it('retries transient failures within the budget on the clock, and refusals a few times', async () => {
    const clock = new ManualClock();
    expect(await retryWrite(clock, failing(4, new Error('reset')), () => 'transient', { policy: fast })).toBe(5);
    await expect(retryWrite(clock, failing(4, new Error('422')), () => 'refused', { policy: fast })).rejects.toThrow('422');
  });

  it('gives up at once on a final failure, and when the transient budget is spent', async () => {
    const clock = new ManualClock();
    const seen: WriteFailure[] = [];
    await expect(retryWrite(clock, failing(1, new Error('no')), () => 'final', { policy: fast, onRetry: (r) => seen.push(r.failure) })).rejects.toThrow('no');
    expect(seen).toEqual([]);
    const write = async () => {
      clock.advance(30_000);
      throw new Error('down');
    };
    await expect(retryWrite(clock, write, () => 'transient', { policy: fast, onRetry: (r) => seen.push(r.failure) })).rejects.toThrow('down');
    expect(seen).toEqual(['transient']); // 30 s, then 60 s: the budget
  });
});

describe('withFreshCredential', () => {
  it('drops a refused cached credential and tries once more with a fresh one; a second refusal is real', async () => {
    let cached = 'old';
    const dropped: string[] = [];
    const get = async () => cached;
    const drop = (c: string) => {
      dropped.push(c);
      cached = 'new';
    };
    const refused = (e: unknown) => e === 401;
    expect(await withFreshCredential(get, drop, async (c) => (c === 'old' ? Promise.reject(401) : `ok with ${c}`), refused)).toBe('ok with new');
    expect(dropped).toEqual(['old']);
    await expect(withFreshCredential(get, drop, () => Promise.reject(401), refused)).rejects.toBe(401);
    await expect(withFreshCredential(get, drop, () => Promise.reject(500), refused)).rejects.toBe(500);
    expect(dropped).toEqual(['old', 'new']);
  });
});
