import type { Logger } from 'pino';
import { KubeApiError, type KubeObject, type RequestOptions } from './kube-client.js';

/** The one call the elector makes (KubeClient has it): give it a client of its own (see operator.ts). */
export interface LeaseApi {
  request<T>(method: string, path: string, ro?: RequestOptions): Promise<T>;
}

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  logger: Logger;
  /** wall clock, for the times written into the Lease (read by people, never for decisions) */
  now?: () => Date;
  /** local monotonic milliseconds: every expiry and deadline is judged on it */
  monotonic?: () => number;
}

interface Lease extends KubeObject {
  spec?: {
    holderIdentity?: string | null;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

/** A write or provider call refused because this process does not hold the lease right now. */
export class LeaseNotHeldError extends Error {
  constructor(
    /** another candidate holds the lease: it will not come back to this process */
    readonly taken: boolean,
  ) {
    super(taken ? 'the leader lease is held by another replica' : 'the leader lease is not confirmed right now (renewal failing)');
    this.name = 'LeaseNotHeldError';
  }
}

type State = 'following' | 'leading' | 'lost' | 'stopped';

/**
 * coordination.k8s.io/v1 Lease election with client-go's timing model:
 *
 * - A candidate judges expiry by its OWN observation: the local (monotonic) time at which it last
 *   saw the record change (client-go's observedTime), against the record's leaseDurationSeconds.
 *   The holder's renewTime is never compared with the local clock, so clock skew between
 *   replicas cannot make a live lease look expired. A candidate that could not read the record
 *   starts its observation again (what it did not see may have changed): after an API outage,
 *   the holder gets a full lease duration to renew before anyone takes over.
 * - The holder renews every retryPeriod on a client of its own (its own rate limiter and
 *   connections, never queued behind reconciles), each attempt with a deadline inside the
 *   renew deadline, and stops leading when no renewal succeeded for renewDeadline.
 * - Updates carry the resourceVersion, so two candidates never both win the same term.
 *
 * The fence (what lets a process that lost the lease finish a one-time credential without a
 * second leader acting on the same resource): `fenced` is true while a renewal that STARTED less
 * than renewDeadline ago succeeded. A successor can only take over leaseDuration after it last saw
 * the record change, and renewDeadline < leaseDuration leaves the difference as margin for
 * latency and clock rate. Writes to the API server and provider calls are gated on it
 * (`assertFenced`). After losing leadership the process starts no new reconcile but keeps
 * renewing its own lease, for the reconciles still in flight only: while it renews, nobody can
 * take over; when the API server comes back after an outage, its first renewal re-establishes
 * the fence before anything of its is written. If another replica holds the lease by then (it
 * could read the record while this process could not write it), the fence never comes back and
 * the in-flight writes give up (LeaseNotHeldError with `taken`): the successor recovers the
 * resource the way it recovers from a crash.
 */
export class LeaderElector {
  private readonly leaseMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryMs: number;
  private state: State = 'following';
  private taken = false;
  /** monotonic start of the last successful acquire or renew */
  private renewedAt = Number.NEGATIVE_INFINITY;
  /** the record as last read (its resourceVersion), and when we saw it change */
  private observedVersion: string | undefined;
  private observedAt = 0;
  private onLost: (() => void) | undefined;
  private wake: (() => void) | undefined;

  constructor(
    private readonly client: LeaseApi,
    private readonly opts: LeaderElectionOptions,
  ) {
    this.leaseMs = opts.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = opts.renewDeadlineMs ?? 10_000;
    this.retryMs = opts.retryPeriodMs ?? 2_000;
    checkTiming(this.leaseMs, this.renewDeadlineMs, this.retryMs);
  }

  get isLeader(): boolean {
    return this.state === 'leading';
  }

  /** true while this process holds the lease by its own reckoning: renewed within the renew deadline */
  get fenced(): boolean {
    return !this.taken && !this.stopped && this.mono() - this.renewedAt < this.renewDeadlineMs;
  }

  /** Throws LeaseNotHeldError unless `fenced`: the gate for API writes and provider calls. */
  assertFenced(): void {
    if (!this.fenced) throw new LeaseNotHeldError(this.taken);
  }

  private get path(): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${this.opts.namespace}/leases/${this.opts.name}`;
  }

  private now(): Date {
    return this.opts.now?.() ?? new Date();
  }

  private mono(): number {
    return this.opts.monotonic?.() ?? performance.now();
  }

  /**
   * Resolves once this instance leads; then keeps renewing, and calls onLost once if it stops
   * leading. Renewal goes on after that (the fence for reconciles in flight) until release(),
   * stop(), or another replica is seen holding the lease.
   */
  async run(onLost: () => void): Promise<void> {
    this.onLost = onLost;
    while (this.state === 'following' && !(await this.tryAcquireOrRenew())) await this.sleep(this.retryMs * (0.8 + Math.random() * 0.4));
    if (this.state !== 'following') return;
    this.state = 'leading';
    this.opts.logger.info({ lease: this.opts.name, identity: this.opts.identity }, 'became leader');
    void this.renewLoop();
  }

  private async renewLoop(): Promise<void> {
    while (this.state === 'leading' || this.state === 'lost') {
      await this.sleep(this.retryMs);
      if (this.stopped) return;
      await this.tryAcquireOrRenew();
      if (this.taken) {
        this.lose('another replica holds the lease');
        return;
      }
      if (this.state === 'leading' && this.mono() - this.renewedAt > this.renewDeadlineMs) this.lose('no renewal succeeded within the renew deadline');
      else if (this.state === 'lost' && this.fenced) this.opts.logger.debug({ lease: this.opts.name }, 'lease renewed for the reconciles still in flight');
    }
  }

  private lose(why: string): void {
    if (this.state !== 'leading') return;
    this.state = 'lost';
    this.opts.logger.error({ lease: this.opts.name, why }, 'lost leadership');
    this.onLost?.();
  }

  /** Give the lease up (clean shutdown, or the drain after a loss ended) so a successor takes over at once. */
  async release(): Promise<void> {
    const held = this.state === 'leading' || this.state === 'lost';
    this.stop();
    if (!held || this.taken) return;
    try {
      const lease = await this.client.request<Lease>('GET', this.path, { verb: 'get', timeoutMs: this.renewDeadlineMs });
      if (lease?.spec?.holderIdentity !== this.opts.identity) return;
      await this.client.request('PATCH', this.path, {
        verb: 'patch',
        contentType: 'application/merge-patch+json',
        body: { metadata: { resourceVersion: lease.metadata?.resourceVersion }, spec: { holderIdentity: null, leaseDurationSeconds: 1 } },
        timeoutMs: this.renewDeadlineMs,
      });
    } catch {
      // the successor waits out the lease duration instead
    }
  }

  stop(): void {
    this.state = 'stopped';
    this.wake?.();
  }

  // a method, not a comparison TypeScript narrows away: the state changes while a loop awaits
  private get stopped(): boolean {
    return this.state === 'stopped';
  }

  /** One attempt, bounded by a deadline inside the renew deadline. True when the lease is ours now. */
  private async tryAcquireOrRenew(): Promise<boolean> {
    const started = this.mono();
    // a holder's attempt must end before its renew deadline does; a candidate's within half of it
    const remaining = this.state === 'leading' ? this.renewedAt + this.renewDeadlineMs - started : this.renewDeadlineMs;
    const timeoutMs = Math.max(200, Math.min(this.renewDeadlineMs / 2, remaining));
    const now = this.now();
    const spec = { holderIdentity: this.opts.identity, leaseDurationSeconds: Math.ceil(this.leaseMs / 1000), renewTime: microTime(now) };
    let lease: Lease | undefined;
    try {
      lease = await this.client.request<Lease>('GET', this.path, { verb: 'get', timeoutMs });
    } catch (e) {
      if (!(e instanceof KubeApiError && e.notFound)) {
        // could not look: whatever changed meanwhile went unseen, so observation starts again
        this.observedVersion = undefined;
        this.warn(e);
        return false;
      }
    }
    if (this.stopped) return false;
    try {
      if (!lease) {
        const created = await this.client.request<Lease>('POST', `/apis/coordination.k8s.io/v1/namespaces/${this.opts.namespace}/leases`, {
          verb: 'create',
          timeoutMs,
          body: {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name: this.opts.name, namespace: this.opts.namespace },
            spec: { ...spec, acquireTime: microTime(now), leaseTransitions: 0 },
          },
        });
        return this.won(created, started);
      }
      const version = lease.metadata?.resourceVersion;
      if (version !== this.observedVersion) {
        this.observedVersion = version;
        this.observedAt = this.mono();
      }
      const holder = lease.spec?.holderIdentity;
      const ours = holder === this.opts.identity;
      if (holder && !ours) {
        if (this.state !== 'following') {
          this.taken = true;
          return false;
        }
        const durationMs = (lease.spec?.leaseDurationSeconds ?? 0) * 1000;
        if (this.mono() - this.observedAt <= durationMs) return false;
      }
      const takeover = !ours;
      const updated = await this.client.request<Lease>('PATCH', this.path, {
        verb: 'patch',
        contentType: 'application/merge-patch+json',
        timeoutMs,
        body: {
          metadata: { resourceVersion: version },
          spec: { ...spec, ...(takeover ? { acquireTime: microTime(now), leaseTransitions: (lease.spec?.leaseTransitions ?? 0) + 1 } : {}) },
        },
      });
      return this.won(updated, started);
    } catch (e) {
      if (e instanceof KubeApiError && (e.conflict || e.status === 422)) return false;
      this.warn(e);
      return false;
    }
  }

  private won(lease: Lease, started: number): boolean {
    if (this.stopped) return false;
    this.renewedAt = started;
    this.observedVersion = lease.metadata?.resourceVersion;
    this.observedAt = this.mono();
    return true;
  }

  private warn(e: unknown): void {
    this.opts.logger.warn({ lease: this.opts.name, err: e instanceof Error ? e.message : String(e) }, 'lease update failed');
  }

  // Not unref'd: a follower waiting for the lease may have nothing else keeping the process alive.
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        if (this.wake === done) this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = done;
    });
  }
}

/**
 * client-go's rules: the holder must give up (renew deadline) before a candidate may take over
 * (lease duration), and must get more than one attempt within its deadline (retry period).
 */
export function checkTiming(leaseMs: number, renewDeadlineMs: number, retryMs: number): void {
  const problems: string[] = [];
  if (!(renewDeadlineMs < leaseMs)) {
    problems.push(`the renew deadline (${renewDeadlineMs / 1000}s) must be shorter than the lease duration (${leaseMs / 1000}s): a leader that cannot renew must stop before another replica may take over`);
  }
  if (!(retryMs < renewDeadlineMs)) {
    problems.push(`the retry period (${retryMs / 1000}s) must be shorter than the renew deadline (${renewDeadlineMs / 1000}s): otherwise one failed renewal loses the lease`);
  }
  if (problems.length) throw new Error(`invalid leader election timing: ${problems.join('; ')}`);
}

// Lease times are MicroTime: RFC 3339 with microseconds.
function microTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}
