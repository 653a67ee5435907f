import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { Controller } from '../../../src/runtime/controller.js';
import type { InformerEvent, InformerHandler, ObjectCache } from '../../../src/runtime/informer.js';
import type { KubeObject } from '../../../src/runtime/kube-client.js';
import { OperatorMetrics } from '../../../src/runtime/metrics.js';

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

function controller(cache: Cache, reconcile: () => Promise<object>): Controller<KubeObject> {
  return new Controller<KubeObject>({ kind: 'X', informer: cache, workers: 1, logger: pino({ level: 'silent' }), metrics: new OperatorMetrics('test', false), reconcile });
}

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
