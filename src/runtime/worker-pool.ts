import { RoundRobin } from '../schedule/round-robin.js';

/**
 * Reconcile slots shared by the controllers of one process. With a fixed number of workers per
 * kind, a burst of one kind (DataTokens, whose first issue waits on Privicore's asynchronous
 * commands) queued behind its own workers while the other kinds' workers sat idle; from a
 * shared pool each kind uses what the others leave free. Waiters are served round-robin by
 * tenant (the namespace of the key they hold), first come first served within one: a kind or a
 * namespace with a long backlog cannot starve one that just got work.
 */
export class WorkerPool {
  private free: number;
  private readonly waiting = new RoundRobin<() => void>();

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1) throw new Error(`worker pool size must be a positive integer, got ${size}`);
    this.free = size;
  }

  /** Resolves once a slot is this caller's; hand it back with release(). */
  acquire(tenant = ''): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(tenant, resolve));
  }

  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  }

  /** slots in use */
  get busy(): number {
    return this.size - this.free;
  }
}
