import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeClient, type KubeObject } from '../../src/runtime/kube-client.js';
import { startControlPlane, type ControlPlane } from '../cluster/control-plane.js';
import { BASIC_CONTROLLERS, startControllerManager, type ControllerManager } from '../cluster/controller-manager.js';
import { alive } from '../cluster/process.js';
import { crPath, waitFor } from '../support/harness.js';
import { ROOT } from '../support/helm.js';

/**
 * test/cluster/controller-manager.ts on a control plane of its own (the shared one's
 * controller-manager can be turned off with TOKEN_OPERATOR_TEST_CONTROLLERS=0, and is never
 * stopped mid-run): the real garbage collector deletes a Secret whose owner (one of our custom resources) is
 * gone, the namespace controller finishes a namespace deletion, and the serviceaccount
 * controllers give a new namespace what a pod needs.
 */

let cp: ControlPlane;
let cm: ControllerManager;
let client: KubeClient;
let dir: string;

beforeAll(async () => {
  execFileSync('bash', [join(ROOT, 'scripts', 'build-kube.sh'), 'apiserver', 'kube-controller-manager'], { stdio: 'inherit' });
  dir = mkdtempSync(join(tmpdir(), 'token-operator-kcm-'));
  cp = await startControlPlane({ dir, binary: join(ROOT, '.cache', 'bin', 'apiserver') });
  const kubectl = (...args: string[]) => execFileSync('kubectl', args, { env: { ...process.env, KUBECONFIG: cp.kubeconfigPath }, stdio: 'pipe' });
  kubectl('apply', '--server-side', '-f', join(ROOT, 'crds'));
  kubectl('wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all');
  cm = await startControllerManager({ cp, binary: join(ROOT, '.cache', 'bin', 'kube-controller-manager') });
  const kc = new KubeConfig();
  kc.loadFromFile(cp.kubeconfigPath);
  client = new KubeClient(kc, { qps: 100, burst: 100 });
});

afterAll(async () => {
  await cm?.stop();
  await cp?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function namespace(name: string): Promise<void> {
  await client.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
}

const gone = (path: string) => async () => (await client.find(path)) === undefined;

describe('kube-controller-manager in the test cluster', () => {
  it('reports a real version, as the API server does (not v0.0.0-master)', async () => {
    const version = (await client.get<KubeObject>('/version')).gitVersion as string;
    expect(version).toMatch(/^v1\.\d+\.\d+$/);
    const out = execFileSync(join(ROOT, '.cache', 'bin', 'kube-controller-manager'), ['--version'], { encoding: 'utf8' });
    expect(out.trim()).toBe(`Kubernetes ${version}`);
  });

  it('runs the controllers it was asked for', () => {
    expect(cm.controllers).toEqual(BASIC_CONTROLLERS);
    expect(alive(cm.pid)).toBe(true);
  });

  it('gives a new namespace its default ServiceAccount and kube-root-ca.crt', async () => {
    await namespace('kcm-sa');
    await waitFor('default ServiceAccount', () => client.find('/api/v1/namespaces/kcm-sa/serviceaccounts/default'), 30_000);
    await waitFor('kube-root-ca.crt', () => client.find('/api/v1/namespaces/kcm-sa/configmaps/kube-root-ca.crt'), 30_000);
  });

  it('garbage-collects a Secret whose owner, a token resource, was deleted; an unowned Secret stays', async () => {
    await namespace('kcm-gc');
    const owner = await client.create<KubeObject>(crPath('datatokens', 'kcm-gc'), {
      apiVersion: 'token-operator.io/v1alpha1',
      kind: 'DataToken',
      metadata: { name: 'owner', namespace: 'kcm-gc' },
      spec: {
        privicore: { apiUrl: 'https://privicore.example', profileSecretRef: { name: 'p' } },
        source: { secretKeyRef: { name: 's', key: 'k' }, context: 'c' },
        target: { secretName: 'owned' },
      },
    });
    const ownerRef = { apiVersion: 'token-operator.io/v1alpha1', kind: 'DataToken', name: 'owner', uid: owner.metadata!.uid!, controller: true };
    for (const [name, refs] of [['owned', [ownerRef]], ['unowned', []]] as const) {
      await client.create('/api/v1/namespaces/kcm-gc/secrets', { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: 'kcm-gc', ownerReferences: [...refs] }, stringData: { k: 'v' } });
    }
    await client.delete(crPath('datatokens', 'kcm-gc', 'owner'));
    await waitFor('owned Secret collected', gone('/api/v1/namespaces/kcm-gc/secrets/owned'), 60_000, 250);
    expect(await client.find('/api/v1/namespaces/kcm-gc/secrets/unowned')).toBeDefined();
  });

  it('completes a namespace deletion (Secrets, ConfigMaps and token resources in it)', async () => {
    await namespace('kcm-ns');
    await client.create('/api/v1/namespaces/kcm-ns/secrets', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', namespace: 'kcm-ns' }, stringData: { k: 'v' } });
    await client.create('/api/v1/namespaces/kcm-ns/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'kcm-ns' }, data: { k: 'v' } });
    await client.create(crPath('deltasharetokens', 'kcm-ns'), {
      apiVersion: 'token-operator.io/v1alpha1',
      kind: 'DeltaShareToken',
      metadata: { name: 'd', namespace: 'kcm-ns' },
      spec: { dds: { apiUrl: 'https://dds.example', credentialsSecretRef: { name: 's' } }, target: { secretName: 'out' } },
    });
    const started = Date.now();
    await client.delete('/api/v1/namespaces/kcm-ns');
    await waitFor('namespace gone', gone('/api/v1/namespaces/kcm-ns'), 90_000, 250);
    console.log(`[controller-manager] namespace deletion completed in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  });

  it('stops cleanly', async () => {
    await cm.stop();
    expect(alive(cm.pid)).toBe(false);
  });
});
