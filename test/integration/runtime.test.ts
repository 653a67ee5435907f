import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Informer } from '../../src/runtime/informer.js';
import type { KubeClient, KubeObject } from '../../src/runtime/kube-client.js';
import { LeaderElector } from '../../src/runtime/leader-election.js';
import { adminClient, createNamespace, restartControlPlane, waitFor } from '../support/harness.js';

const silent = pino({ level: 'silent' });
let client: KubeClient;
let ns: string;

const configMap = (name: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: ns }, data: { a: '1' } });

beforeAll(async () => {
  client = adminClient();
  ns = await createNamespace(client, 'runtime');
});

describe('runtime against the real API server', () => {
  it('leader election: one leader at a time; a released lease passes to the other candidate', async () => {
    const opts = { namespace: ns, name: 'election', leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 300, logger: silent };
    const a = new LeaderElector(client, { ...opts, identity: 'a' });
    const b = new LeaderElector(client, { ...opts, identity: 'b' });
    await a.run(() => undefined);
    void b.run(() => undefined);
    await new Promise((r) => setTimeout(r, 1500));
    expect(a.isLeader).toBe(true);
    expect(b.isLeader).toBe(false);
    const released = Date.now();
    await a.release();
    await waitFor('b leads', async () => b.isLeader, 10_000);
    expect(Date.now() - released).toBeLessThan(5000);
    const lease = await client.get<KubeObject & { spec: { holderIdentity: string; leaseTransitions: number } }>(
      `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/election`,
    );
    expect(lease.spec.holderIdentity).toBe('b');
    expect(lease.spec.leaseTransitions).toBeGreaterThanOrEqual(1);
    b.stop();
  });

  it('informers list, watch, and recover by themselves after the API server goes away', async () => {
    const informer = new Informer<KubeObject>(client, { path: `/api/v1/namespaces/${ns}/configmaps`, logger: silent });
    const events: string[] = [];
    informer.on((ev, obj) => events.push(`${ev}:${obj.metadata?.name}`));
    informer.start();
    await informer.synced;
    await client.create(`/api/v1/namespaces/${ns}/configmaps`, configMap('before'));
    await waitFor('watch add', async () => informer.get(ns, 'before'));

    await restartControlPlane(3000);
    await client.create(`/api/v1/namespaces/${ns}/configmaps`, configMap('after'));
    await waitFor('event after restart', async () => informer.get(ns, 'after'), 60_000);
    expect(informer.restarts).toBeGreaterThanOrEqual(1);
    await client.delete(`/api/v1/namespaces/${ns}/configmaps/before`);
    await waitFor('delete seen', async () => informer.get(ns, 'before') === undefined);
    expect(events).toContain('add:after');
    expect(events).toContain('delete:before');
    informer.stop();
  });

  it('informers stay quiet on the echo of a write already cached by upsert, and report the next real change', async () => {
    const informer = new Informer<KubeObject>(client, { path: `/api/v1/namespaces/${ns}/configmaps`, logger: silent });
    const events: string[] = [];
    informer.on((ev, obj) => {
      if (obj.metadata?.name === 'echo') events.push(`${ev}:echo:${(obj.data as Record<string, string>).a}`);
    });
    informer.start();
    await informer.synced;
    const created = await client.create<KubeObject>(`/api/v1/namespaces/${ns}/configmaps`, configMap('echo'));
    await waitFor('watch add', async () => events.includes('add:echo:1'));
    const written = await client.patch<KubeObject>(`/api/v1/namespaces/${ns}/configmaps/echo`, { data: { a: '2' } }, 'merge');
    // the watch may beat the write's own response: then that event was news and was reported
    const seenFirst = informer.get(ns, 'echo')?.metadata?.resourceVersion === written.metadata?.resourceVersion;
    informer.upsert(written);
    // someone else's change after ours: it must arrive (and proves our echo was delivered before it)
    await client.patch(`/api/v1/namespaces/${ns}/configmaps/echo`, { data: { a: '3' } }, 'merge');
    await waitFor('the other change', async () => events.includes('update:echo:3'));
    expect(events).toEqual(seenFirst ? ['add:echo:1', 'update:echo:2', 'update:echo:3'] : ['add:echo:1', 'update:echo:3']);
    expect(created.metadata?.resourceVersion).not.toBe(written.metadata?.resourceVersion);
    informer.stop();
  });
});

afterAll(() => undefined);
