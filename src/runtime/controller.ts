import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { ObjectCache } from './informer.js';
import type { KubeObject } from './kube-client.js';
import type { OperatorMetrics } from './metrics.js';
import { WorkQueue } from './work-queue.js';

export interface ReconcileResult {
  /** look again after this long (scheduled rotation, back-off); undefined = only on change */
  requeueAfterMs?: number;
}

export type ReconcileFn = (key: string, log: Logger) => Promise<ReconcileResult>;

export interface ControllerOptions<T extends KubeObject> {
  kind: string;
  informer: ObjectCache<T>;
  reconcile: ReconcileFn;
  workers: number;
  logger: Logger;
  metrics: OperatorMetrics;
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
  private active = 0;

  constructor(private readonly o: ControllerOptions<T>) {
    this.queue = new WorkQueue({
      onDepth: (d) => o.metrics.queueDepth.set({ kind: o.kind }, d),
      onAdd: () => o.metrics.queueAdds.inc({ kind: o.kind }),
    });
    o.informer.on((_event, obj) => this.enqueue(keyOfObj(obj)));
  }

  enqueue(key: string): void {
    this.queue.add(key);
  }

  enqueueAll(): void {
    for (const obj of this.o.informer.list()) this.enqueue(keyOfObj(obj));
  }

  get busy(): number {
    return this.active;
  }

  start(): void {
    for (let i = 0; i < this.o.workers; i++) this.workers.push(this.worker());
  }

  async stop(): Promise<void> {
    this.queue.shutdown();
    await Promise.all(this.workers);
  }

  private async worker(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      this.active++;
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
        this.active--;
        this.queue.done(key);
      }
    }
  }
}

function keyOfObj(obj: KubeObject): string {
  return `${obj.metadata?.namespace}/${obj.metadata?.name}`;
}
