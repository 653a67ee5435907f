/**
 * At most `limit` grants in any window of `windowMs`, whenever the window starts: what a
 * vendor's "N requests per second" means. A token bucket does not promise that: after an idle
 * spell it releases its saved burst and refills within the same second (the scale bench's herd
 * saw 427 calls in one second at a 400/s setting with a 2× burst). Grants are first come,
 * first served; the times of the last `limit` grants are kept in a ring.
 */
export class WindowLimiter {
  private readonly granted: number[];
  /** ring index of the oldest of the last `limit` grants */
  private oldest = 0;
  private readonly waiters: Array<() => void> = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly limit: number,
    readonly windowMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!Number.isInteger(limit) || limit < 1) throw new Error(`limit must be a positive integer, got ${limit}`);
    this.granted = new Array<number>(limit).fill(Number.NEGATIVE_INFINITY);
  }

  /**
   * For a rate of `qps` calls per second: floor(qps) per second, or for a rate below one, one
   * call per 1/qps seconds. `marginMs` widens the window: requests that leave a window apart
   * can arrive closer together after network jitter.
   */
  static perSecond(qps: number, marginMs = 0, now?: () => number): WindowLimiter {
    if (!(qps > 0)) throw new Error(`qps must be positive, got ${qps}`);
    // 2.5/s is 2 per second, not 2 per 0.8 s: that would put 4 calls into some second
    return qps >= 1 ? new WindowLimiter(Math.floor(qps), 1000 + marginMs, now) : new WindowLimiter(1, 1000 / qps + marginMs, now);
  }

  /** nobody is waiting for a grant */
  get idle(): boolean {
    return this.waiters.length === 0;
  }

  /** Resolves when the caller may send. */
  take(): Promise<void> {
    if (this.waiters.length === 0 && this.tryGrant()) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      this.schedule();
    });
  }

  private tryGrant(): boolean {
    const t = this.now();
    if (t - this.granted[this.oldest]! < this.windowMs) return false;
    this.granted[this.oldest] = t;
    this.oldest = (this.oldest + 1) % this.limit;
    return true;
  }

  private schedule(): void {
    if (this.timer || this.waiters.length === 0) return;
    const wait = Math.max(0, this.granted[this.oldest]! + this.windowMs - this.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      while (this.waiters.length && this.tryGrant()) this.waiters.shift()!();
      this.schedule();
    }, Math.ceil(wait));
  }
}
