/**
 * `npm run bench:api-cost [-- --n=1000]`
 *
 * What each kind of API request the operator makes costs the API server, in CPU milliseconds
 * per request (from /proc/PID/stat of the real kube-apiserver), with and without a watcher
 * of the objects. The scale benchmark showed the API server, not the operator, using most of
 * the CPU on a shared machine; this says which requests to avoid.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuSeconds } from './proc.js';
import pino from 'pino';
import YAML from 'yaml';
import { startControlPlane } from '../test/cluster/control-plane.js';
import { loadKubeAccess } from '../src/runtime/kube-access.js';
import { KubeClient, type KubeObject } from '../src/runtime/kube-client.js';
import { Informer } from '../src/runtime/informer.js';
import type { KubeClient as Client } from '../src/runtime/kube-client.js';

/** A Secret written with server-side apply (how target Secrets were written before the ownership rules). */
function applySecret(client: Client, s: { namespace: string; name: string; owner: { apiVersion: string; kind: string; name: string; uid: string }; data: Record<string, string>; annotations: Record<string, string> }) {
  return client.patch(
    `/api/v1/namespaces/${s.namespace}/secrets/${s.name}`,
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: s.name, namespace: s.namespace, labels: { 'app.kubernetes.io/managed-by': 'token-operator' }, annotations: s.annotations, ownerReferences: [{ ...s.owner, controller: true, blockOwnerDeletion: true }] },
      data: Object.fromEntries(Object.entries(s.data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
    },
    'apply',
    { fieldManager: 'token-operator', force: true },
  );
}

const arg = (name: string, def: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? def;
const N = Number(arg('n', '1000'));
const CONCURRENCY = Number(arg('concurrency', '16'));
const root = join(import.meta.dirname, '..');

async function pool(n: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  let i = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (i < n) await fn(i++);
  }));
}

const dir = mkdtempSync(join(tmpdir(), 'token-operator-api-cost-'));
const cp = await startControlPlane({ dir, binary: join(root, '.cache', 'bin', 'apiserver') });
try {
  const env = { ...process.env, KUBECONFIG: cp.kubeconfigPath };
  let crds = join(root, 'crds');
  if (process.argv.includes('--strip-cel')) {
    // experiment: the same CRDs without x-kubernetes-validations, to price the CEL rules
    crds = join(dir, 'crds');
    mkdirSync(crds);
    for (const f of readdirSync(join(root, 'crds'))) {
      const doc = YAML.parse(readFileSync(join(root, 'crds', f), 'utf8')) as unknown;
      const strip = (o: unknown): void => {
        if (Array.isArray(o)) o.forEach(strip);
        else if (o && typeof o === 'object') {
          delete (o as Record<string, unknown>)['x-kubernetes-validations'];
          Object.values(o).forEach(strip);
        }
      };
      strip(doc);
      writeFileSync(join(crds, f), YAML.stringify(doc));
    }
  }
  execFileSync('kubectl', ['apply', '--server-side', '-f', crds], { env, stdio: 'ignore' });
  execFileSync('kubectl', ['wait', '--for=condition=Established', 'crd', '--all', '--timeout=60s'], { env, stdio: 'ignore' });
  const client = new KubeClient(await loadKubeAccess({ ...process.env, KUBECONFIG: cp.kubeconfigPath }), { qps: 100_000, burst: 100_000 });
  await client.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'b' } });
  const crs = '/apis/token-operator.io/v1alpha1/namespaces/b/deltasharetokens';
  const uids: string[] = [];
  const rows: Array<[string, number, number]> = [];
  const measure = async (label: string, fn: (i: number) => Promise<unknown>) => {
    const c0 = cpuSeconds(cp.pid);
    const t0 = performance.now();
    await pool(N, fn);
    const wall = (performance.now() - t0) / 1000;
    const ms = ((cpuSeconds(cp.pid) - c0) * 1000) / N;
    rows.push([label, ms, N / wall]);
    console.error(`${label}: ${ms.toFixed(2)} ms CPU/request, ${(N / wall).toFixed(0)} req/s`);
  };
  const profile = JSON.stringify({ shareCredentialsVersion: 1, endpoint: 'https://sharing.example/delta-sharing/', bearerToken: 'x'.repeat(64), expirationTime: '2026-12-01T00:00:00Z' });
  const owner = (i: number) => ({ apiVersion: 'token-operator.io/v1alpha1', kind: 'DeltaShareToken', name: `t${i}`, uid: uids[i]! });

  await measure('CR create', async (i) => {
    const o = await client.create<KubeObject>(crs, {
      apiVersion: 'token-operator.io/v1alpha1',
      kind: 'DeltaShareToken',
      metadata: { name: `t${i}` },
      spec: { dds: { apiUrl: 'https://dds.example', credentialsSecretRef: { name: 'c' } }, target: { secretName: `t${i}-share` } },
    });
    uids[i] = o.metadata!.uid!;
  });
  await measure('Secret create (floor)', (i) =>
    client.create('/api/v1/namespaces/b/secrets', { apiVersion: 'v1', kind: 'Secret', metadata: { name: `floor-${i}` }, stringData: { bearerToken: 'x' } }),
  );
  await measure('Secret GET', (i) => client.get(`/api/v1/namespaces/b/secrets/floor-${i}`));
  await measure('Secret apply (new, owner ref + labels)', (i) =>
    applySecret(client, { namespace: 'b', name: `t${i}-share`, owner: owner(i), data: { 'config.share': profile }, annotations: { 'token-operator.io/revision': '1' } }),
  );
  await measure('Secret apply (unchanged)', (i) =>
    applySecret(client, { namespace: 'b', name: `t${i}-share`, owner: owner(i), data: { 'config.share': profile }, annotations: { 'token-operator.io/revision': '1' } }),
  );
  await measure('Secret create (owner ref + labels, no apply)', (i) =>
    client.create('/api/v1/namespaces/b/secrets', {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: `c${i}-share`, labels: { 'app.kubernetes.io/managed-by': 'token-operator' }, ownerReferences: [{ ...owner(i), controller: true, blockOwnerDeletion: true }] },
      stringData: { 'config.share': profile },
    }),
  );
  await measure('CR finalizer JSON patch', (i) =>
    client.patch(`${crs}/t${i}`, [{ op: 'add', path: '/metadata/finalizers', value: ['token-operator.io/finalizer'] }], 'json'),
  );
  const status = (i: number, reason: string) => ({
    status: {
      observedGeneration: 1,
      revision: 1,
      expirationTime: '2026-12-01T00:00:00Z',
      nextRotationTime: '2026-11-30T00:00:00Z',
      lastRotationTime: new Date().toISOString(),
      conditions: [
        { type: 'Ready', status: 'True', reason, message: `token ${i} issued`, lastTransitionTime: new Date().toISOString(), observedGeneration: 1 },
        { type: 'Stalled', status: 'False', reason, message: '', lastTransitionTime: new Date().toISOString(), observedGeneration: 1 },
      ],
    },
  });
  await measure('CR status merge patch', (i) => client.patch(`${crs}/t${i}/status`, status(i, 'Issued'), 'merge'));
  // is the price per request or per byte, and does a PUT (no patch to apply) cost less?
  await measure('CR status merge patch (one field)', (i) => client.patch(`${crs}/t${i}/status`, { status: { revision: 2 } }, 'merge'));
  const held: KubeObject[] = [];
  await pool(N, async (i) => (held[i] = await client.get<KubeObject>(`${crs}/t${i}`)));
  await measure('CR status PUT (object in hand)', (i) => {
    const o = held[i]! as KubeObject & { status: Record<string, unknown> };
    return client.replace(`${crs}/t${i}/status`, { ...o, status: { ...o.status, revision: 3 } });
  });
  await measure('Event create', (i) =>
    client.create('/api/v1/namespaces/b/events', {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: `t${i}.ev` },
      involvedObject: { apiVersion: 'token-operator.io/v1alpha1', kind: 'DeltaShareToken', name: `t${i}`, namespace: 'b', uid: uids[i] },
      type: 'Normal',
      reason: 'Issued',
      message: 'issued',
      source: { component: 'token-operator' },
      firstTimestamp: new Date().toISOString(),
      lastTimestamp: new Date().toISOString(),
      count: 1,
    }),
  );

  // the same writes with the operator's two watches open
  const logger = pino({ level: 'silent' });
  const watchers = [
    new Informer(client, { path: '/apis/token-operator.io/v1alpha1/deltasharetokens', logger }),
    new Informer(client, { path: '/api/v1/secrets', labelSelector: 'app.kubernetes.io/managed-by=token-operator', logger }),
  ];
  for (const w of watchers) w.start();
  await Promise.all(watchers.map((w) => w.synced));
  await measure('CR status merge patch (watched)', (i) => client.patch(`${crs}/t${i}/status`, status(i, 'Rotated'), 'merge'));
  await measure('Secret apply (changed, watched)', (i) =>
    applySecret(client, { namespace: 'b', name: `t${i}-share`, owner: owner(i), data: { 'config.share': profile }, annotations: { 'token-operator.io/revision': '2' } }),
  );
  for (const w of watchers) w.stop();

  console.log(`\nAPI server CPU per request — ${N} requests each, concurrency ${CONCURRENCY}\n`);
  console.log('| request | API server CPU ms/request | requests/s |');
  console.log('|---|---|---|');
  for (const [label, ms, rate] of rows) console.log(`| ${label} | ${ms.toFixed(2)} | ${rate.toFixed(0)} |`);
} finally {
  await cp.stop();
  rmSync(dir, { recursive: true, force: true });
}
