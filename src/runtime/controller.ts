import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { keyOf, type InformerEvent, type ObjectCache } from './informer.js';
import type { KubeObject } from './kube-client.js';
import type { OperatorMetrics } from './metrics.js';
import type { Clock } from '../schedule/clock.js';
import { tenantOf } from '../schedule/round-robin.js';
import { WorkQueue } from './work-queue.js';
import type { WorkerPool } from './worker-pool.js';

export interface ReconcileResult {
  /** look again after this long (scheduled rotation, back-off); undefined = only on change */
  requeueAfterMs?: number;
}

export type ReconcileFn = (key: string, log: Logger) => Promise<ReconcileResult>;

export interface ControllerOptions<T extends KubeObject> {
  kind: string;
  informer: ObjectCache<T>;
  reconcile: ReconcileFn;
  /** how many keys may be reconciled at once; with a pool, at most as many as it has free slots */
  workers: number;
  /** slots shared with the other controllers of the process (worker-pool.ts) */
  pool?: WorkerPool;
  logger: Logger;
  metrics: OperatorMetrics;
  /** the queue's wake-ups run on it */
  clock?: Clock;
}

/**
 * controller-runtime's contract in TypeScript: informer events become keys in a
 * de-duplicating queue; N workers reconcile keys one at a time each; the result says when
 * to look again; an unexpected error backs off per key. Level-triggered: a reconcile
 * reads the current state and never depends on which event woke it.
 */
export class Controller<T extends KubeObject> {
  readonly queue: WorkQueue;
  private workers: Promise<void>[] = [];
  private stopping = false;
  /**
   * Keys taken from the queue that wait for a pool slot: their reconcile has read nothing yet
   * and will read the cache as it is when it starts, so events for them need no second look.
   */
  private readonly waitingForSlot = new Set<string>();
  /**
   * Keys being reconciled: the resourceVersions of events that arrived meanwhile, and of the
   * objects this reconcile wrote. A write's watch echo can arrive before the write's own
   * response (two connections); without this, each such echo queued a reconcile that found
   * nothing to do. etcd revisions are unique across resources, so the resource's own writes
   * and its Secrets' writes share one set.
   */
  private readonly inFlight = new Map<string, { seen: Set<string>; ours: Set<string>; other: boolean }>();

  constructor(private readonly o: ControllerOptions<T>) {
    this.queue = new WorkQueue({
      ...(o.clock ? { clock: o.clock } : {}),
      onDepth: (d) => o.metrics.queueDepth.set({ kind: o.kind }, d),
      onAdd: () => o.metrics.queueAdds.inc({ kind: o.kind }),
    });
    o.informer.on((event, obj) => this.notify(keyOf(obj), event, obj.metadata?.resourceVersion));
    o.informer.onUpsert((obj) => this.noteOwnWrite(keyOf(obj), obj.metadata?.resourceVersion));
  }

  enqueue(key: string): void {
    this.queue.add(key);
  }

  /**
   * A watch event concerning key (its resource, or an object it owns). Queued, unless that key is
   * being reconciled right now: then it is decided when the reconcile ends (see inFlight).
   */
  notify(key: string, event: InformerEvent, resourceVersion: string | undefined): void {
    if (this.waitingForSlot.has(key)) return;
    const f = this.inFlight.get(key);
    if (!f) return this.enqueue(key);
    if (event === 'resync') return; // the running reconcile reads the same cache
    if (event === 'delete' || resourceVersion === undefined) f.other = true;
    else f.seen.add(resourceVersion);
  }

  /** An object the reconcile of key has just written (its resource, or an object it owns). */
  noteOwnWrite(key: string, resourceVersion: string | undefined): void {
    if (resourceVersion !== undefined) this.inFlight.get(key)?.ours.add(resourceVersion);
  }

  enqueueAll(): void {
    for (const obj of this.o.informer.list()) this.enqueue(keyOf(obj));
  }

  start(): void {
    for (let i = 0; i < this.o.workers; i++) this.workers.push(this.worker());
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.queue.shutdown();
    await Promise.all(this.workers);
  }

  private async worker(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      if (this.o.pool) {
        this.waitingForSlot.add(key);
        await this.o.pool.acquire(tenantOf(key));
        this.waitingForSlot.delete(key);
        if (this.stopping) {
          this.o.pool.release();
          this.queue.done(key);
          return;
        }
      }
      const flight = { seen: new Set<string>(), ours: new Set<string>(), other: false };
      this.inFlight.set(key, flight);
      const log = this.o.logger.child({ kind: this.o.kind, key, reconcileId: randomBytes(4).toString('hex') });
      const end = this.o.metrics.reconcileDuration.startTimer({ kind: this.o.kind });
      try {
        const r = await this.o.reconcile(key, log);
        this.queue.forget(key);
        if (r.requeueAfterMs !== undefined) this.queue.addAfter(key, r.requeueAfterMs);
        this.o.metrics.reconciles.inc({ kind: this.o.kind, result: r.requeueAfterMs !== undefined ? 'requeue' : 'success' });
      } catch (e) {
        const delay = this.queue.addRateLimited(key);
        this.o.metrics.reconciles.inc({ kind: this.o.kind, result: 'error' });
        log.warn({ err: e instanceof Error ? e.message : String(e), retryInMs: delay }, 'reconcile failed');
      } finally {
        end();
        this.o.pool?.release();
        this.inFlight.delete(key);
        // someone else's change arrived while we worked: look again (the queue runs it after done)
        if (flight.other || [...flight.seen].some((rv) => !flight.ours.has(rv))) this.queue.add(key);
        this.queue.done(key);
      }
    }
  }
}
