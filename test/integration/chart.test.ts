import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deployManifest } from '../../scripts/chart.js';
import { loadConfig } from '../../src/config.js';
import { KubeApiError, type KubeClient } from '../../src/runtime/kube-client.js';
import { adminClient, createNamespace } from '../support/harness.js';
import { CHART, ROOT, helm, kubectl, manifests, setFlags, template, type Manifest } from '../support/helm.js';

/**
 * The Helm chart against the real kube-apiserver: lint, server-side dry-run of every
 * rendering mode, a real install/upgrade/uninstall. (The API server has no nodes, so the
 * operator pod never runs here: rbac.test.ts runs the operator with the chart's RBAC.)
 */

let client: KubeClient;
const cleanup: string[] = [];

beforeAll(() => {
  client = adminClient();
});

afterAll(async () => {
  for (const ns of cleanup) await client.delete(`/api/v1/namespaces/${ns}`).catch(() => undefined);
});

const byKind = (ms: Manifest[], kind: string) => ms.filter((m) => m.kind === kind);
type Container = { env: Array<{ name: string; value?: string; valueFrom?: unknown }>; securityContext: Record<string, unknown>; livenessProbe: { httpGet: { path: string } }; readinessProbe: { httpGet: { path: string } }; resources: { requests?: unknown; limits?: unknown } };
type PodSpec = { securityContext: Record<string, unknown>; containers: Container[]; serviceAccountName: string };
const podSpec = (ms: Manifest[]) => (byKind(ms, 'Deployment')[0]!.spec as { template: { spec: PodSpec } }).template.spec;

/** server-side dry-run of a rendered chart: every object must pass admission and validation */
function dryRun(yamlText: string): string {
  return kubectl(['apply', '--server-side', '--force-conflicts', '--field-manager=chart-test', '--dry-run=server', '-f', '-'], yamlText);
}

describe('the token-operator Helm chart', () => {
  it('passes helm lint --strict in every mode', () => {
    const modes: Array<Record<string, string | number | boolean | string[]>> = [{}, { watchNamespaces: ['a', 'b'] }, { replicaCount: 3, 'serviceMonitor.enabled': true, 'prometheusRule.enabled': true, 'networkPolicy.enabled': true }, { 'crds.enabled': false, 'rbac.create': false, 'serviceAccount.create': false }];
    for (const values of modes) {
      expect(helm('lint', CHART, '--strict', ...setFlags(values))).toContain('0 chart(s) failed');
    }
  });

  it('refuses invalid values through values.schema.json', () => {
    expect(() => template('t', 'x', { logLevel: 'loud' })).toThrow(/logLevel/);
    expect(() => template('t', 'x', { controllers: ['Certificate'] })).toThrow(/controllers/);
    expect(() => template('t', 'x', { workers: 0 })).toThrow(/workers/);
    expect(() => template('t', 'x', { 'leaderElection.renewDeadlineSeconds': 15 })).toThrow(/renewDeadlineSeconds must be shorter than leaderElection.leaseDurationSeconds/);
    expect(() => template('t', 'x', { 'leaderElection.retryPeriodSeconds': 10 })).toThrow(/retryPeriodSeconds must be shorter than leaderElection.renewDeadlineSeconds/);
    expect(() => template('t', 'x', { 'egress.deniedCidrs': ['not a range'] })).toThrow(/deniedCidrs/);
    expect(() => template('t', 'x', { 'egress.allowedHosts': ['https://api.example.com/'] })).toThrow(/allowedHosts/);
    expect(() => template('t', 'x', { maxInputSecretBytes: 10 })).toThrow(/maxInputSecretBytes/);
  });

  it('renders a restricted, probed Deployment whose env the operator config reads back exactly', () => {
    const ms = manifests(
      template('tok', 'ops', {
        watchNamespaces: ['team-a', 'team-b'],
        workers: 3,
        kubeQps: 7,
        kubeBurst: 9,
        resyncSeconds: 120,
        logLevel: 'debug',
        'leaderElection.leaseDurationSeconds': 30,
        'leaderElection.renewDeadlineSeconds': 20,
        'leaderElection.retryPeriodSeconds': 4,
        'leaderElection.lostLeaseGraceSeconds': 300,
        controllers: ['DeltaShareToken'],
        providerTimeoutSeconds: 30,
        providerQps: 5,
        minOverlapSeconds: 300,
        heapGrowingPercent: 80,
        'rolloutRestart.debounceSeconds': 30,
        'rolloutRestart.actAsReloader': true,
        'egress.deniedCidrs': ['10.0.0.0/8', 'fd00::/8'],
        'egress.allowedHosts': ['api.example.com', '*.zalando.com'],
        maxInputSecretBytes: 65536,
      }),
    );
    const spec = podSpec(ms);
    expect(spec.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    const c = spec.containers[0]!;
    expect(c.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    expect(c.livenessProbe.httpGet.path).toBe('/healthz');
    expect(c.readinessProbe.httpGet.path).toBe('/readyz');
    expect(c.resources.requests).toBeTruthy();
    expect(c.resources.limits).toBeTruthy();
    expect(c.env.find((e) => e.name === 'POD_NAME')?.valueFrom).toEqual({ fieldRef: { fieldPath: 'metadata.name' } });
    expect(c.env.find((e) => e.name === 'POD_NAMESPACE')?.valueFrom).toEqual({ fieldRef: { fieldPath: 'metadata.namespace' } });

    // The chart's env is the operator's config: parse it with the operator's own loader.
    const env = Object.fromEntries(c.env.filter((e) => e.value !== undefined).map((e) => [e.name, e.value!]));
    const cfg = loadConfig({ ...env, POD_NAMESPACE: 'ops' }, []);
    expect(cfg).toMatchObject({
      watchNamespaces: ['team-a', 'team-b'],
      workers: 3,
      kubeQps: 7,
      kubeBurst: 9,
      resyncSeconds: 120,
      logLevel: 'debug',
      leaderElect: true,
      leaseNamespace: 'ops',
      leaseName: 'tok-token-operator',
      leaseDurationSeconds: 30,
      renewDeadlineSeconds: 20,
      retryPeriodSeconds: 4,
      lostLeaseGraceSeconds: 300,
      controllers: ['DeltaShareToken'],
      providerTimeoutSeconds: 30,
      providerQps: 5,
      minOverlapSeconds: 300,
      heapGrowingPercent: 80,
      rolloutDebounceSeconds: 30,
      actAsReloader: true,
      healthPort: 8080,
      allowInsecureHttp: false,
      allowLoopbackEgress: false,
      egressDeniedCidrs: ['10.0.0.0/8', 'fd00::/8'],
      egressAllowedHosts: ['api.example.com', '*.zalando.com'],
      maxInputSecretBytes: 65536,
    });
    // defaults round-trip too (empty watch list = all namespaces)
    const defaults = podSpec(manifests(template('tok', 'ops'))).containers[0]!.env;
    const dcfg = loadConfig(Object.fromEntries(defaults.filter((e) => e.value !== undefined).map((e) => [e.name, e.value!])), []);
    expect(dcfg.watchNamespaces).toEqual([]);
    expect(dcfg.controllers).toEqual(['DeltaShareToken', 'AccessToken', 'DataToken']);
    expect(dcfg.actAsReloader).toBe(false);
    expect(dcfg.heapGrowingPercent).toBe(50);
    expect(dcfg).toMatchObject({ egressDeniedCidrs: [], egressAllowedHosts: [], allowLoopbackEgress: false, maxInputSecretBytes: 262144 });
    // the process-level memory settings the operator cannot set itself (bench/README.md)
    expect(defaults.find((e) => e.name === 'NODE_OPTIONS')?.value).toBe('--max-semi-space-size=2 --max-old-space-size-percentage=50');
    expect(defaults.find((e) => e.name === 'MALLOC_ARENA_MAX')?.value).toBe('2');
    // every TOKEN_OPERATOR_* variable the chart sets is one the operator reads
    const read = readFileSync(join(ROOT, 'src', 'config.ts'), 'utf8');
    for (const e of defaults.filter((e) => e.name.startsWith('TOKEN_OPERATOR_') && e.name !== 'TOKEN_OPERATOR_VERSION')) {
      expect(read, e.name).toContain(`'${e.name.slice('TOKEN_OPERATOR_'.length)}'`);
    }
  });

  it('carries the recommended labels on every object and keeps CRDs by default', () => {
    const ms = manifests(template('tok', 'ops'));
    for (const m of ms) {
      expect(m.metadata.labels, `${m.kind}/${m.metadata.name}`).toMatchObject({
        'app.kubernetes.io/name': 'token-operator',
        'app.kubernetes.io/instance': 'tok',
        'app.kubernetes.io/managed-by': 'Helm',
        'app.kubernetes.io/part-of': 'token-operator',
      });
    }
    const crds = byKind(ms, 'CustomResourceDefinition');
    expect(crds.map((c) => c.metadata.name).sort()).toEqual(['accesstokens.token-operator.io', 'datatokens.token-operator.io', 'deltasharetokens.token-operator.io']);
    for (const c of crds) expect(c.metadata.annotations?.['helm.sh/resource-policy']).toBe('keep');
    for (const c of byKind(manifests(template('tok', 'ops', { 'crds.keep': false })), 'CustomResourceDefinition')) {
      expect(c.metadata.annotations?.['helm.sh/resource-policy']).toBeUndefined();
    }
    expect(byKind(manifests(template('tok', 'ops', { 'crds.enabled': false })), 'CustomResourceDefinition')).toHaveLength(0);
    // the chart's CRD templates carry exactly the generated CRDs
    for (const c of crds) {
      const generated = manifests(readFileSync(join(ROOT, 'crds', `${c.metadata.name}.yaml`), 'utf8'))[0]!;
      expect(c.spec).toEqual(generated.spec);
    }
  });

  it('deploy/token-operator.yaml is the chart rendered with its defaults', () => {
    expect(readFileSync(join(ROOT, 'deploy', 'token-operator.yaml'), 'utf8')).toBe(deployManifest(ROOT));
  });

  it('cluster-wide rendering passes a server-side dry-run, pods included under the restricted Pod Security level', async () => {
    const ns = await createNamespace(client, 'chart');
    cleanup.push(ns);
    // enforce the restricted Pod Security Standard on the release namespace
    await client.patch(`/api/v1/namespaces/${ns}`, { metadata: { labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } } }, 'merge');
    const rendered = template(`dry-${ns}`, ns);
    const out = dryRun(rendered);
    for (const kind of ['customresourcedefinition', 'clusterrole', 'clusterrolebinding', 'role', 'rolebinding', 'serviceaccount', 'service', 'deployment']) {
      expect(out).toMatch(new RegExp(`^${kind}[./]`, 'm'));
    }
    // Pod Security admission judges pods, not Deployments: dry-run the pod the Deployment would make.
    const spec = podSpec(manifests(rendered));
    // ServiceAccount admission wants the pod's account to exist; the controller-manager that
    // makes `default` may not run here
    await client.create(`/api/v1/namespaces/${ns}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default', namespace: ns } }).catch((e: unknown) => {
      if (!(e instanceof KubeApiError && e.status === 409)) throw e;
    });
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'operator-pod', namespace: ns }, spec: { ...spec, serviceAccountName: 'default' } };
    expect(kubectl(['create', '--dry-run=server', '-f', '-'], JSON.stringify(pod))).toContain('created (server dry run)');
    // …and the same admission does refuse a pod that breaks the standard (the check is live)
    const bad = structuredClone(pod) as typeof pod;
    (bad.spec.containers[0]!.securityContext as Record<string, unknown>).allowPrivilegeEscalation = true;
    expect(() => kubectl(['create', '--dry-run=server', '-f', '-'], JSON.stringify(bad))).toThrow(/violates PodSecurity "restricted/);
  });

  it('watchNamespaces rendering passes a server-side dry-run and grants nothing cluster-wide beyond aggregation and reading the watched namespaces', async () => {
    const ns = await createNamespace(client, 'chart');
    const a = await createNamespace(client, 'team');
    const b = await createNamespace(client, 'team');
    cleanup.push(ns, a, b);
    const rendered = template(`dry-${ns}`, ns, { watchNamespaces: [a, b] });
    const ms = manifests(rendered);
    // the one binding: get on the watched namespaces themselves (is one being deleted?)
    expect(byKind(ms, 'ClusterRoleBinding').map((r) => r.metadata.name)).toEqual([`dry-${ns}-token-operator-namespaces`]);
    const nsRole = byKind(ms, 'ClusterRole').find((r) => r.metadata.name === `dry-${ns}-token-operator-namespaces`);
    expect(nsRole?.rules).toEqual([{ apiGroups: [''], resources: ['namespaces'], resourceNames: [a, b], verbs: ['get'] }]);
    // otherwise only the aggregated view/edit ClusterRoles, which bind to nobody by themselves
    expect(byKind(ms, 'ClusterRole').map((r) => r.metadata.name).sort()).toEqual(
      [`dry-${ns}-token-operator-edit`, `dry-${ns}-token-operator-namespaces`, `dry-${ns}-token-operator-view`].sort(),
    );
    // the watched namespaces, the Lease's, and `default` (read-only: the kubernetes Service's endpoints, for the egress policy)
    expect(byKind(ms, 'Role').map((r) => r.metadata.namespace).sort()).toEqual([a, b, ns, 'default'].sort());
    const out = dryRun(rendered);
    expect(out).toContain(`role.rbac.authorization.k8s.io/dry-${ns}-token-operator serverside-applied (server dry run)`);
  });

  it('optional objects (PDB, NetworkPolicy, ServiceMonitor, PrometheusRule) pass a server-side dry-run', async () => {
    // stand-ins for the Prometheus Operator CRDs (schema-less: this proves kinds, names and YAML)
    for (const [kind, plural] of [['ServiceMonitor', 'servicemonitors'], ['PrometheusRule', 'prometheusrules']] as const) {
      kubectl(
        ['apply', '--server-side', '-f', '-'],
        JSON.stringify({
          apiVersion: 'apiextensions.k8s.io/v1',
          kind: 'CustomResourceDefinition',
          metadata: { name: `${plural}.monitoring.coreos.com` },
          spec: {
            group: 'monitoring.coreos.com',
            scope: 'Namespaced',
            names: { kind, plural, singular: kind.toLowerCase(), listKind: `${kind}List` },
            versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }],
          },
        }),
      );
    }
    kubectl(['wait', '--for=condition=Established', '--timeout=30s', 'crd/servicemonitors.monitoring.coreos.com', 'crd/prometheusrules.monitoring.coreos.com']);
    const ns = await createNamespace(client, 'chart');
    cleanup.push(ns);
    const rendered = template(`opt-${ns}`, ns, { replicaCount: 2, 'serviceMonitor.enabled': true, 'prometheusRule.enabled': true, 'networkPolicy.enabled': true });
    const out = dryRun(rendered);
    for (const kind of ['poddisruptionbudget', 'networkpolicy', 'servicemonitor', 'prometheusrule']) expect(out).toMatch(new RegExp(`^${kind}[./]`, 'm'));
    const rule = byKind(manifests(rendered), 'PrometheusRule')[0]!;
    const exprs = ((rule.spec as { groups: Array<{ rules: Array<{ alert: string; expr: string }> }> }).groups[0]!.rules).map((r) => r.expr).join('\n');
    // what each alert means is tested with promtool (test/unit/monitoring/alert-rules.test.ts)
    expect(exprs).toContain('time() - token_operator_token_next_rotation_timestamp_seconds > token_operator:token_rotation_grace_seconds');
    expect(exprs).toContain('token_operator_token_stalled == 1');
    expect(exprs).toContain('token_operator_rotations_total{result="failed"}');
    // every metric an alert uses exists in the operator
    const metricsSource = readFileSync(join(ROOT, 'src', 'runtime', 'metrics.ts'), 'utf8');
    for (const name of new Set(exprs.match(/token_operator_[a-z_]+/g))) expect(metricsSource).toContain(`'${name}'`);
    // a single replica gets no PDB (it would block node drains forever)
    expect(byKind(manifests(template('x', ns)), 'PodDisruptionBudget')).toHaveLength(0);
  });

  it('helm install adopts existing CRDs, creates every object; upgrade upgrades; uninstall keeps the CRDs', async () => {
    const ns = await createNamespace(client, 'chart');
    cleanup.push(ns);
    const release = `inst-${ns.split('-')[1]}`;
    // The CRDs already exist (applied with kubectl by the test set-up, as a user upgrading to the chart would have them).
    helm('install', release, CHART, '--namespace', ns, '--take-ownership');
    const fullname = `${release}-token-operator`;
    for (const path of [
      `/apis/apps/v1/namespaces/${ns}/deployments/${fullname}`,
      `/api/v1/namespaces/${ns}/serviceaccounts/${fullname}`,
      `/api/v1/namespaces/${ns}/services/${fullname}-metrics`,
      `/apis/rbac.authorization.k8s.io/v1/clusterroles/${fullname}`,
      `/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/${fullname}`,
      `/apis/rbac.authorization.k8s.io/v1/clusterroles/${fullname}-view`,
      `/apis/rbac.authorization.k8s.io/v1/clusterroles/${fullname}-edit`,
      `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles/${fullname}-leader-election`,
      `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings/${fullname}-leader-election`,
      `/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles/${fullname}-api-server-endpoints`,
      `/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings/${fullname}-api-server-endpoints`,
    ]) {
      expect((await client.find(path))?.metadata?.name, path).toBeTruthy();
    }
    const crd = await client.get('/apis/apiextensions.k8s.io/v1/customresourcedefinitions/deltasharetokens.token-operator.io');
    expect(crd.metadata?.annotations).toMatchObject({ 'meta.helm.sh/release-name': release, 'meta.helm.sh/release-namespace': ns, 'helm.sh/resource-policy': 'keep' });
    expect(crd.metadata?.labels?.['app.kubernetes.io/managed-by']).toBe('Helm');

    // the aggregated roles match the built-in roles' aggregation selectors (the controller that
    // copies the rules, in kube-controller-manager, does not run here)
    for (const [builtin, ours] of [['view', 'view'], ['edit', 'edit'], ['edit', 'view'], ['admin', 'edit']]) {
      const role = await client.get(`/apis/rbac.authorization.k8s.io/v1/clusterroles/${builtin}`);
      const selectors = (role.aggregationRule as { clusterRoleSelectors: Array<{ matchLabels: Record<string, string> }> }).clusterRoleSelectors;
      const labels = (await client.get(`/apis/rbac.authorization.k8s.io/v1/clusterroles/${fullname}-${ours}`)).metadata?.labels ?? {};
      expect(selectors.some((s) => Object.entries(s.matchLabels).every(([k, v]) => labels[k] === v)), `${ours} aggregates into ${builtin}`).toBe(true);
    }

    // upgrade: a value change lands, the CRDs stay owned by the release
    helm('upgrade', release, CHART, '--namespace', ns, ...setFlags({ replicaCount: 2, logLevel: 'debug' }));
    const dep = await client.get(`/apis/apps/v1/namespaces/${ns}/deployments/${fullname}`);
    expect((dep.spec as { replicas: number }).replicas).toBe(2);
    expect(await client.find(`/apis/policy/v1/namespaces/${ns}/poddisruptionbudgets/${fullname}`)).toBeTruthy();
    expect(helm('status', release, '--namespace', ns)).toMatch(/STATUS: deployed/);
    expect(helm('history', release, '--namespace', ns)).toMatch(/2\s+.*deployed/);

    helm('uninstall', release, '--namespace', ns, '--wait', '--timeout', '60s');
    expect(await client.find(`/apis/apps/v1/namespaces/${ns}/deployments/${fullname}`)).toBeUndefined();
    expect(await client.find(`/apis/rbac.authorization.k8s.io/v1/clusterroles/${fullname}`)).toBeUndefined();
    for (const plural of ['deltasharetokens', 'accesstokens', 'datatokens']) {
      expect(await client.find(`/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${plural}.token-operator.io`), plural).toBeTruthy();
    }
  });

  it('the samples in deploy/samples pass a server-side dry-run', async () => {
    kubectl(['apply', '--server-side', '-f', join(ROOT, 'deploy', 'samples', '00-namespace.yaml')]);
    cleanup.push('token-demo');
    const out = kubectl(['apply', '--server-side', '--dry-run=server', '-f', join(ROOT, 'deploy', 'samples')]);
    expect(out).toContain('deltasharetoken.token-operator.io/zalando-dds serverside-applied');
    expect(out).toContain('accesstoken.token-operator.io/ilp-outgoing serverside-applied');
    expect(out).toContain('datatoken.token-operator.io/report-key serverside-applied');
  });
});
