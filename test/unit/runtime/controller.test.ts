import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { Controller } from '../../../src/runtime/controller.js';
import type { InformerEvent, InformerHandler, ObjectCache } from '../../../src/runtime/informer.js';
import type { KubeObject } from '../../../src/runtime/kube-client.js';
import { OperatorMetrics } from '../../../src/runtime/metrics.js';
import { WorkerPool } from '../../../src/runtime/worker-pool.js';

/**
 * Watch events that arrive while their key is being reconciled: the echo of the reconcile's own
 * write (which can beat the write's response) must not queue another reconcile; anyone else's
 * change must. (The real informer and API server are covered by the integration suite.)
 */
class Cache implements ObjectCache<KubeObject> {
  readonly synced = Promise.resolve();
  private readonly handlers: InformerHandler<KubeObject>[] = [];
  private readonly upserts: Array<(o: KubeObject) => void> = [];
  get(): KubeObject | undefined {
    return undefined;
  }
  list(): KubeObject[] {
    return [];
  }
  upsert(obj: KubeObject): void {
    for (const h of this.upserts) h(obj);
  }
  on(h: InformerHandler<KubeObject>): void {
    this.handlers.push(h);
  }
  onUpsert(h: (o: KubeObject) => void): void {
    this.upserts.push(h);
  }
  start(): void {}
  stop(): void {}
  event(type: InformerEvent, rv: string): void {
    for (const h of this.handlers) h(type, obj(rv));
  }
}

const obj = (rv: string): KubeObject => ({ apiVersion: 'v1', kind: 'X', metadata: { namespace: 'ns', name: 'a', resourceVersion: rv } });

function controller(cache: Cache, reconcile: (key: string) => Promise<object>, pool?: WorkerPool, workers = pool?.size ?? 1): Controller<KubeObject> {
  return new Controller<KubeObject>({
    kind: 'X',
    informer: cache,
    workers,
    ...(pool ? { pool } : {}),
    logger: pino({ level: 'silent' }),
    metrics: new OperatorMetrics('test', false),
    reconcile,
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** runs the controller until idle; `during` runs inside the first reconcile */
async function run(during: (cache: Cache, ctl: Controller<KubeObject>) => void): Promise<number> {
  const cache = new Cache();
  let calls = 0;
  const ctl: Controller<KubeObject> = controller(cache, async () => {
    calls++;
    if (calls === 1) during(cache, ctl);
    await new Promise((r) => setTimeout(r, 5));
    return {};
  });
  ctl.start();
  ctl.enqueue('ns/a');
  await new Promise((r) => setTimeout(r, 60));
  await ctl.stop();
  return calls;
}

describe('Controller: events during a reconcile', () => {
  it('ignores the echo of its own write even when the echo comes before the response', async () => {
    expect(await run((c) => (c.event('update', '7'), c.upsert(obj('7'))))).toBe(1);
  });

  it('ignores the echo of a write to an owned object (the Secret) likewise', async () => {
    expect(await run((_c, ctl) => (ctl.notify('ns/a', 'add', '8'), ctl.noteOwnWrite('ns/a', '8')))).toBe(1);
  });

  it("reconciles again for someone else's change, even when its own write's echo came too", async () => {
    expect(await run((c) => (c.event('update', '6'), c.event('update', '7'), c.upsert(obj('7'))))).toBe(2);
  });

  it('reconciles again after a delete, and ignores a resync that the running reconcile covers', async () => {
    expect(await run((c) => c.event('delete', '9'))).toBe(2);
    expect(await run((c) => c.event('resync', '5'))).toBe(1);
  });

  it('queues events normally when the key is not being reconciled', async () => {
    const cache = new Cache();
    let calls = 0;
    const ctl = controller(cache, async () => (calls++, {}));
    ctl.start();
    cache.event('update', '3');
    await new Promise((r) => setTimeout(r, 20));
    cache.upsert(obj('4')); // a write outside any reconcile queues nothing
    await new Promise((r) => setTimeout(r, 20));
    await ctl.stop();
    expect(calls).toBe(1);
  });
});

describe('Controller: reconcile slots shared between kinds', () => {
  /** two controllers on one pool; reconciles take `ms`; records how many ran at once, per controller and overall */
  function pair(size: number, ms: number) {
    const pool = new WorkerPool(size);
    const now = { a: 0, b: 0, all: 0 };
    const max = { a: 0, b: 0, all: 0 };
    const order: string[] = [];
    const make = (name: 'a' | 'b') =>
      controller(new Cache(), async (key) => {
        now[name]++;
        now.all++;
        max[name] = Math.max(max[name], now[name]);
        max.all = Math.max(max.all, now.all);
        order.push(`${name}:${key}`);
        await sleep(ms);
        now[name]--;
        now.all--;
        return {};
      }, pool);
    return { pool, a: make('a'), b: make('b'), max, order };
  }

  it('lets a kind with a backlog use the slots the idle kind leaves free', async () => {
    const { a, b, max } = pair(4, 20);
    a.start();
    b.start();
    for (let i = 0; i < 8; i++) a.enqueue(`ns/k${i}`);
    await sleep(120);
    await Promise.all([a.stop(), b.stop()]);
    expect(max.a).toBe(4);
  });

  it('never runs more reconciles than the pool has slots, and serves the other kind as soon as a slot frees', async () => {
    const { a, b, max, order } = pair(2, 20);
    a.start();
    b.start();
    for (let i = 0; i < 6; i++) a.enqueue(`ns/k${i}`);
    await sleep(5);
    b.enqueue('ns/late');
    await sleep(200);
    await Promise.all([a.stop(), b.stop()]);
    expect(max.all).toBe(2);
    expect(order).toHaveLength(7);
    // a's two running reconciles end, then b's waiting worker is first in line
    expect(order.indexOf('b:ns/late')).toBeLessThanOrEqual(3);
  });

  it('does not reconcile twice for an event that arrived while the key waited for a slot', async () => {
    // two workers, one slot (the other controllers hold the rest): the second key is taken and waits
    const pool = new WorkerPool(1);
    const cache = new Cache();
    const calls: string[] = [];
    const ctl = controller(cache, async (key) => (calls.push(key), await sleep(20), {}), pool, 2);
    ctl.start();
    ctl.enqueue('ns/first');
    ctl.enqueue('ns/a');
    await sleep(5); // ns/first runs, ns/a holds its key and waits for the slot
    cache.event('update', '11');
    await sleep(80);
    await ctl.stop();
    expect(calls).toEqual(['ns/first', 'ns/a']);
  });
});

describe('Controller: reconcile slots shared between namespaces', () => {
  it("serves another namespace's key next while a herd of 200 in one namespace holds every slot of two kinds", async () => {
    const pool = new WorkerPool(4);
    const order: string[] = [];
    const make = () => controller(new Cache(), async (key) => (order.push(key), await sleep(5), {}), pool);
    const a = make();
    const b = make();
    a.start();
    b.start();
    for (let i = 0; i < 100; i++) {
      a.enqueue(`herd/a${i}`);
      b.enqueue(`herd/b${i}`);
    }
    await sleep(20); // the herd is running; 4 keys of each kind hold a worker and wait for a slot
    const started = order.length;
    b.enqueue('victim/due');
    await sleep(400);
    await Promise.all([a.stop(), b.stop()]);
    // A b worker must finish to take the key (its queue hands it out next), then it waits for a
    // slot behind at most one herd waiter: a few reconciles, where FIFO made it wait for ~100.
    const waited = order.indexOf('victim/due') - started;
    expect(waited).toBeGreaterThanOrEqual(0);
    expect(waited).toBeLessThanOrEqual(2 * pool.size);
    expect(order.length).toBeGreaterThan(started + 2 * pool.size); // the herd went on meanwhile
  });
});
