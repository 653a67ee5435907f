import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MAX_TIMER_MS, WorkQueue } from '../../../src/runtime/work-queue.js';
import { ManualClock } from '../../../src/schedule/clock.js';

/** Resolves with the next key if one is handed out before timers/microtasks settle, else 'none'. */
async function poll(q: WorkQueue): Promise<string | undefined | 'none'> {
  let got: string | undefined | 'none' = 'none';
  void q.get().then((k) => (got = k));
  await Promise.resolve();
  await Promise.resolve();
  return got;
}

describe('WorkQueue', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('queues a key once however often it is added', async () => {
    const q = new WorkQueue();
    q.add('ns/a');
    q.add('ns/a');
    q.add('ns/b');
    q.add('ns/a');
    expect(q.depth).toBe(2);
    expect(await q.get()).toBe('ns/a');
    expect(await q.get()).toBe('ns/b');
    expect(q.depth).toBe(0);
  });

  it('hands keys out in FIFO order', async () => {
    const q = new WorkQueue();
    for (const k of ['c', 'a', 'b']) q.add(k);
    expect([await q.get(), await q.get(), await q.get()]).toEqual(['c', 'a', 'b']);
  });

  describe('fairness between namespaces', () => {
    it("hands keys out round-robin by namespace, FIFO within one: a herd does not hold back another namespace's key", async () => {
      const q = new WorkQueue();
      for (let i = 0; i < 1000; i++) q.add(`herd/t${i}`);
      q.add('victim/due');
      q.add('quiet/one');
      const order = [await q.get(), await q.get(), await q.get(), await q.get(), await q.get()];
      expect(order).toEqual(['herd/t0', 'victim/due', 'quiet/one', 'herd/t1', 'herd/t2']);
      expect(q.depth).toBe(997);
    });

    it('a key that comes due during a herd waits behind at most one key of each busy namespace', async () => {
      const q = new WorkQueue();
      for (let i = 0; i < 500; i++) {
        q.add(`a/t${i}`);
        q.add(`b/t${i}`);
      }
      for (let i = 0; i < 7; i++) q.done((await q.get())!); // the herd is being worked through
      q.addAfter('victim/due', 1_000);
      await vi.advanceTimersByTimeAsync(1_000);
      const next = [await q.get(), await q.get(), await q.get()];
      expect(next).toContain('victim/due');
    });

    it('a key dirtied while processing goes to the back of its own namespace only', async () => {
      const q = new WorkQueue();
      q.add('a/1');
      q.add('a/2');
      q.add('b/1');
      expect(await q.get()).toBe('a/1');
      q.add('a/1');
      q.done('a/1');
      expect([await q.get(), await q.get(), await q.get()]).toEqual(['b/1', 'a/2', 'a/1']);
    });
  });

  it('never gives the same key to two workers at once', async () => {
    const q = new WorkQueue();
    q.add('k');
    expect(await q.get()).toBe('k');
    q.add('k'); // changed while a worker holds it
    expect(q.depth).toBe(0);
    const second = q.get();
    let handed: string | undefined;
    void second.then((k) => (handed = k));
    await vi.advanceTimersByTimeAsync(1000);
    expect(handed).toBeUndefined(); // still blocked: the first worker is not done
    q.done('k');
    expect(await second).toBe('k'); // re-queued after done, handed to the waiting worker
  });

  it('re-queues a key dirtied during processing exactly once', async () => {
    const q = new WorkQueue();
    q.add('k');
    await q.get();
    q.add('k');
    q.add('k');
    q.done('k');
    expect(q.depth).toBe(1);
    expect(await q.get()).toBe('k');
    q.done('k');
    expect(q.depth).toBe(0);
    expect(await poll(q)).toBe('none');
  });

  it('does not re-queue a key that was not dirtied', async () => {
    const q = new WorkQueue();
    q.add('k');
    await q.get();
    q.done('k');
    expect(q.depth).toBe(0);
  });

  it('lets other keys through while one is processing', async () => {
    const q = new WorkQueue();
    q.add('a');
    q.add('b');
    expect(await q.get()).toBe('a');
    q.add('a');
    expect(await q.get()).toBe('b');
    expect(q.depth).toBe(0);
  });

  it('wakes a waiting worker when a key arrives', async () => {
    const q = new WorkQueue();
    const waiting = q.get();
    q.add('k');
    expect(await waiting).toBe('k');
    // the key is now processing: adding it again must not hand it out twice
    q.add('k');
    expect(await poll(q)).toBe('none');
  });

  describe('addAfter', () => {
    it('queues the key after the delay', async () => {
      const q = new WorkQueue();
      q.addAfter('k', 5_000);
      await vi.advanceTimersByTimeAsync(4_999);
      expect(q.depth).toBe(0);
      await vi.advanceTimersByTimeAsync(1);
      expect(q.depth).toBe(1);
    });

    it('keeps the earliest due time: a later request does not postpone', async () => {
      const q = new WorkQueue();
      q.addAfter('k', 1_000);
      q.addAfter('k', 60_000);
      await vi.advanceTimersByTimeAsync(1_000);
      expect(q.depth).toBe(1);
    });

    it('an earlier request replaces a later one (and the later one does not fire too)', async () => {
      const q = new WorkQueue();
      q.addAfter('k', 60_000);
      q.addAfter('k', 1_000);
      await vi.advanceTimersByTimeAsync(1_000);
      expect(await q.get()).toBe('k');
      q.done('k');
      await vi.advanceTimersByTimeAsync(120_000);
      expect(q.depth).toBe(0);
    });

    it('queues at once for a zero or negative delay', () => {
      const q = new WorkQueue();
      q.addAfter('a', 0);
      q.addAfter('b', -5);
      expect(q.depth).toBe(2);
    });

    it('wakes long waits early instead of overflowing setTimeout', async () => {
      const q = new WorkQueue();
      q.addAfter('k', 90 * 24 * 3_600_000); // 90 days: past setTimeout's 24.8-day limit
      await vi.advanceTimersByTimeAsync(MAX_TIMER_MS - 1);
      expect(q.depth).toBe(0);
      await vi.advanceTimersByTimeAsync(1);
      expect(q.depth).toBe(1);
    });

    it("a clock that stands still (a test's ManualClock: waits pass in real time) does not postpone a wake-up each time a shorter one fires", async () => {
      const q = new WorkQueue({ clock: new ManualClock('2026-11-23T10:00:00Z') });
      q.addAfter('ns/check', 30_000);
      // other keys keep asking for short wake-ups meanwhile (retries, clean-ups)
      for (let i = 0; i < 29; i++) {
        q.addAfter(`ns/short${i}`, 500);
        await vi.advanceTimersByTimeAsync(1_000);
      }
      const early = new Set<string>();
      while (q.depth > 0) early.add((await q.get())!);
      expect(early.has('ns/check')).toBe(false);
      expect(early.size).toBe(29);
      await vi.advanceTimersByTimeAsync(1_000); // 30 s since it was asked for
      expect(await poll(q)).toBe('ns/check');
    });

    it('a wall clock that steps back does not delay keys already waiting', async () => {
      const clock = new ManualClock('2026-11-23T10:00:00Z');
      const q = new WorkQueue({ clock });
      q.addAfter('ns/a', 10_000);
      await vi.advanceTimersByTimeAsync(5_000);
      clock.advance(5_000);
      clock.advance(-3_600_000); // NTP steps the wall clock back an hour
      q.addAfter('ns/b', 1_000); // re-arms the timer under the stepped clock
      await vi.advanceTimersByTimeAsync(1_000);
      expect(await poll(q)).toBe('ns/b');
      await vi.advanceTimersByTimeAsync(4_000);
      expect(await poll(q)).toBe('ns/a');
    });

    it('cancel drops a pending wake-up', async () => {
      const q = new WorkQueue();
      q.addAfter('k', 1_000);
      q.cancel('k');
      await vi.advanceTimersByTimeAsync(5_000);
      expect(q.depth).toBe(0);
    });
  });

  describe('addRateLimited', () => {
    it('backs off exponentially per key, capped, and forget resets it', () => {
      const q = new WorkQueue({ baseDelayMs: 100, maxDelayMs: 1_000 });
      expect([1, 2, 3, 4, 5, 6].map(() => q.addRateLimited('k'))).toEqual([100, 200, 400, 800, 1_000, 1_000]);
      expect(q.failuresOf('k')).toBe(6);
      expect(q.addRateLimited('other')).toBe(100); // per key
      q.forget('k');
      expect(q.failuresOf('k')).toBe(0);
      expect(q.addRateLimited('k')).toBe(100);
    });

    it('queues the key after the returned delay', async () => {
      const q = new WorkQueue({ baseDelayMs: 100 });
      const d = q.addRateLimited('k');
      await vi.advanceTimersByTimeAsync(d - 1);
      expect(q.depth).toBe(0);
      await vi.advanceTimersByTimeAsync(1);
      expect(q.depth).toBe(1);
    });

    it('spreads retries of many keys at the global rate once the burst is spent', () => {
      // 10 retries per second, burst 5: keys 6, 7, 8 … wait 100 ms, 200 ms, 300 ms …
      const q = new WorkQueue({ baseDelayMs: 1, qps: 10, burst: 5 });
      const delays = Array.from({ length: 10 }, (_, i) => q.addRateLimited(`k${i}`));
      expect(delays.slice(0, 5)).toEqual([1, 1, 1, 1, 1]);
      const later = delays.slice(5);
      for (let i = 1; i < later.length; i++) expect(later[i]!).toBeGreaterThan(later[i - 1]!);
      expect(later[0]).toBeGreaterThanOrEqual(99);
      expect(later[4]).toBeGreaterThanOrEqual(499);
    });
  });

  describe('shutdown', () => {
    it('releases waiting workers with undefined', async () => {
      const q = new WorkQueue();
      const a = q.get();
      const b = q.get();
      q.shutdown();
      expect(await a).toBeUndefined();
      expect(await b).toBeUndefined();
      expect(await q.get()).toBeUndefined();
    });

    it('accepts no new keys and fires no pending timers', async () => {
      const q = new WorkQueue();
      q.addAfter('later', 1_000);
      q.shutdown();
      q.add('k');
      q.addAfter('k2', 10);
      q.addRateLimited('k3');
      await vi.advanceTimersByTimeAsync(10_000);
      expect(q.depth).toBe(0);
      expect(vi.getTimerCount()).toBe(0);
    });

    it('lets workers drain keys queued before shutdown', async () => {
      const q = new WorkQueue();
      q.add('a');
      q.shutdown();
      expect(await q.get()).toBe('a');
      expect(await q.get()).toBeUndefined();
    });
  });

  it('reports depth and adds', () => {
    const depths: number[] = [];
    let adds = 0;
    const q = new WorkQueue({ onDepth: (d) => depths.push(d), onAdd: () => adds++ });
    q.add('a');
    q.add('b');
    q.add('a');
    expect(adds).toBe(2);
    expect(depths).toEqual([1, 2]);
  });
});
