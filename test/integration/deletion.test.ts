/**
 * Deletion never hangs (issue #15, ARCHITECTURE rule 10), on the real API server: when a
 * revoke cannot succeed — an input Secret is gone, the namespace is being deleted, the provider
 * keeps failing for spec.revokeTimeout, or a person says so with token-operator.io/skip-revoke —
 * the finalizer is released with a Warning event RevokeAbandoned saying what may still be valid,
 * and token_operator_revoke_abandoned_total counts it. Within the timeout it is held and retried.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { KubeClient, KubeObject } from '../../src/runtime/kube-client.js';
import type { Clock } from '../../src/schedule/clock.js';
import { startDdsSimulator, type DdsSimulator } from '../simulators/dds/server.js';
import { startGnapSimulator, type GnapSimulator } from '../simulators/gnap/server.js';
import { startPrivicoreSimulator, type PrivicoreSimulator } from '../simulators/privicore/server.js';
import { ddsFixture, gnapFixture } from '../support/fixtures.js';
import {
  adminClient,
  condition,
  createNamespace,
  createResource,
  createSecret,
  crPath,
  deleteResource,
  getResource,
  startTestOperator,
  waitFor,
  type TestOperator,
} from '../support/harness.js';

const DST = 'deltasharetokens';

/** Real time, moved forward by hand: lets a test pass spec.revokeTimeout without waiting it out. */
class AheadClock implements Clock {
  aheadMs = 0;
  now(): Date {
    return new Date(Date.now() + this.aheadMs);
  }
}

let client: KubeClient;
let dds: DdsSimulator;
let gnap: GnapSimulator;
let privicore: PrivicoreSimulator;
let op: TestOperator;
let ns: string;
let doomed: string;
let wholeNs: string;
const clock = new AheadClock();

type Event = KubeObject & { reason: string; type: string; message: string; involvedObject: { name: string } };
async function eventsOf(namespace: string, name: string, reason: string): Promise<Event[]> {
  const list = await client.list<Event>(`/api/v1/namespaces/${namespace}/events`);
  return list.items.filter((e) => e.involvedObject.name === name && e.reason === reason);
}
async function abandonedCount(reason: string): Promise<number> {
  const text = await op.metrics.registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`token_operator_revoke_abandoned_total{kind="DeltaShareToken",reason="${reason}"}`));
  return line ? Number(line.split(' ').pop()) : 0;
}
const gone = (namespace: string, name: string) => waitFor(`${name} gone`, async () => (await getResource(client, DST, namespace, name)) === undefined);

async function readyRevoker(namespace: string, name: string, extra: Record<string, unknown> = {}): Promise<KubeObject> {
  await createResource(client, DST, await ddsFixture(client, dds, name, { namespace, spec: { deletionPolicy: 'Revoke', ...extra } }));
  return waitFor(`${name} Ready`, async () => {
    const r = await getResource(client, DST, namespace, name);
    return condition(r, 'Ready')?.status === 'True' ? r : undefined;
  });
}

beforeAll(async () => {
  client = adminClient();
  dds = await startDdsSimulator();
  gnap = await startGnapSimulator();
  privicore = await startPrivicoreSimulator({ commandDelayMs: 20 });
  privicore.addProfile('ops', 'ops-pw');
  ns = await createNamespace(client, 'deletion');
  doomed = await createNamespace(client, 'doomed');
  wholeNs = await createNamespace(client, 'whole');
  op = await startTestOperator({ watchNamespaces: [ns, doomed, wholeNs] }, { clock });
});

afterAll(async () => {
  if (process.env.DUMP_LOGS) (await import('node:fs')).writeFileSync(process.env.DUMP_LOGS, op.logs.text);
  await op?.stop();
  await Promise.all([dds?.close(), gnap?.close(), privicore?.close()]);
});

describe('revoke on delete is bounded', () => {
  it('an input Secret already gone: released at once, RevokeAbandoned says what may still be valid', async () => {
    await readyRevoker(ns, 'orphaned-input');
    await client.delete(`/api/v1/namespaces/${ns}/secrets/zdirect-orphaned-input`);
    await deleteResource(client, DST, ns, 'orphaned-input');
    await gone(ns, 'orphaned-input');
    const [e] = await eventsOf(ns, 'orphaned-input', 'RevokeAbandoned');
    expect(e?.type).toBe('Warning');
    expect(e?.message).toContain('Secret "zdirect-orphaned-input" not found');
    expect(e?.message).toContain('may still be valid');
    expect(e?.message).toContain('PATCH /dds-tokens');
    expect(await abandonedCount('InputGone')).toBe(1);
    // the target Secret goes anyway: the policy says Revoke
    expect(await client.find(`/api/v1/namespaces/${ns}/secrets/orphaned-input-share`)).toBeUndefined();
  });

  it('a failing provider: held and retried (RevokeFailed) within revokeTimeout, released after it', async () => {
    await readyRevoker(ns, 'stubborn', { revokeTimeout: '2m' });
    dds.faults.inject('dds-tokens.patch', { kind: 'status', status: 503 }, 1000);
    try {
      await deleteResource(client, DST, ns, 'stubborn');
      const held = await waitFor('RevokeFailed', async () => {
        const r = await getResource(client, DST, ns, 'stubborn');
        return condition(r, 'Ready')?.reason === 'RevokeFailed' ? r : undefined;
      });
      expect(held.metadata?.finalizers).toContain('token-operator.io/finalizer');
      expect(condition(held, 'Ready')?.message).toMatch(/released anyway \d+s from now, spec.revokeTimeout/);
      // two minutes pass
      clock.aheadMs = 125_000;
      op.enqueueAll();
      await gone(ns, 'stubborn');
      const [e] = await eventsOf(ns, 'stubborn', 'RevokeAbandoned');
      expect(e?.message).toContain('revoking kept failing for 2m');
      expect(await abandonedCount('RevokeTimeout')).toBe(1);
    } finally {
      clock.aheadMs = 0;
      dds.faults.clear();
    }
  });

  it('token-operator.io/skip-revoke: "true" releases it at once, without a provider call', async () => {
    await readyRevoker(ns, 'skipped');
    dds.faults.inject('dds-tokens.patch', { kind: 'status', status: 503 }, 1000);
    try {
      const patches = () => dds.state.log.filter((l) => l.route === 'dds-tokens.patch').length;
      await deleteResource(client, DST, ns, 'skipped');
      await waitFor('RevokeFailed', async () => condition(await getResource(client, DST, ns, 'skipped'), 'Ready')?.reason === 'RevokeFailed');
      // the attempt that failed is over, and the next one waits out a 5 s back-off
      await new Promise((r) => setTimeout(r, 500));
      const before = patches();
      await new Promise((r) => setTimeout(r, 1000));
      expect(patches()).toBe(before);
      await client.patch(crPath(DST, ns, 'skipped'), { metadata: { annotations: { 'token-operator.io/skip-revoke': 'true' } } }, 'merge');
      await gone(ns, 'skipped');
      expect(patches()).toBe(before);
      const [e] = await eventsOf(ns, 'skipped', 'RevokeAbandoned');
      expect(e?.message).toContain('token-operator.io/skip-revoke');
      expect(await abandonedCount('SkipRevoke')).toBe(1);
    } finally {
      dds.faults.clear();
    }
  });

  it('a namespace being deleted: released without calling the provider', async () => {
    await readyRevoker(doomed, 'in-doomed');
    dds.faults.inject('dds-tokens.patch', { kind: 'status', status: 503 }, 1000);
    try {
      const patches = () => dds.state.log.filter((l) => l.route === 'dds-tokens.patch').length;
      const before = patches();
      await client.delete(`/api/v1/namespaces/${doomed}`);
      // With a namespace controller the resources go by themselves; here the test deletes it.
      await deleteResource(client, DST, doomed, 'in-doomed');
      await gone(doomed, 'in-doomed');
      expect(patches()).toBe(before);
      expect(await abandonedCount('NamespaceTerminating')).toBe(1);
    } finally {
      dds.faults.clear();
    }
  });
});

const namespaceController = inject('kubeControllers').includes('namespace-controller');

describe.skipIf(!namespaceController)(`namespace deletion${namespaceController ? '' : ' (skipped: no kube-controller-manager namespace controller in this run)'}`, () => {
  it('kubectl delete namespace with Revoke-policy tokens of every kind completes', async () => {
    const revoke = { deletionPolicy: 'Revoke' };
    await createResource(client, DST, await ddsFixture(client, dds, 'whole-dds', { namespace: wholeNs, spec: revoke }));
    const g = await gnapFixture(client, gnap, 'whole-gnap', { namespace: wholeNs, spec: revoke });
    await createResource(client, 'accesstokens', g.obj);
    await createSecret(client, wholeNs, 'privicore-profile', { username: 'ops', password: 'ops-pw' });
    await createSecret(client, wholeNs, 'report-key', { 'key.pem': 'the data' });
    await createResource(client, 'datatokens', {
      apiVersion: 'token-operator.io/v1alpha1',
      kind: 'DataToken',
      metadata: { name: 'whole-dt', namespace: wholeNs },
      spec: {
        privicore: { apiUrl: privicore.url, profileSecretRef: { name: 'privicore-profile' }, allowInsecureHttp: true },
        source: { secretKeyRef: { name: 'report-key', key: 'key.pem' }, context: 'whole' },
        target: { secretName: 'whole-dt-out' },
        ...revoke,
      },
    });
    for (const [plural, name] of [[DST, 'whole-dds'], ['accesstokens', 'whole-gnap'], ['datatokens', 'whole-dt']] as const) {
      await waitFor(`${name} Ready`, async () => condition(await getResource(client, plural, wholeNs, name), 'Ready')?.status === 'True');
    }
    const started = Date.now();
    await client.delete(`/api/v1/namespaces/${wholeNs}`);
    await waitFor('the namespace is gone', async () => (await client.find(`/api/v1/namespaces/${wholeNs}`)) === undefined, 90_000, 250);
    console.log(`[deletion] namespace with 3 Revoke-policy tokens deleted in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  });
});
