import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeApiError, type KubeClient, type KubeObject } from '../../src/runtime/kube-client.js';
import { ManualClock } from '../../src/schedule/clock.js';
import { startDdsSimulator, type DdsSimulator } from '../simulators/dds/server.js';
import {
  RequestCounter,
  adminClient,
  condition,
  createNamespace,
  createResource,
  createSecret,
  crPath,
  getResource,
  startTestOperator,
  waitFor,
  type TestOperator,
} from '../support/harness.js';

/**
 * Rollout restarts (issue #7) against the real API server: it has no controllers and no
 * kubelet, but workloads exist as objects, so every restart shows up as a pod-template
 * annotation change and a new metadata.generation. The clock is manual: a debounce elapses
 * only when a test moves it.
 */

const PLURAL = 'deltasharetokens';
const ANNOTATION = 'token-operator.io/secret-revision';
const DEBOUNCE_MS = 1000;
const OVERLAP_MS = 2 * 60_000;

let client: KubeClient;
let sim: DdsSimulator;
let op: TestOperator;
let ns: string;
const clock = new ManualClock('2026-11-23T10:00:00Z');
const requests = new RequestCounter();
const started: TestOperator[] = [];

type Kind = 'Deployment' | 'StatefulSet' | 'DaemonSet';
const PLURALS: Record<Kind, string> = { Deployment: 'deployments', StatefulSet: 'statefulsets', DaemonSet: 'daemonsets' };
const workloadPath = (namespace: string, kind: Kind, name?: string) => `/apis/apps/v1/namespaces/${namespace}/${PLURALS[kind]}${name ? `/${name}` : ''}`;

async function workload(
  namespace: string,
  kind: Kind,
  name: string,
  o: { annotations?: Record<string, string>; secretVolume?: string } = {},
): Promise<void> {
  const labels = { app: name };
  await client.create(workloadPath(namespace, kind), {
    apiVersion: 'apps/v1',
    kind,
    metadata: { name, namespace, ...(o.annotations ? { annotations: o.annotations } : {}) },
    spec: {
      selector: { matchLabels: labels },
      ...(kind === 'StatefulSet' ? { serviceName: name } : {}),
      template: {
        metadata: { labels },
        spec: {
          containers: [{ name: 'app', image: 'example.invalid/app:1', ...(o.secretVolume ? { volumeMounts: [{ name: 'creds', mountPath: '/creds' }] } : {}) }],
          ...(o.secretVolume ? { volumes: [{ name: 'creds', secret: { secretName: o.secretVolume } }] } : {}),
        },
      },
    },
  });
}

/** generation counts spec changes; the annotation says which rotation the last restart was for */
async function restartState(namespace: string, kind: Kind, name: string): Promise<{ generation: number; revision: string | undefined }> {
  const w = await client.get<KubeObject & { spec: { template: { metadata?: { annotations?: Record<string, string> } } } }>(workloadPath(namespace, kind, name));
  return { generation: w.metadata?.generation ?? 0, revision: w.spec.template.metadata?.annotations?.[ANNOTATION] };
}

/** one zDirect app (and so one DDS account) per resource */
async function dst(namespace: string, name: string, spec: Record<string, unknown> = {}): Promise<KubeObject> {
  sim.state.addClient(`client-${namespace}-${name}`, `secret-${name}`);
  await createSecret(client, namespace, `zdirect-${name}`, { client_id: `client-${namespace}-${name}`, client_secret: `secret-${name}` });
  return {
    apiVersion: 'token-operator.io/v1alpha1',
    kind: 'DeltaShareToken',
    metadata: { name, namespace },
    spec: {
      dds: { apiUrl: sim.url, credentialsSecretRef: { name: `zdirect-${name}` }, allowInsecureHttp: true },
      rotation: { rotateBefore: '720h' },
      overlap: '2m',
      target: { secretName: `${name}-share` },
      ...spec,
    },
  };
}

type Status = { revision?: number; lastRestartedRevision?: number; lastHandledRotateRequest?: string };
const statusOf = (r: KubeObject | undefined) => (r?.status ?? {}) as Status;

async function atRevision(namespace: string, name: string, revision: number): Promise<KubeObject> {
  return waitFor(`${name} Ready at revision ${revision}`, async () => {
    const r = await getResource(client, PLURAL, namespace, name);
    return condition(r, 'Ready')?.status === 'True' && statusOf(r).revision === revision ? r : undefined;
  });
}

async function rotateNow(namespace: string, name: string, value: string): Promise<void> {
  await client.patch(crPath(PLURAL, namespace, name), { metadata: { annotations: { 'token-operator.io/rotate': value } } }, 'merge');
  await waitFor(`${name} handled rotate request ${value}`, async () => statusOf(await getResource(client, PLURAL, namespace, name)).lastHandledRotateRequest === value);
}

/** lets the debounce run out and wakes every resource */
function passDebounce(...ops: TestOperator[]): void {
  clock.advance(DEBOUNCE_MS);
  for (const o of ops.length ? ops : [op]) o.enqueueAll();
}

async function restartedCondition(namespace: string, name: string, reason: string): Promise<KubeObject> {
  return waitFor(`${name} RolloutRestarted ${reason}`, async () => {
    const r = await getResource(client, PLURAL, namespace, name);
    return condition(r, 'RolloutRestarted')?.reason === reason ? r : undefined;
  });
}

const settle = (ms = 1500) => new Promise((r) => setTimeout(r, ms));
const patchesOf = (resource: string) => requests.counts.get(`patch ${resource}`) ?? 0;

async function events(namespace: string, kind: string, name: string): Promise<Array<{ reason: string; type: string; message: string }>> {
  const list = await client.list<KubeObject & { reason: string; type: string; message: string }>(`/api/v1/namespaces/${namespace}/events`, {
    fieldSelector: `involvedObject.kind=${kind},involvedObject.name=${name}`,
  });
  return list.items;
}

async function startOp(namespace: string, over: Record<string, unknown> = {}): Promise<TestOperator> {
  const o = await startTestOperator({ watchNamespaces: [namespace], rolloutDebounceSeconds: DEBOUNCE_MS / 1000, ...over }, { clock, onKubeRequest: requests.on });
  started.push(o);
  return o;
}

async function stopOp(o: TestOperator): Promise<void> {
  started.splice(started.indexOf(o), 1);
  await o.stop();
}

beforeAll(async () => {
  client = adminClient();
  sim = await startDdsSimulator({ clock });
  ns = await createNamespace(client, 'rollout');
  op = await startOp(ns);
});

afterAll(async () => {
  if (process.env.DUMP_LOGS) (await import('node:fs')).writeFileSync(process.env.DUMP_LOGS, started.map((o) => o.logs.text).join('\n'));
  await Promise.all(started.map((o) => o.stop()));
  await sim?.close();
});

describe('rollout restarts of the workloads that consume a Secret', () => {
  it('restarts a listed Deployment exactly once per rotation, with an annotation unique to the rotation', async () => {
    await workload(ns, 'Deployment', 'web', { secretVolume: 'one-share' });
    // Reloader annotations mean nothing while the operator does not act as Reloader.
    await workload(ns, 'Deployment', 'reloader-annotated', { annotations: { 'secret.reloader.stakater.com/reload': 'one-share' } });
    await createResource(client, PLURAL, await dst(ns, 'one', { target: { secretName: 'one-share', rolloutRestart: [{ kind: 'Deployment', name: 'web' }] } }));

    // The first credential restarts nothing (no pod can have run with a credential that did not exist).
    const first = await atRevision(ns, 'one', 1);
    expect(statusOf(first).lastRestartedRevision).toBe(1);
    passDebounce();
    await settle();
    expect(await restartState(ns, 'Deployment', 'web')).toEqual({ generation: 1, revision: undefined });

    for (const [i, revision] of [[1, 2], [2, 3]] as const) {
      requests.reset();
      await rotateNow(ns, 'one', `r${i}`);
      await atRevision(ns, 'one', revision);
      // within the debounce: not yet
      await settle(500);
      expect((await restartState(ns, 'Deployment', 'web')).generation).toBe(revision - 1);
      passDebounce();
      const r = await restartedCondition(ns, 'one', 'Restarted').then(() =>
        waitFor('restart recorded', async () => {
          const x = await getResource(client, PLURAL, ns, 'one');
          return statusOf(x).lastRestartedRevision === revision ? x : undefined;
        }),
      );
      expect(condition(r, 'RolloutRestarted')).toMatchObject({ status: 'True', reason: 'Restarted' });
      expect(condition(r, 'RolloutRestarted')?.message).toContain('Deployment/web');
      expect(await restartState(ns, 'Deployment', 'web')).toEqual({ generation: revision, revision: `one-share@${revision}` });
      await settle();
      expect(patchesOf('deployments')).toBe(1);
      clock.advance(OVERLAP_MS + 1000); // let the previous token lapse: DDS allows two live tokens
    }
    expect(await restartState(ns, 'Deployment', 'reloader-annotated')).toEqual({ generation: 1, revision: undefined });

    // Events on the workload itself and on the token resource.
    await waitFor('RolloutRestart event on the Deployment', async () => (await events(ns, 'Deployment', 'web')).some((e) => e.reason === 'RolloutRestart'));
    const onWorkload = (await events(ns, 'Deployment', 'web')).find((e) => e.reason === 'RolloutRestart')!;
    expect(onWorkload.type).toBe('Normal');
    expect(onWorkload.message).toContain('one-share');
    await waitFor('RolloutRestart event on the DeltaShareToken', async () =>
      (await events(ns, 'DeltaShareToken', 'one')).some((e) => e.reason === 'RolloutRestart' && e.message.includes('Deployment/web')),
    );
  });

  it('coalesces 10 rapid rotations into one restart with the latest revision', async () => {
    await workload(ns, 'Deployment', 'burst-app', { secretVolume: 'burst-share' });
    await workload(ns, 'StatefulSet', 'burst-db', { secretVolume: 'burst-share' });
    await createResource(
      client,
      PLURAL,
      await dst(ns, 'burst', {
        // rotate inside the overlap without waiting for the two-token ceiling
        onTokenCeiling: 'RevokeAllAndReissue',
        target: {
          secretName: 'burst-share',
          rolloutRestart: [
            { kind: 'Deployment', name: 'burst-app' },
            { kind: 'StatefulSet', name: 'burst-db' },
          ],
        },
      }),
    );
    await atRevision(ns, 'burst', 1);
    requests.reset();
    for (let i = 1; i <= 10; i++) {
      await rotateNow(ns, 'burst', `b${i}`);
      clock.advance(50); // all ten inside one debounce window
    }
    const r = await atRevision(ns, 'burst', 11);
    expect(statusOf(r).lastRestartedRevision).toBe(1);
    expect(patchesOf('deployments') + patchesOf('statefulsets')).toBe(0);

    passDebounce();
    await waitFor('burst restarted', async () => statusOf(await getResource(client, PLURAL, ns, 'burst')).lastRestartedRevision === 11);
    await settle();
    expect(await restartState(ns, 'Deployment', 'burst-app')).toEqual({ generation: 2, revision: 'burst-share@11' });
    expect(await restartState(ns, 'StatefulSet', 'burst-db')).toEqual({ generation: 2, revision: 'burst-share@11' });
    expect(patchesOf('deployments')).toBe(1);
    expect(patchesOf('statefulsets')).toBe(1);
    // The last rotation broke the ceiling with PATCH 0: every previous token died at once.
    expect((r.status as { rotatedTokenExpirationTime?: string }).rotatedTokenExpirationTime).toBeUndefined();
  });

  it('an operator restart makes zero workload patches and zero provider calls', async () => {
    const before = {
      web: await restartState(ns, 'Deployment', 'web'),
      app: await restartState(ns, 'Deployment', 'burst-app'),
      db: await restartState(ns, 'StatefulSet', 'burst-db'),
    };
    await stopOp(op);
    requests.reset();
    const calls = sim.state.log.length;
    op = await startOp(ns);
    await waitFor('operator ready', async () => op.ready());
    op.enqueueAll();
    await settle(2500);
    passDebounce();
    await settle(1500);
    expect(patchesOf('deployments') + patchesOf('statefulsets') + patchesOf('daemonsets')).toBe(0);
    expect(sim.state.log.length).toBe(calls);
    expect(await restartState(ns, 'Deployment', 'web')).toEqual(before.web);
    expect(await restartState(ns, 'Deployment', 'burst-app')).toEqual(before.app);
    expect(await restartState(ns, 'StatefulSet', 'burst-db')).toEqual(before.db);
  });

  it('a restart still debouncing when the operator stops happens once after it starts again', async () => {
    await rotateNow(ns, 'burst', 'before-stop');
    await atRevision(ns, 'burst', 12);
    await stopOp(op);
    requests.reset();
    op = await startOp(ns);
    await waitFor('operator ready', async () => op.ready());
    passDebounce();
    await waitFor('pending restart done', async () => statusOf(await getResource(client, PLURAL, ns, 'burst')).lastRestartedRevision === 12);
    op.enqueueAll();
    await settle();
    expect(await restartState(ns, 'Deployment', 'burst-app')).toEqual({ generation: 3, revision: 'burst-share@12' });
    expect(patchesOf('deployments')).toBe(1);
  });

  it('a missing workload is reported (RolloutRestarted False, WorkloadNotFound) while Ready stays True', async () => {
    await workload(ns, 'DaemonSet', 'agent', { secretVolume: 'ghosted-share' });
    await createResource(
      client,
      PLURAL,
      await dst(ns, 'ghosted', {
        target: {
          secretName: 'ghosted-share',
          rolloutRestart: [
            { kind: 'Deployment', name: 'ghost' },
            { kind: 'DaemonSet', name: 'agent' },
          ],
        },
      }),
    );
    await atRevision(ns, 'ghosted', 1);
    await rotateNow(ns, 'ghosted', 'go');
    await atRevision(ns, 'ghosted', 2);
    passDebounce();
    const r = await restartedCondition(ns, 'ghosted', 'WorkloadNotFound');
    expect(condition(r, 'RolloutRestarted')?.status).toBe('False');
    expect(condition(r, 'RolloutRestarted')?.message).toContain('Deployment/ghost');
    expect(condition(r, 'Ready')).toMatchObject({ status: 'True', reason: 'Rotated' });
    expect(statusOf(r).lastRestartedRevision).toBe(2); // not retried: a workload created later starts with the new Secret
    expect(await restartState(ns, 'DaemonSet', 'agent')).toEqual({ generation: 2, revision: 'ghosted-share@2' });
  });

  it('honours Reloader annotations when acting as Reloader', async () => {
    const ns2 = await createNamespace(client, 'reloader');
    const reloader = await startOp(ns2, { actAsReloader: true });
    await workload(ns2, 'Deployment', 'by-name', { annotations: { 'secret.reloader.stakater.com/reload': 'other, r-share' } });
    await workload(ns2, 'StatefulSet', 'auto-mounting', { annotations: { 'reloader.stakater.com/auto': 'true' }, secretVolume: 'r-share' });
    await workload(ns2, 'DaemonSet', 'auto-elsewhere', { annotations: { 'reloader.stakater.com/auto': 'true' }, secretVolume: 'unrelated' });
    await workload(ns2, 'Deployment', 'unannotated', { secretVolume: 'r-share' });
    await workload(ns2, 'Deployment', 'listed', { secretVolume: 'r-share' });
    await createResource(client, PLURAL, await dst(ns2, 'r', { target: { secretName: 'r-share', rolloutRestart: [{ kind: 'Deployment', name: 'listed' }] } }));
    await atRevision(ns2, 'r', 1);
    await rotateNow(ns2, 'r', 'reload');
    await atRevision(ns2, 'r', 2);
    passDebounce(reloader);
    const r = await restartedCondition(ns2, 'r', 'Restarted');
    for (const w of ['Deployment/listed', 'Deployment/by-name', 'StatefulSet/auto-mounting']) expect(condition(r, 'RolloutRestarted')?.message).toContain(w);
    expect(await restartState(ns2, 'Deployment', 'by-name')).toEqual({ generation: 2, revision: 'r-share@2' });
    expect(await restartState(ns2, 'StatefulSet', 'auto-mounting')).toEqual({ generation: 2, revision: 'r-share@2' });
    expect(await restartState(ns2, 'Deployment', 'listed')).toEqual({ generation: 2, revision: 'r-share@2' });
    expect((await restartState(ns2, 'DaemonSet', 'auto-elsewhere')).generation).toBe(1);
    expect((await restartState(ns2, 'Deployment', 'unannotated')).generation).toBe(1);
  });
});

describe('DeltaShareToken overlap accounting', () => {
  it('refuses an overlap under 2m at admission, naming spec.overlap', async () => {
    const obj = await dst(ns, 'short', { overlap: '90s' });
    const err = await createResource(client, PLURAL, obj).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(KubeApiError);
    expect((err as KubeApiError).status).toBe(422);
    expect((err as KubeApiError).message).toContain('spec.overlap');
    expect((err as KubeApiError).message).toContain('at least 2m');
    await createResource(client, PLURAL, await dst(ns, 'just-enough', { overlap: '2m' }));
  });

  it('refuses an overlap under the operator minimum with Stalled OverlapTooShort, before any provider call', async () => {
    const ns3 = await createNamespace(client, 'overlap');
    await startOp(ns3, { minOverlapSeconds: 600 });
    await createResource(client, PLURAL, await dst(ns3, 'brief', { overlap: '5m' }));
    const r = await waitFor('OverlapTooShort', async () => {
      const x = await getResource(client, PLURAL, ns3, 'brief');
      return condition(x, 'Ready')?.reason === 'OverlapTooShort' ? x : undefined;
    });
    expect(condition(r, 'Ready')?.status).toBe('False');
    expect(condition(r, 'Stalled')).toMatchObject({ status: 'True', reason: 'OverlapTooShort' });
    expect(condition(r, 'Ready')?.message).toContain('spec.overlap');
    expect(sim.state.log.filter((e) => e.clientId === `client-${ns3}-brief`)).toEqual([]);
  });

  it('records when the previous token stops working', async () => {
    const r = await getResource(client, PLURAL, ns, 'one');
    const s = r?.status as { lastRotationTime: string; rotatedTokenExpirationTime: string };
    expect(Date.parse(s.rotatedTokenExpirationTime)).toBe(Date.parse(s.lastRotationTime) + OVERLAP_MS);
  });
});
