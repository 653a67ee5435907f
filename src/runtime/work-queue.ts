import { TokenBucket } from '../schedule/token-bucket.js';

/**
 * A keyed work queue with controller-runtime semantics: a key is queued at most once,
 * is never processed by two workers at once (a change during processing re-queues it
 * after `done`), can be delayed (`addAfter`, the earliest due time wins), and failures
 * back off per key (exponential) and globally (token bucket).
 */
export interface WorkQueueOptions {
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** overall retry rate limit (client-go: 10 qps, burst 100) */
  qps?: number;
  burst?: number;
  onDepth?: (depth: number) => void;
  onAdd?: () => void;
}

// setTimeout overflows past 2^31-1 ms (~24.8 days). Long waits wake early and the
// reconciler simply schedules again, which costs no write.
export const MAX_TIMER_MS = 12 * 60 * 60 * 1000;

export class WorkQueue {
  private readonly queue: string[] = [];
  private head = 0;
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly delayed = new Map<string, { due: number; timer: NodeJS.Timeout }>();
  private readonly failures = new Map<string, number>();
  private readonly waiters: Array<(key: string | undefined) => void> = [];
  private readonly bucket: TokenBucket;
  private shuttingDown = false;

  constructor(private readonly opts: WorkQueueOptions = {}) {
    this.bucket = new TokenBucket(opts.qps ?? 10, opts.burst ?? 100);
  }

  get depth(): number {
    return this.queue.length - this.head;
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
    this.queue.push(key);
    this.opts.onDepth?.(this.depth);
  }

  /** Queue the key after `ms`; an earlier pending due time is kept. */
  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) return this.add(key);
    const delay = Math.min(ms, MAX_TIMER_MS);
    const due = Date.now() + delay;
    const existing = this.delayed.get(key);
    if (existing && existing.due <= due) return;
    if (existing) clearTimeout(existing.timer);
    const timer = setTimeout(() => {
      this.delayed.delete(key);
      this.add(key);
    }, delay);
    timer.unref?.();
    this.delayed.set(key, { due, timer });
  }

  /** Queue after the per-key exponential delay or the global bucket's delay, whichever is longer. */
  addRateLimited(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    const base = this.opts.baseDelayMs ?? 1000;
    const perKey = Math.min(base * 2 ** n, this.opts.maxDelayMs ?? 5 * 60_000);
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
    const d = this.delayed.get(key);
    if (d) clearTimeout(d.timer);
    this.delayed.delete(key);
    this.failures.delete(key);
  }

  /** Resolves with the next key, or undefined once shut down. */
  get(): Promise<string | undefined> {
    if (this.head < this.queue.length) {
      const key = this.queue[this.head++]!;
      if (this.head > 1024 && this.head * 2 > this.queue.length) {
        this.queue.splice(0, this.head);
        this.head = 0;
      }
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
      this.queue.push(key);
      this.opts.onDepth?.(this.depth);
      // a worker may be idle waiting: hand it the key
      const waiter = this.waiters.shift();
      if (waiter) {
        const next = this.queue[this.head++]!;
        this.dirty.delete(next);
        this.processing.add(next);
        waiter(next);
      }
    }
  }

  shutdown(): void {
    this.shuttingDown = true;
    for (const d of this.delayed.values()) clearTimeout(d.timer);
    this.delayed.clear();
    for (const w of this.waiters.splice(0)) w(undefined);
  }
}
