import { after, monotonicMs, systemClock } from './clock.js';
import { Fifo } from './round-robin.js';

/** Who is woken next when a token comes free: first come first served, or e.g. round-robin between tenants (RoundRobin). */
export interface WaitQueue {
  push(tenant: string, wake: () => void): void;
  shift(): (() => void) | undefined;
  readonly size: number;
}

/** Plain arrival order, whoever the tenant. */
function arrival(): WaitQueue {
  const q = new Fifo<() => void>();
  return {
    push: (_tenant, wake) => q.push(wake),
    shift: () => q.shift(),
    get size() {
      return q.length;
    },
  };
}

/**
 * A token bucket: `rate` tokens per second, up to `burst` saved. Used for the client's
 * QPS limit and the work queue's global rate limit (client-go uses the same shape). Callers
 * that must wait are woken in the order `waiters` gives (default: arrival).
 */
export class TokenBucket {
  private tokens: number;
  private last: number;
  /** set while a wake-up is armed */
  private timer: (() => void) | undefined;

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    private readonly now: () => number = monotonicMs,
    private readonly waiters: WaitQueue = arrival(),
  ) {
    this.tokens = burst;
    this.last = now();
  }

  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.rate);
    this.last = t;
  }

  /** Takes one token if available now. */
  tryTake(): boolean {
    this.refill();
    if (this.tokens >= 1 && this.waiters.size === 0) {
      this.tokens -= 1;
      return true;
    }
    return false;
  }

  /**
   * Takes one token now, going into debt when none is left, and answers how long the caller
   * must wait before using it (client-go's `Reserve().Delay()`). Unlike peeking at
   * `delayMs()`, successive callers queue up behind each other, so the rate really holds.
   */
  reserve(): number {
    this.refill();
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens / this.rate) * 1000);
  }

  /** Milliseconds until one token is available. */
  delayMs(): number {
    this.refill();
    return this.tokens >= 1 ? 0 : Math.ceil(((1 - this.tokens) / this.rate) * 1000);
  }

  /** Resolves once a token is the caller's; `tenant` places a waiting caller in `waiters`. */
  take(tenant = ''): Promise<void> {
    if (!Number.isFinite(this.rate) || this.tryTake()) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiters.push(tenant, resolve);
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.timer || this.waiters.size === 0) return;
    // a waiting request keeps the process alive, as a socket would
    this.timer = after(
      systemClock,
      this.delayMs(),
      () => {
        this.timer = undefined;
        this.refill();
        while (this.waiters.size && this.tokens >= 1) {
          this.tokens -= 1;
          this.waiters.shift()!();
        }
        this.schedule();
      },
      true,
    );
  }
}
