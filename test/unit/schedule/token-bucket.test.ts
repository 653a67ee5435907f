import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TokenBucket } from '../../../src/schedule/token-bucket.js';
import { RoundRobin } from '../../../src/schedule/round-robin.js';
import { namespaceOf } from '../../../src/runtime/kube-client.js';

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

describe('TokenBucket waiters', () => {
  it('wake in turn between tenants with a round-robin queue, in arrival order without one', async () => {
    vi.useFakeTimers();
    try {
      const order = async (waiters?: RoundRobin<() => void>) => {
        let t = 0;
        const b = new TokenBucket(10, 1, () => t, waiters);
        expect(b.tryTake()).toBe(true); // the burst is spent: everyone below waits
        const woken: string[] = [];
        // one namespace floods first, then another asks once
        const calls = [...['h1', 'h2', 'h3', 'h4'].map((id) => ['hostile', id]), ['victim', 'v1']].map(([tenant, id]) => b.take(tenant).then(() => woken.push(id!)));
        for (let i = 0; i < 5; i++) {
          t += 100;
          await vi.advanceTimersByTimeAsync(100);
        }
        await Promise.all(calls);
        return woken;
      };
      expect(await order()).toEqual(['h1', 'h2', 'h3', 'h4', 'v1']);
      // the other namespace's one request waits behind one of the flood's, not all of them
      expect(await order(new RoundRobin<() => void>())).toEqual(['h1', 'v1', 'h2', 'h3', 'h4']);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('namespaceOf: the tenant of a request path', () => {
  it('is the namespace a path names, "" for cluster-scoped paths', () => {
    expect(namespaceOf('/api/v1/namespaces/team-a/secrets/x')).toBe('team-a');
    expect(namespaceOf('/apis/token-operator.io/v1alpha1/namespaces/team-b/accesstokens/t/status')).toBe('team-b');
    expect(namespaceOf('/apis/token-operator.io/v1alpha1/deltasharetokens')).toBe('');
    expect(namespaceOf('/api/v1/namespaces/team-a')).toBe('');
  });
});
