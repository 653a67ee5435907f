import { describe, expect, it } from 'vitest';
import { DEFAULT_BACKOFF, backoffDelay, type BackoffPolicy } from '../../../src/schedule/retry.js';

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
