import type { Logger } from 'pino';
import { KubeApiError, type KubeClient, type KubeObject } from './kube-client.js';

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  logger: Logger;
  now?: () => Date;
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

/**
 * coordination.k8s.io/v1 Lease election with client-go's timing model: acquire when the
 * lease is free or expired, renew every retryPeriod, and stop leading (exit, so the
 * process restarts clean) if renewal fails for renewDeadline. Updates carry the
 * resourceVersion, so two candidates can never both win the same term.
 */
export class LeaderElector {
  private readonly leaseMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryMs: number;
  private stopped = false;
  private leading = false;
  private lastRenew = 0;

  constructor(
    private readonly client: KubeClient,
    private readonly opts: LeaderElectionOptions,
  ) {
    this.leaseMs = opts.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = opts.renewDeadlineMs ?? 10_000;
    this.retryMs = opts.retryPeriodMs ?? 2_000;
  }

  get isLeader(): boolean {
    return this.leading;
  }

  private get path(): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${this.opts.namespace}/leases/${this.opts.name}`;
  }

  private now(): Date {
    return this.opts.now?.() ?? new Date();
  }

  /** Resolves once this instance leads; then keeps renewing and calls onLost if it stops leading. */
  async run(onLost: () => void): Promise<void> {
    while (!this.stopped && !(await this.tryAcquireOrRenew())) await sleep(this.retryMs * (0.8 + Math.random() * 0.4));
    if (this.stopped) return;
    this.leading = true;
    this.lastRenew = Date.now();
    this.opts.logger.info({ lease: this.opts.name, identity: this.opts.identity }, 'became leader');
    void (async () => {
      while (!this.stopped) {
        await sleep(this.retryMs);
        if (this.stopped) return;
        const ok = await this.tryAcquireOrRenew().catch(() => false);
        if (ok) this.lastRenew = Date.now();
        else if (Date.now() - this.lastRenew > this.renewDeadlineMs) {
          this.leading = false;
          this.opts.logger.error({ lease: this.opts.name }, 'lost leadership');
          onLost();
          return;
        }
      }
    })();
  }

  /** Give the lease up on clean shutdown so a successor takes over at once. */
  async release(): Promise<void> {
    this.stopped = true;
    if (!this.leading) return;
    this.leading = false;
    const lease = await this.client.find<Lease>(this.path);
    if (lease?.spec?.holderIdentity !== this.opts.identity) return;
    await this.client
      .patch(this.path, { metadata: { resourceVersion: lease.metadata?.resourceVersion }, spec: { holderIdentity: null, leaseDurationSeconds: 1 } }, 'merge')
      .catch(() => undefined);
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const now = this.now();
    const spec = {
      holderIdentity: this.opts.identity,
      leaseDurationSeconds: Math.ceil(this.leaseMs / 1000),
      renewTime: microTime(now),
    };
    try {
      const lease = await this.client.find<Lease>(this.path);
      if (!lease) {
        await this.client.create(`/apis/coordination.k8s.io/v1/namespaces/${this.opts.namespace}/leases`, {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: this.opts.name, namespace: this.opts.namespace },
          spec: { ...spec, acquireTime: microTime(now), leaseTransitions: 0 },
        });
        return true;
      }
      const holder = lease.spec?.holderIdentity;
      const renewed = lease.spec?.renewTime ? Date.parse(lease.spec.renewTime) : 0;
      const duration = (lease.spec?.leaseDurationSeconds ?? 0) * 1000;
      const expired = renewed + duration < now.getTime();
      if (holder && holder !== this.opts.identity && !expired) return false;
      const takeover = holder !== this.opts.identity;
      await this.client.patch(
        this.path,
        {
          metadata: { resourceVersion: lease.metadata?.resourceVersion },
          spec: {
            ...spec,
            ...(takeover
              ? { acquireTime: microTime(now), leaseTransitions: (lease.spec?.leaseTransitions ?? 0) + 1 }
              : {}),
          },
        },
        'merge',
      );
      return true;
    } catch (e) {
      if (e instanceof KubeApiError && (e.conflict || e.status === 422)) return false;
      this.opts.logger.warn({ err: e instanceof Error ? e.message : String(e) }, 'lease update failed');
      return false;
    }
  }

  stop(): void {
    this.stopped = true;
  }
}

// Lease times are MicroTime: RFC 3339 with microseconds.
function microTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

// Not unref'd: a follower waiting for the lease may have nothing else keeping the process alive.
function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
