/**
 * Isolation (issue #8): a resource reads Secrets only in its own namespace, and a
 * namespace-scoped operator makes no API request outside its namespaces.
 *
 * The operator runs in-process impersonating the ServiceAccount of a real `helm install`
 * in namespaced mode (watchNamespaces), so the chart's Roles are what the API server
 * judges, and every request it makes is recorded by path (OperatorDeps.onKubeRequest).
 * (The CRD side, `namespace:` refused in Secret refs, is in the admission corpus.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeClient, KubeObject } from '../../src/runtime/kube-client.js';
import { startDdsSimulator, type DdsSimulator } from '../simulators/dds/server.js';
import {
  adminClient,
  condition,
  createNamespace,
  createResource,
  createSecret,
  crPath,
  getResource,
  getSecretData,
  startTestOperator,
  waitFor,
  type TestOperator,
} from '../support/harness.js';
import { CHART, helm, serviceAccountUser, setFlags } from '../support/helm.js';

const PLURAL = 'deltasharetokens';

let client: KubeClient;
let sim: DdsSimulator;
let op: TestOperator;
let teamA: string;
let teamC: string;
let outside: string;
let releaseNs: string;
let release: string;
const requests: Array<{ verb: string; path: string; code: number }> = [];

function dst(ns: string, name: string, credentials: string): KubeObject {
  return {
    apiVersion: 'token-operator.io/v1alpha1',
    kind: 'DeltaShareToken',
    metadata: { name, namespace: ns },
    spec: {
      dds: { apiUrl: sim.url, credentialsSecretRef: { name: credentials }, allowInsecureHttp: true },
      overlap: '1h',
      target: { secretName: `${name}-share` },
    },
  };
}

const resource = (ns: string, name: string) => getResource(client, PLURAL, ns, name);

beforeAll(async () => {
  client = adminClient();
  sim = await startDdsSimulator();
  teamA = await createNamespace(client, 'iso-a');
  teamC = await createNamespace(client, 'iso-c');
  outside = await createNamespace(client, 'iso-out');
  releaseNs = await createNamespace(client, 'iso-op');
  release = `r${releaseNs.split('-')[2]}`;
  helm('install', release, CHART, '--namespace', releaseNs, ...setFlags({ 'crds.enabled': false, watchNamespaces: [teamA, teamC] }));
  const fullname = `${release}-token-operator`;
  op = await startTestOperator(
    { watchNamespaces: [teamA, teamC], leaderElect: true, leaseNamespace: releaseNs, leaseName: fullname, leaseDurationSeconds: 4, renewDeadlineSeconds: 3, retryPeriodSeconds: 1 },
    {
      impersonate: serviceAccountUser(releaseNs, fullname),
      onKubeRequest: (verb, _resource, code, path) => requests.push({ verb, path, code }),
    },
  );
}, 240_000);

afterAll(async () => {
  await op?.stop();
  await sim?.close();
  try {
    helm('uninstall', release, '--namespace', releaseNs);
  } catch {
    /* already gone */
  }
});

describe('isolation', () => {
  it('a Secret reference resolves in the resource namespace only: a same-named Secret elsewhere is never read', async () => {
    // Valid credentials under the referenced name exist only in another namespace (watched or not).
    sim.state.addClient('client-other', 'secret-other');
    await createSecret(client, outside, 'dds-creds', { client_id: 'client-other', client_secret: 'secret-other' });
    await createSecret(client, teamC, 'dds-creds', { client_id: 'client-other', client_secret: 'secret-other' });
    await createResource(client, PLURAL, dst(teamA, 'lonely', 'dds-creds'));
    const r = await waitFor('lonely refused', async () => {
      const x = await resource(teamA, 'lonely');
      return condition(x, 'Ready')?.status === 'False' ? x : undefined;
    });
    expect(condition(r, 'Ready')?.reason).toBe('SecretNotFound');
    expect(condition(r, 'Ready')?.message).toContain('dds-creds');
    expect(await getSecretData(client, teamA, 'lonely-share')).toBeUndefined();
    // the other namespaces' Secret was never requested, and the provider never saw those credentials
    expect(requests.filter((q) => q.path.endsWith('/secrets/dds-creds') && !q.path.includes(`/namespaces/${teamA}/`))).toEqual([]);
    expect(sim.state.log.filter((e) => e.clientId === 'client-other')).toEqual([]);

    // once the Secret exists in its own namespace (and the spec changes: an immediate retry), it is used
    sim.state.addClient('client-a', 'secret-a');
    await createSecret(client, teamA, 'dds-creds', { client_id: 'client-a', client_secret: 'secret-a' });
    await client.patch(crPath(PLURAL, teamA, 'lonely'), { spec: { overlap: '2h' } }, 'merge');
    await waitFor('lonely Ready', async () => condition(await resource(teamA, 'lonely'), 'Ready')?.status === 'True');
    expect(sim.state.tokens.filter((t) => t.account === 'client-a')).toHaveLength(1);
    expect(sim.state.tokens.filter((t) => t.account === 'client-other')).toHaveLength(0);
  });

  it('namespace-scoped mode: every API request stays in the watched namespaces and the lease namespace', async () => {
    // a resource in an unwatched namespace is never touched
    sim.state.addClient('client-out', 'secret-out');
    await createSecret(client, outside, 'out-creds', { client_id: 'client-out', client_secret: 'secret-out' });
    await createResource(client, PLURAL, dst(outside, 'ignored', 'out-creds'));
    // and one in the second watched namespace is served
    sim.state.addClient('client-c', 'secret-c');
    await createSecret(client, teamC, 'c-creds', { client_id: 'client-c', client_secret: 'secret-c' });
    await createResource(client, PLURAL, dst(teamC, 'served', 'c-creds'));
    await waitFor('served Ready', async () => condition(await resource(teamC, 'served'), 'Ready')?.status === 'True');
    await new Promise((r) => setTimeout(r, 2000));

    const ignored = (await resource(outside, 'ignored'))!;
    expect(ignored.status).toBeUndefined();
    expect(ignored.metadata?.finalizers ?? []).toEqual([]);
    expect(sim.state.log.filter((e) => e.clientId === 'client-out')).toEqual([]);

    const allowed = [teamA, teamC, releaseNs];
    // plus, read-only, where the API server listens (the egress policy refuses it): that one object in default
    const apiServerEndpoints = ['/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/kubernetes', '/api/v1/namespaces/default/endpoints/kubernetes'];
    const inScope = (path: string) =>
      apiServerEndpoints.includes(path) ||
      allowed.some((ns) => path.startsWith(`/api/v1/namespaces/${ns}/`) || new RegExp(`^/apis/[^/]+/[^/]+/namespaces/${ns}/`).test(path));
    const outsideRequests = requests.filter((q) => !inScope(q.path));
    const byNamespace = new Map<string, number>();
    for (const q of requests) {
      const ns = /\/namespaces\/([^/]+)\//.exec(q.path)?.[1] ?? '(cluster)';
      byNamespace.set(ns, (byNamespace.get(ns) ?? 0) + 1);
    }
    console.log(`isolation: ${requests.length} API requests by namespace: ${JSON.stringify(Object.fromEntries(byNamespace))}`);
    expect(requests.length).toBeGreaterThan(10);
    expect(outsideRequests).toEqual([]);
    // the lease was used (leader election on), and nothing was refused by RBAC
    expect(requests.some((q) => q.path.startsWith(`/apis/coordination.k8s.io/v1/namespaces/${releaseNs}/leases`))).toBe(true);
    expect(requests.filter((q) => q.code === 403)).toEqual([]);
  });
});
