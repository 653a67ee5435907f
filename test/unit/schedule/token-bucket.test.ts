import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TokenBucket } from '../../../src/schedule/token-bucket.js';

describe('TokenBucket', () => {
  let t = 0;
  const now = () => t;
  beforeEach(() => {
    t = 0;
  });

  it('starts with a full burst', () => {
    const b = new TokenBucket(1, 3, now);
    expect([b.tryTake(), b.tryTake(), b.tryTake(), b.tryTake()]).toEqual([true, true, true, false]);
  });

  it('refills at the rate, never above the burst', () => {
    const b = new TokenBucket(10, 2, now);
    b.tryTake();
    b.tryTake();
    expect(b.tryTake()).toBe(false);
    t += 99;
    expect(b.tryTake()).toBe(false);
    t += 1;
    expect(b.tryTake()).toBe(true);
    t += 60_000; // a minute idle saves only `burst` tokens
    expect([b.tryTake(), b.tryTake(), b.tryTake()]).toEqual([true, true, false]);
  });

  it('says how long until the next token', () => {
    const b = new TokenBucket(4, 1, now);
    expect(b.delayMs()).toBe(0);
    b.tryTake();
    expect(b.delayMs()).toBe(250);
    t += 100;
    expect(b.delayMs()).toBe(150);
  });

  it('reserve queues callers behind each other once the burst is spent', () => {
    const b = new TokenBucket(10, 2, now);
    expect([b.reserve(), b.reserve(), b.reserve(), b.reserve(), b.reserve()]).toEqual([0, 0, 100, 200, 300]);
    t += 300; // the debt is paid off at the rate
    expect(b.reserve()).toBe(100);
  });

  describe('take', () => {
    beforeEach(() => {
      vi.useFakeTimers();
    });
    afterEach(() => {
      vi.useRealTimers();
    });

    it('resolves at once while tokens last, then at the rate, in order', async () => {
      const b = new TokenBucket(10, 2, () => Date.now());
      const done: number[] = [];
      const start = Date.now();
      for (let i = 0; i < 5; i++) void b.take().then(() => done.push(Date.now() - start));
      await vi.advanceTimersByTimeAsync(0);
      expect(done).toEqual([0, 0]);
      await vi.advanceTimersByTimeAsync(100);
      expect(done).toEqual([0, 0, 100]);
      await vi.advanceTimersByTimeAsync(200);
      expect(done).toEqual([0, 0, 100, 200, 300]);
    });

    it('does not let tryTake jump the queue of waiters', async () => {
      const b = new TokenBucket(10, 1, () => Date.now());
      await b.take();
      const waiter = b.take();
      await vi.advanceTimersByTimeAsync(100);
      await waiter;
      // a token refilled while someone waited went to the waiter, not to a later tryTake
      expect(b.tryTake()).toBe(false);
    });

    it('never waits with an infinite rate', async () => {
      const b = new TokenBucket(Number.POSITIVE_INFINITY, 1, () => Date.now());
      for (let i = 0; i < 100; i++) await b.take();
      expect(vi.getTimerCount()).toBe(0);
    });
  });
});
