import { after, monotonicMs, systemClock, type Clock } from '../schedule/clock.js';
import { QUEUE_RETRY, queueRetryDelay } from '../schedule/retry.js';
import { TokenBucket } from '../schedule/token-bucket.js';
import { RoundRobin, tenantOf } from '../schedule/round-robin.js';

/**
 * A keyed work queue with controller-runtime semantics: a key is queued at most once,
 * is never processed by two workers at once (a change during processing re-queues it
 * after `done`), can be delayed (`addAfter`, the earliest due time wins), and failures
 * back off per key (exponential) and globally (token bucket). Keys are handed out FIFO within a
 * namespace and round-robin between namespaces (round-robin.ts): one namespace's herd of
 * rotate-now annotations delays another namespace's due key by at most one key per busy
 * namespace, not by the whole herd.
 */
export interface WorkQueueOptions {
  /** delayed wake-ups run on this clock's timers (default: the system's) */
  clock?: Clock;
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** overall retry rate limit (default QUEUE_RETRY in schedule/retry.ts: client-go's 10 qps, burst 100) */
  qps?: number;
  burst?: number;
  onDepth?: (depth: number) => void;
  onAdd?: () => void;
}

// A timer overflows past 2^31-1 ms (~24.8 days). Long waits wake early and the
// reconciler simply schedules again, which costs no write.
export const MAX_TIMER_MS = 12 * 60 * 60 * 1000;

export class WorkQueue {
  /** keys ready for a worker, per namespace */
  private readonly ready = new RoundRobin<string>();
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  /**
   * Delayed keys and when they are due, in monotonic ms (monotonicMs), not the clock's wall
   * time: a wait is a duration, so a wall clock that NTP steps back must not add the step to every
   * waiting key, and a test's ManualClock (its `now` moves by hand, its waits pass in real time)
   * must not hold keys back, which it did: each shorter wake-up that fired re-armed the timer for
   * the standing clock's full delay again, so a 30 s check starved while retries kept coming. One timer serves them all, armed for the
   * earliest, over a min-heap of (due, key) wake-ups: a Node timer per key (the Timeout, its
   * closure, an entry object) cost about 300 bytes for each resource waiting for its rotation.
   * Heap entries whose due time no longer matches `delayed` (replaced by an earlier one,
   * cancelled) are stale and skipped when they come up.
   */
  private readonly delayed = new Map<string, number>();
  private heapDue: number[] = [];
  private heapKey: string[] = [];
  /** cancels the one timer, when armed */
  private timer: (() => void) | undefined;
  private timerDue = Number.POSITIVE_INFINITY;
  private readonly failures = new Map<string, number>();
  private readonly waiters: Array<(key: string | undefined) => void> = [];
  private readonly bucket: TokenBucket;
  private readonly clock: Clock;
  private shuttingDown = false;

  constructor(private readonly opts: WorkQueueOptions = {}) {
    this.clock = opts.clock ?? systemClock;
    this.bucket = new TokenBucket(opts.qps ?? QUEUE_RETRY.qps, opts.burst ?? QUEUE_RETRY.burst);
  }

  get depth(): number {
    return this.ready.size;
  }

  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    this.opts.onAdd?.();
    if (this.processing.has(key)) return;
    this.push(key);
  }

  private push(key: string): void {
    const waiter = this.waiters.shift();
    if (waiter) {
      this.dirty.delete(key);
      this.processing.add(key);
      waiter(key);
      return;
    }
    this.ready.push(tenantOf(key), key);
    this.opts.onDepth?.(this.depth);
  }

  /** Queue the key after `ms`; an earlier pending due time is kept. */
  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) return this.add(key);
    const delay = Math.min(ms, MAX_TIMER_MS);
    const due = monotonicMs() + delay;
    const existing = this.delayed.get(key);
    if (existing !== undefined && existing <= due) return;
    this.delayed.set(key, due);
    // stale entries are dropped when they outnumber the live ones
    if (this.heapDue.length >= 64 && this.heapDue.length > 2 * this.delayed.size) this.rebuildHeap();
    else this.heapPush(due, key);
    this.arm();
  }

  /** (Re)arms the one timer for the earliest wake-up, unless it is armed for that or earlier. */
  private arm(): void {
    const next = this.heapDue[0];
    if (next === undefined) {
      this.timer?.();
      this.timer = undefined;
      this.timerDue = Number.POSITIVE_INFINITY;
      return;
    }
    if (this.timer && this.timerDue <= next) return;
    this.timer?.();
    this.timerDue = next;
    this.timer = after(this.clock, Math.max(0, next - monotonicMs()), () => this.fire(next));
  }

  /** Queues every key due by now, or by the time this timer was armed for (it has waited that long). */
  private fire(armedFor: number): void {
    this.timer = undefined;
    this.timerDue = Number.POSITIVE_INFINITY;
    const until = Math.max(monotonicMs(), armedFor);
    while (this.heapDue.length && this.heapDue[0]! <= until) {
      const due = this.heapDue[0]!;
      const key = this.heapKey[0]!;
      this.heapPop();
      if (this.delayed.get(key) !== due) continue; // stale
      this.delayed.delete(key);
      this.add(key);
    }
    this.arm();
  }

  private heapPush(due: number, key: string): void {
    const d = this.heapDue;
    const k = this.heapKey;
    let i = d.length;
    d.push(due);
    k.push(key);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (d[parent]! <= due) break;
      d[i] = d[parent]!;
      k[i] = k[parent]!;
      i = parent;
    }
    d[i] = due;
    k[i] = key;
  }

  private heapPop(): void {
    const d = this.heapDue;
    const k = this.heapKey;
    const lastDue = d.pop()!;
    const lastKey = k.pop()!;
    const n = d.length;
    if (n === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const c = l + 1 < n && d[l + 1]! < d[l]! ? l + 1 : l;
      if (d[c]! >= lastDue) break;
      d[i] = d[c]!;
      k[i] = k[c]!;
      i = c;
    }
    d[i] = lastDue;
    k[i] = lastKey;
  }

  private rebuildHeap(): void {
    this.heapDue = [];
    this.heapKey = [];
    for (const [key, due] of this.delayed) this.heapPush(due, key);
  }

  /** Queue after the per-key exponential delay or the global bucket's delay, whichever is longer. */
  addRateLimited(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    const perKey = queueRetryDelay(n, { ...QUEUE_RETRY, ...(this.opts.baseDelayMs !== undefined ? { baseDelayMs: this.opts.baseDelayMs } : {}), ...(this.opts.maxDelayMs !== undefined ? { maxDelayMs: this.opts.maxDelayMs } : {}) });
    const global = this.bucket.reserve();
    const delay = Math.max(perKey, global);
    this.addAfter(key, delay);
    return delay;
  }

  forget(key: string): void {
    this.failures.delete(key);
  }

  failuresOf(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** Drop any pending delayed wake-up for a key (e.g. the object is gone). */
  cancel(key: string): void {
    this.delayed.delete(key); // its heap entry is now stale
    this.failures.delete(key);
  }

  /** Resolves with the next key, or undefined once shut down. */
  get(): Promise<string | undefined> {
    const key = this.ready.shift();
    if (key !== undefined) {
      this.dirty.delete(key);
      this.processing.add(key);
      this.opts.onDepth?.(this.depth);
      return Promise.resolve(key);
    }
    if (this.shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.has(key)) {
      this.dirty.delete(key);
      this.dirty.add(key);
      this.ready.push(tenantOf(key), key);
      this.opts.onDepth?.(this.depth);
      // a worker may be idle waiting: hand it the next key (whoever's turn it is)
      const waiter = this.waiters.shift();
      if (waiter) {
        const next = this.ready.shift()!;
        this.dirty.delete(next);
        this.processing.add(next);
        waiter(next);
      }
    }
  }

  shutdown(): void {
    this.shuttingDown = true;
    this.timer?.();
    this.timer = undefined;
    this.delayed.clear();
    this.heapDue = [];
    this.heapKey = [];
    for (const w of this.waiters.splice(0)) w(undefined);
  }
}
