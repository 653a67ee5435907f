/**
 * Injected time: every scheduling decision is testable to the millisecond, and every wait
 * (the work queue's wake-ups, leader election's renewals, retries, rate limits) goes through
 * here — the only place, with the HTTP and socket layer's own timeouts, that touches the
 * platform's timers.
 */
export interface Clock {
  now(): Date;
  /**
   * Calls `fn` after `ms` of this clock's time; the returned function cancels it. A timer does
   * not keep the process alive unless `keepAlive` says so. Absent: real time (a ManualClock's
   * `now` moves by hand, its waits pass in real time, so an operator under test still retries
   * and wakes up).
   */
  after?(ms: number, fn: () => void, keepAlive?: boolean): () => void;
}

function realAfter(ms: number, fn: () => void, keepAlive = false): () => void {
  const t = setTimeout(fn, Math.max(0, ms));
  if (!keepAlive) t.unref?.();
  return () => clearTimeout(t);
}

export const systemClock: Clock = { now: () => new Date(), after: realAfter };

/** Runs `fn` after `ms` on the clock; returns the cancel function. */
export function after(clock: Clock, ms: number, fn: () => void, keepAlive = false): () => void {
  return (clock.after ?? realAfter)(ms, fn, keepAlive);
}

/** Resolves after `ms` on the clock (`keepAlive`: the wait keeps the process alive). */
export function sleep(clock: Clock, ms: number, keepAlive = false): Promise<void> {
  return new Promise((resolve) => after(clock, ms, resolve, keepAlive));
}

/**
 * Milliseconds on a monotonic scale, for durations and rate windows that must hold even when
 * the wall clock (or a test's ManualClock) jumps.
 */
export const monotonicMs = (): number => performance.now();

/** A clock tests move by hand. */
export class ManualClock implements Clock {
  private t: number;
  constructor(start: Date | string | number = '2026-01-01T00:00:00Z') {
    this.t = new Date(start).getTime();
  }
  now(): Date {
    return new Date(this.t);
  }
  set(to: Date | string | number): void {
    this.t = new Date(to).getTime();
  }
  advance(ms: number): void {
    this.t += ms;
  }
}
