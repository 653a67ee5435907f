import type { Logger } from 'pino';
import { after, systemClock, type Clock } from '../schedule/clock.js';
import { KubeApiError, type KubeClient, type KubeObject } from './kube-client.js';

export type InformerEvent = 'add' | 'update' | 'delete' | 'resync';
export type InformerHandler<T> = (event: InformerEvent, obj: T, old?: T) => void;

export interface InformerOptions<T> {
  /** collection path, e.g. /apis/token-operator.io/v1alpha1/deltasharetokens or a namespaced one */
  path: string;
  labelSelector?: string;
  /** re-deliver every cached object this often (level-triggered safety net); 0 = never */
  resyncMs?: number;
  pageSize?: number;
  /** shrink what is cached; replaces the default (drop managedFields), so it must drop that too */
  transform?: (obj: T) => T;
  logger: Logger;
  /** its waits (resync, restart back-off) run on it; default the system's */
  clock?: Clock;
}

/**
 * List+watch cache. Unlike @kubernetes/client-node's ListWatch, which stops for good on
 * some watch errors, this one restarts forever: 410 Gone relists, any other error
 * backs off (1 s doubling to 30 s) and resumes from the last resourceVersion.
 */
export class Informer<T extends KubeObject> {
  private readonly store = new Map<string, T>();
  private readonly handlers: InformerHandler<T>[] = [];
  private readonly upsertHandlers: Array<(obj: T) => void> = [];
  private resourceVersion = '';
  private readonly abort = new AbortController();
  private cancelResync: (() => void) | undefined;
  private syncedResolve!: () => void;
  readonly synced: Promise<void> = new Promise((r) => (this.syncedResolve = r));
  private running = false;
  /** watch restarts, for tests and metrics */
  restarts = 0;

  private readonly clock: Clock;

  constructor(
    private readonly client: KubeClient,
    private readonly opts: InformerOptions<T>,
  ) {
    this.clock = opts.clock ?? systemClock;
  }

  on(handler: InformerHandler<T>): void {
    this.handlers.push(handler);
  }

  /** Called with every object our own writes returned (upsert): lets a controller tell its echoes from others' changes. */
  onUpsert(handler: (obj: T) => void): void {
    this.upsertHandlers.push(handler);
  }

  get(namespace: string | undefined, name: string): T | undefined {
    return this.store.get(keyFor(namespace, name));
  }

  list(): T[] {
    return [...this.store.values()];
  }

  /**
   * Write-through: the object our own write returned goes into the cache at once. The next
   * reconcile of the same key (which the queue runs only after this one) then sees what we
   * wrote, instead of a stale copy that could make it repeat a provider call.
   */
  upsert(obj: T): void {
    for (const h of this.upsertHandlers) h(obj);
    const key = keyOf(obj);
    const old = this.store.get(key);
    if (old && newerThan(old, obj)) return;
    this.store.set(key, this.transform(obj));
  }

  get size(): number {
    return this.store.size;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    void this.loop();
    if (this.opts.resyncMs) {
      const resyncMs = this.opts.resyncMs;
      const every = () => {
        this.cancelResync = after(this.clock, resyncMs, () => {
          for (const obj of this.store.values()) this.emit('resync', obj);
          every();
        });
      };
      every();
    }
  }

  stop(): void {
    this.running = false;
    this.abort.abort();
    this.cancelResync?.();
  }

  private emit(event: InformerEvent, obj: T, old?: T): void {
    for (const h of this.handlers) {
      try {
        h(event, obj, old);
      } catch (e) {
        this.opts.logger.error({ err: e }, 'informer handler failed');
      }
    }
  }

  private async loop(): Promise<void> {
    let delay = 1000;
    let needList = true;
    while (this.running) {
      try {
        if (needList) {
          await this.relist();
          needList = false;
          this.syncedResolve();
        }
        await this.client.watch(
          this.opts.path,
          {
            resourceVersion: this.resourceVersion,
            allowWatchBookmarks: true,
            labelSelector: this.opts.labelSelector,
            timeoutSeconds: 300 + Math.floor(Math.random() * 300),
          },
          (type, obj) => this.onWatchEvent(type, obj),
          this.abort.signal,
        );
        delay = 1000;
      } catch (e) {
        if (!this.running) return;
        if (e instanceof KubeApiError && e.gone) {
          needList = true;
          continue;
        }
        if (e instanceof WatchExpired) {
          needList = true;
          continue;
        }
        this.restarts++;
        // A server that answers (503/429 while it finishes starting) is back: retry soon.
        // Only an unreachable one earns the long exponential wait.
        const answered = e instanceof KubeApiError;
        const wait = answered ? Math.min(delay, 2000) : delay;
        this.opts.logger.warn({ err: errMessage(e), retryInMs: wait }, 'watch failed; restarting');
        await sleep(this.clock, wait, this.abort.signal);
        delay = answered ? delay : Math.min(delay * 2, 10_000);
      }
    }
  }

  private async relist(): Promise<void> {
    const seen = new Set<string>();
    let cont: string | undefined;
    let rv = '';
    do {
      const page = await this.client.list<T>(this.opts.path, {
        labelSelector: this.opts.labelSelector,
        limit: this.opts.pageSize ?? 500,
        continue: cont,
      });
      for (const raw of page.items) {
        const obj = this.transform(raw);
        const key = keyOf(obj);
        seen.add(key);
        const old = this.store.get(key);
        this.store.set(key, obj);
        if (!old) this.emit('add', obj);
        else if (old.metadata?.resourceVersion !== obj.metadata?.resourceVersion) this.emit('update', obj, old);
      }
      cont = page.metadata.continue || undefined;
      rv = page.metadata.resourceVersion ?? rv;
    } while (cont);
    for (const [key, old] of this.store) {
      if (!seen.has(key)) {
        this.store.delete(key);
        this.emit('delete', old);
      }
    }
    this.resourceVersion = rv;
  }

  /**
   * A custom transform builds the cached object itself and must leave managedFields out (the
   * operator's trimCached keeps only listed metadata fields): dropping it here too copied every
   * object's metadata twice per event.
   */
  private transform(obj: T): T {
    if (this.opts.transform) return this.opts.transform(obj);
    // A copy without the field, not `delete`: deleting a property turns the parsed object into
    // a dictionary-mode object, several hundred bytes more for every cached object.
    if (obj.metadata && 'managedFields' in obj.metadata) {
      const { managedFields: _managedFields, ...metadata } = obj.metadata;
      obj.metadata = metadata;
    }
    return obj;
  }

  private onWatchEvent(type: string, raw: KubeObject): void {
    if (type === 'BOOKMARK') {
      this.resourceVersion = raw.metadata?.resourceVersion ?? this.resourceVersion;
      return;
    }
    if (type === 'ERROR') {
      const status = raw as { code?: number };
      if (status.code === 410) throw new WatchExpired();
      throw new Error(`watch error event ${status.code ?? ''}`);
    }
    const obj = this.transform(raw as T);
    const key = keyOf(obj);
    this.resourceVersion = obj.metadata?.resourceVersion ?? this.resourceVersion;
    if (type === 'DELETED') {
      this.store.delete(key);
      this.emit('delete', obj);
      return;
    }
    const old = this.store.get(key);
    // A write-through copy can be newer than a watch event still in flight: never go back.
    if (old && newerThan(old, obj)) return;
    // The echo of our own write, already cached by upsert(): nothing new, so no handler runs
    // (each would queue a reconcile that finds nothing to do; that was one per write).
    if (old && old.metadata?.resourceVersion !== undefined && old.metadata.resourceVersion === obj.metadata?.resourceVersion) return;
    this.store.set(key, obj);
    this.emit(old ? 'update' : 'add', obj, old);
  }
}

/** etcd resourceVersions are integers in practice; compare them when they are. */
function newerThan(a: KubeObject, b: KubeObject): boolean {
  const x = Number(a.metadata?.resourceVersion);
  const y = Number(b.metadata?.resourceVersion);
  return Number.isFinite(x) && Number.isFinite(y) && x > y;
}

class WatchExpired extends Error {}

export function keyFor(namespace: string | undefined, name: string): string {
  return namespace ? `${namespace}/${name}` : name;
}

export function keyOf(obj: KubeObject): string {
  return keyFor(obj.metadata?.namespace, obj.metadata?.name ?? '');
}

export function splitKey(key: string): { namespace: string; name: string } {
  const i = key.indexOf('/');
  return { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

function errMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function sleep(clock: Clock, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const cancel = after(clock, ms, resolve, true);
    signal.addEventListener('abort', () => {
      cancel();
      resolve();
    });
  });
}

/** What controllers need from a cache, whether it spans the cluster or a set of namespaces. */
export interface ObjectCache<T extends KubeObject> {
  get(namespace: string | undefined, name: string): T | undefined;
  list(): T[];
  upsert(obj: T): void;
  on(handler: InformerHandler<T>): void;
  onUpsert(handler: (obj: T) => void): void;
  start(): void;
  stop(): void;
  readonly synced: Promise<unknown>;
}

/** One informer per watched namespace (namespace-scoped mode), presented as one cache. */
export class InformerSet<T extends KubeObject> implements ObjectCache<T> {
  readonly synced: Promise<unknown>;
  private readonly byNs = new Map<string, Informer<T>>();

  constructor(informers: Array<[namespace: string, informer: Informer<T>]>) {
    for (const [ns, inf] of informers) this.byNs.set(ns, inf);
    this.synced = Promise.all(informers.map(([, i]) => i.synced));
  }
  get(namespace: string | undefined, name: string): T | undefined {
    return namespace ? this.byNs.get(namespace)?.get(namespace, name) : undefined;
  }
  list(): T[] {
    return [...this.byNs.values()].flatMap((i) => i.list());
  }
  upsert(obj: T): void {
    const ns = obj.metadata?.namespace;
    if (ns) this.byNs.get(ns)?.upsert(obj);
  }
  on(handler: InformerHandler<T>): void {
    for (const i of this.byNs.values()) i.on(handler);
  }
  onUpsert(handler: (obj: T) => void): void {
    for (const i of this.byNs.values()) i.onUpsert(handler);
  }
  start(): void {
    for (const i of this.byNs.values()) i.start();
  }
  stop(): void {
    for (const i of this.byNs.values()) i.stop();
  }
}
