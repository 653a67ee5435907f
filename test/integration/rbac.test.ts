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
import { CHART, canI, grants, helm, manifests, serviceAccountUser, setFlags, template, type PolicyRule } from '../support/helm.js';

/**
 * The chart's RBAC is proven, not assumed: the operator runs in-process impersonating the
 * chart's ServiceAccount, so the API server's RBAC authorizer judges every call it makes.
 * And every rule the chart grants is one the code needs (the list below mirrors src/).
 */

const KINDS = ['deltasharetokens', 'accesstokens', 'datatokens'];
/** What src/ calls, as group/resource:verb ("" = core). Keep in step with the code. */
const NEEDED = new Set([
  // informers (list+watch), get, finalizer JSON patch
  ...KINDS.flatMap((k) => ['get', 'list', 'watch', 'patch'].map((v) => `token-operator.io/${k}:${v}`)),
  // status writer: merge patch on /status
  ...KINDS.map((k) => `token-operator.io/${k}/status:patch`),
  // Secrets carry an ownerReference with blockOwnerDeletion: with the OwnerReferencesPermissionEnforcement
  // admission plugin (on in OpenShift and hardened clusters) that needs update on <kind>/finalizers.
  ...KINDS.map((k) => `token-operator.io/${k}/finalizers:update`),
  // managed-Secret informer (label selector), input Secrets and an unlabelled target (get), the target
  // (create: a POST that fails if someone else's Secret is there; patch: a guarded merge patch), the
  // state Secret (create, then update: PUT), revoke-then-delete (delete), the HMAC key Secret (create)
  ...['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'].map((v) => `/secrets:${v}`),
  // deletion never hangs: is the namespace being deleted?
  '/namespaces:get',
  // event recorder: create, then merge-patch the count of a repeated event
  '/events:create',
  '/events:patch',
  // target.rolloutRestart (rolloutRestart.enabled): get (does the pod template use the Secret?), then
  // merge-patch the pod template annotation (src/controllers/shared/rollout.ts; `list` only with
  // rolloutRestart.actAsReloader)
  ...['deployments', 'statefulsets', 'daemonsets'].flatMap((w) => [`apps/${w}:get`, `apps/${w}:patch`]),
]);
const LEADER_ELECTION = new Set(['coordination.k8s.io/leases:create', 'coordination.k8s.io/leases:get', 'coordination.k8s.io/leases:patch', '/secrets:create', '/secrets:get']);

let client: KubeClient;
let sim: DdsSimulator;
const operators: TestOperator[] = [];
const releases: Array<[string, string]> = [];

beforeAll(async () => {
  client = adminClient();
  sim = await startDdsSimulator();
});

afterAll(async () => {
  for (const op of operators) await op.stop().catch(() => undefined);
  await sim?.close();
  for (const [release, ns] of releases) {
    try {
      helm('uninstall', release, '--namespace', ns);
    } catch {
      /* already gone */
    }
  }
});

/** helm install with the CRDs left alone (the test set-up installed them; chart.test.ts covers them) */
async function install(values: Record<string, string | number | boolean | string[]> = {}): Promise<{ ns: string; release: string; sa: string; fullname: string }> {
  const ns = await createNamespace(client, 'rbac');
  const release = `r${ns.split('-')[1]}`;
  helm('install', release, CHART, '--namespace', ns, ...setFlags({ 'crds.enabled': false, ...values }));
  releases.push([release, ns]);
  const fullname = `${release}-token-operator`;
  return { ns, release, fullname, sa: serviceAccountUser(ns, fullname) };
}

async function deltaShareToken(ns: string, name: string, deletionPolicy: 'Retain' | 'Revoke' = 'Revoke'): Promise<void> {
  sim.state.addClient(`client-${name}`, `secret-${name}`);
  await createSecret(client, ns, `zdirect-${name}`, { client_id: `client-${name}`, client_secret: `secret-${name}` });
  await createResource(client, 'deltasharetokens', {
    apiVersion: 'token-operator.io/v1alpha1',
    kind: 'DeltaShareToken',
    metadata: { name, namespace: ns },
    spec: {
      dds: { apiUrl: sim.url, credentialsSecretRef: { name: `zdirect-${name}` }, allowInsecureHttp: true },
      rotation: { rotateBefore: '720h' },
      overlap: '1h',
      target: { secretName: `${name}-share` },
      deletionPolicy,
    },
  });
}

const ready = (ns: string, name: string, reason?: string) =>
  waitFor(`${ns}/${name} Ready${reason ? ` (${reason})` : ''}`, async () => {
    const r = await getResource(client, 'deltasharetokens', ns, name);
    const c = condition(r, 'Ready');
    return c?.status === 'True' && (!reason || c.reason === reason) ? r : undefined;
  });

function forbidden(op: TestOperator): string[] {
  return op.logs.lines.filter((l) => /forbidden|\b403\b/i.test(l));
}

describe('chart RBAC, least privilege', () => {
  it('the ClusterRole grants exactly what the code calls, and nothing else', () => {
    const ms = manifests(template('t', 'ops'));
    const clusterRole = ms.find((m) => m.kind === 'ClusterRole' && m.metadata.name === 't-token-operator')!;
    const rules = clusterRole.rules as PolicyRule[];
    expect([...grants(rules)].sort()).toEqual([...NEEDED].sort());
    expect(rules.some((r) => r.resources?.includes('*') || r.verbs.includes('*') || r.apiGroups?.includes('*'))).toBe(false);

    const le = ms.find((m) => m.kind === 'Role' && m.metadata.name === 't-token-operator-leader-election')!;
    const leRules = le.rules as PolicyRule[];
    expect([...grants(leRules)].sort()).toEqual([...LEADER_ELECTION].sort());
    // get/patch only on its own Lease and its own HMAC key Secret (create cannot be narrowed by name)
    for (const r of leRules.filter((r) => r.verbs.some((v) => v !== 'create'))) expect(r.resourceNames, JSON.stringify(r)).toBeTruthy();
    expect(le.metadata.namespace).toBe('ops');

    // the egress policy reads where the API server listens: get on that one object, in default
    const api = ms.find((m) => m.kind === 'Role' && m.metadata.name === 't-token-operator-api-server-endpoints')!;
    expect(api.metadata.namespace).toBe('default');
    expect([...grants(api.rules as PolicyRule[])].sort()).toEqual(['/endpoints:get', 'discovery.k8s.io/endpointslices:get']);
    for (const r of api.rules as PolicyRule[]) expect(r.resourceNames).toEqual(['kubernetes']);

    // Reloader mode lists workloads (only then)
    const reloader = manifests(template('t', 'ops', { 'rolloutRestart.actAsReloader': true })).find((m) => m.kind === 'ClusterRole' && m.metadata.name === 't-token-operator')!;
    expect([...grants(reloader.rules as PolicyRule[])].filter((g) => g.startsWith('apps/')).sort()).toEqual(
      ['daemonsets', 'deployments', 'statefulsets'].flatMap((r) => [`apps/${r}:get`, `apps/${r}:list`, `apps/${r}:patch`]).sort(),
    );
    // workload restarts are a switch
    const off = manifests(template('t', 'ops', { 'rolloutRestart.enabled': false })).find((m) => m.kind === 'ClusterRole' && m.metadata.name === 't-token-operator')!;
    expect([...grants(off.rules as PolicyRule[])].filter((g) => g.startsWith('apps/'))).toEqual([]);
    // namespaced mode: the same rules, in Roles; reading a namespace (cluster-scoped) is the one
    // ClusterRole, narrowed to the watched namespaces by name
    const namespaced = manifests(template('t', 'ops', { watchNamespaces: ['a', 'b'] }));
    const scoped = namespaced.filter((m) => m.kind === 'Role' && m.metadata.name === 't-token-operator');
    expect(scoped.map((r) => r.metadata.namespace).sort()).toEqual(['a', 'b']);
    const inNamespace = [...NEEDED].filter((g) => g !== '/namespaces:get').sort();
    for (const r of scoped) expect([...grants(r.rules as PolicyRule[])].sort()).toEqual(inNamespace);
    const nsRole = namespaced.find((m) => m.kind === 'ClusterRole' && m.metadata.name === 't-token-operator-namespaces')!;
    expect(nsRole.rules).toEqual([{ apiGroups: [''], resources: ['namespaces'], resourceNames: ['a', 'b'], verbs: ['get'] }]);
    expect(namespaced.filter((m) => m.kind === 'ClusterRole').map((m) => m.metadata.name)).not.toContain('t-token-operator');
  });

  it('cluster-wide install: the operator, as the chart ServiceAccount, elects a leader and issues, rotates and revokes', async () => {
    const { ns: releaseNs, sa, fullname } = await install();
    const appNs = await createNamespace(client, 'rbac-app');
    const op = await startTestOperator(
      { leaderElect: true, leaseNamespace: releaseNs, leaseName: fullname, identity: 'rbac-test', leaseDurationSeconds: 15 },
      { impersonate: sa },
    );
    operators.push(op);
    await waitFor('leadership', async () => op.ready(), 30_000);
    const lease = await client.get(`/apis/coordination.k8s.io/v1/namespaces/${releaseNs}/leases/${fullname}`);
    expect((lease.spec as { holderIdentity: string }).holderIdentity).toBe('rbac-test');
    expect(await client.find(`/api/v1/namespaces/${releaseNs}/secrets/token-operator-hmac-key`)).toBeTruthy();

    await deltaShareToken(appNs, 'cw');
    await ready(appNs, 'cw', 'Issued');
    expect((await getSecretData(client, appNs, 'cw-share'))?.['config.share']).toBeTruthy();
    // events were written as the ServiceAccount
    const events = await waitFor('an event', async () => {
      const list = await client.list(`/api/v1/namespaces/${appNs}/events`);
      return list.items.find((e) => (e.involvedObject as { name: string }).name === 'cw') ?? undefined;
    });
    expect(events.reason).toBe('Issued');

    // rotate now (annotation) → patch Secret again
    await client.patch(crPath('deltasharetokens', appNs, 'cw'), { metadata: { annotations: { 'token-operator.io/rotate': new Date().toISOString() } } }, 'merge');
    await ready(appNs, 'cw', 'Rotated');

    // delete with deletionPolicy Revoke → revoke, delete the Secret, drop the finalizer
    await client.delete(crPath('deltasharetokens', appNs, 'cw'));
    await waitFor('resource gone', async () => !(await getResource(client, 'deltasharetokens', appNs, 'cw')));
    expect(await getSecretData(client, appNs, 'cw-share')).toBeUndefined();
    expect(forbidden(op)).toEqual([]);

    // what the ServiceAccount cannot do
    const no: Array<[string, string, string?]> = [
      ['get', 'nodes'],
      ['list', 'pods'],
      ['get', 'configmaps', appNs],
      ['create', 'customresourcedefinitions.apiextensions.k8s.io'],
      ['create', 'deltasharetokens.token-operator.io', appNs],
      ['delete', 'deltasharetokens.token-operator.io', appNs],
      ['update', 'deltasharetokens.token-operator.io', appNs],
      ['list', 'deployments.apps', appNs],
      ['update', 'deployments.apps', appNs],
      ['delete', 'namespaces'],
      ['create', 'serviceaccounts/token', appNs],
      ['impersonate', 'users'],
      ['create', 'clusterroles.rbac.authorization.k8s.io'],
      ['bind', 'clusterroles.rbac.authorization.k8s.io'],
      ['patch', 'leases.coordination.k8s.io', appNs],
      ['create', 'leases.coordination.k8s.io', appNs],
      ['list', 'certificatesigningrequests.certificates.k8s.io'],
    ];
    for (const [verb, resource, where] of no) expect(canI(sa, verb, resource, where), `${sa} must not ${verb} ${resource}`).toBe(false);
    const yes: Array<[string, string, string?]> = [
      ['list', 'secrets', appNs],
      ['patch', 'deltasharetokens.token-operator.io/status', appNs],
      ['patch', 'deployments.apps', appNs],
      ['get', 'deployments.apps', appNs],
      ['get', 'namespaces'],
      ['create', 'events', appNs],
    ];
    for (const [verb, resource, where] of yes) expect(canI(sa, verb, resource, where), `${sa} may ${verb} ${resource}`).toBe(true);

    await op.stop();
  });

  it('namespaced install: Roles in the watched namespaces are enough, and nothing outside them is reachable', async () => {
    const teamA = await createNamespace(client, 'rbac-team');
    const teamB = await createNamespace(client, 'rbac-team');
    const { ns: releaseNs, sa, fullname } = await install({ watchNamespaces: [teamA], 'leaderElection.enabled': false });
    const op = await startTestOperator({ watchNamespaces: [teamA], leaderElect: false, leaseNamespace: releaseNs, leaseName: fullname }, { impersonate: sa });
    operators.push(op);
    await deltaShareToken(teamA, 'scoped', 'Retain');
    await ready(teamA, 'scoped', 'Issued');
    expect((await getSecretData(client, teamA, 'scoped-share'))?.bearerToken).toBeTruthy();
    // the HMAC key Secret beside the (unused) Lease, through the leader-election Role alone
    expect(await client.find(`/api/v1/namespaces/${releaseNs}/secrets/token-operator-hmac-key`)).toBeTruthy();
    expect(forbidden(op)).toEqual([]);

    for (const [verb, resource, where] of [
      ['list', 'secrets', teamB],
      ['get', 'secrets', teamB],
      ['list', 'secrets', undefined],
      ['list', 'deltasharetokens.token-operator.io', teamB],
      ['list', 'deltasharetokens.token-operator.io', undefined],
      ['get', 'secrets', releaseNs],
      ['create', 'leases.coordination.k8s.io', releaseNs],
    ] as Array<[string, string, string | undefined]>) {
      expect(canI(sa, verb, resource, where), `${sa} must not ${verb} ${resource} in ${where ?? 'all namespaces'}`).toBe(false);
    }
    expect(canI(sa, 'get', 'secrets/token-operator-hmac-key', releaseNs)).toBe(true);
    await op.stop();
  });

  it('a missing rule fails: without Secret create the operator cannot issue, and says so', async () => {
    const { sa, fullname } = await install({ 'rolloutRestart.enabled': false });
    const appNs = await createNamespace(client, 'rbac-neg');
    // drop `create` from the Secret rule of this release's ClusterRole
    const path = `/apis/rbac.authorization.k8s.io/v1/clusterroles/${fullname}`;
    const role = await client.get(path);
    const rules = (role.rules as PolicyRule[]).map((r) => (r.resources?.includes('secrets') ? { ...r, verbs: r.verbs.filter((v) => v !== 'create') } : r));
    await client.patch(path, { rules }, 'merge');
    // the operator's HMAC key (in the lease namespace, "default" here) is there already, as after any first start
    if (!(await client.find('/api/v1/namespaces/default/secrets/token-operator-hmac-key'))) {
      await createSecret(client, 'default', 'token-operator-hmac-key', { key: 'k'.repeat(32) });
    }
    const op = await startTestOperator({ watchNamespaces: [appNs] }, { impersonate: sa });
    operators.push(op);
    await deltaShareToken(appNs, 'neg', 'Retain');
    const failed = await waitFor('Ready=False', async () => {
      const r = await getResource<KubeObject>(client, 'deltasharetokens', appNs, 'neg');
      return condition(r, 'Ready')?.status === 'False' ? r : undefined;
    });
    expect(condition(failed, 'Ready')?.message ?? '').not.toContain('secret-neg');
    expect(await getSecretData(client, appNs, 'neg-share')).toBeUndefined();
    expect(forbidden(op).length).toBeGreaterThan(0);
    await op.stop();
  });
});
