/**
 * What happens to Secrets and namespaces with the real garbage collector and namespace
 * controller running (kube-controller-manager on the node), as the README documents it:
 * - deletionPolicy Revoke: the credential is revoked and the target Secret deleted;
 * - deletionPolicy Retain: the Secret stays, with no owner reference left that the garbage
 *   collector could act on;
 * - `kubectl delete namespace` with Revoke-policy tokens of every kind completes (the namespace
 *   controller deletes the tokens' input Secrets at the same time as the tokens).
 */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { KubeClient, KubeObject } from '../../src/runtime/kube-client.js';
import { ddsFixture, gnapFixture } from '../support/fixtures.js';
import { adminClient, condition, createNamespace, createResource, createSecret, crPath, getResource, waitFor } from '../support/harness.js';
import { skipNote, skipReason, startSimulators, type Simulators } from './support.js';

let client: KubeClient;
let sims: Simulators;
let ns: string;

const secretPath = (namespace: string, name: string) => `/api/v1/namespaces/${namespace}/secrets/${name}`;
const readyOf = async (plural: string, namespace: string, name: string) =>
  waitFor(`${name} Ready`, async () => {
    const r = await getResource(client, plural, namespace, name);
    return condition(r, 'Ready')?.status === 'True' ? r : undefined;
  }, 120_000, 500);

function dataToken(namespace: string, name: string, deletionPolicy: string): KubeObject {
  return {
    apiVersion: 'token-operator.io/v1alpha1',
    kind: 'DataToken',
    metadata: { name, namespace },
    spec: {
      privicore: { apiUrl: sims.privicore.url, profileSecretRef: { name: 'privicore-profile' }, allowInsecureHttp: true },
      source: { secretKeyRef: { name: 'payload', key: 'data' }, context: 'e2e.gc' },
      target: { secretName: `${name}-out` },
      deletionPolicy,
    },
  };
}

async function privicoreInputs(namespace: string): Promise<void> {
  await createSecret(client, namespace, 'privicore-profile', { username: 'gc', password: 'gc-pw' });
  await createSecret(client, namespace, 'payload', { data: 'something worth tokenizing' });
}

describe.skipIf(!!skipReason)(`garbage collection and namespace deletion on a real cluster${skipNote}`, () => {
  beforeAll(async () => {
    client = adminClient();
    sims = await startSimulators();
    sims.privicore.addProfile('gc', 'gc-pw');
    ns = await createNamespace(client, 'gc');
    await privicoreInputs(ns);
  });

  afterAll(async () => {
    await client.delete(`/api/v1/namespaces/${ns}`).catch(() => undefined);
    await waitFor('gc namespace deleted', async () => (await client.find(`/api/v1/namespaces/${ns}`)) === undefined, 180_000, 1000).catch(() => undefined);
    await sims?.close();
  });

  it('deletionPolicy Revoke: the credential is revoked at the provider and the target Secret deleted', async () => {
    await createResource(client, 'datatokens', dataToken(ns, 'revoked', 'Revoke'));
    await readyOf('datatokens', ns, 'revoked');
    expect(await client.find(secretPath(ns, 'revoked-out'))).toBeDefined();
    await client.delete(crPath('datatokens', ns, 'revoked'));
    await waitFor('resource gone', async () => (await getResource(client, 'datatokens', ns, 'revoked')) === undefined, 60_000, 250);
    await waitFor('target Secret deleted', async () => (await client.find(secretPath(ns, 'revoked-out'))) === undefined, 60_000, 250);
  });

  it('deletionPolicy Retain: the Secret stays, without an owner reference, after the garbage collector had its chance', async () => {
    await createResource(client, 'datatokens', dataToken(ns, 'kept', 'Retain'));
    await readyOf('datatokens', ns, 'kept');
    const before = (await client.get<KubeObject>(secretPath(ns, 'kept-out'))).data;
    await client.delete(crPath('datatokens', ns, 'kept'));
    await waitFor('resource gone', async () => (await getResource(client, 'datatokens', ns, 'kept')) === undefined, 60_000, 250);
    // the garbage collector acts within a second or two of an owner's deletion; give it ten
    await new Promise((r) => setTimeout(r, 10_000));
    const after = await client.find<KubeObject>(secretPath(ns, 'kept-out'));
    expect(after, 'the Secret was garbage-collected').toBeDefined();
    expect(after!.metadata?.ownerReferences ?? []).toEqual([]);
    expect(after!.data).toEqual(before);
  });

  it('kubectl delete namespace with Revoke-policy tokens of every kind completes', async () => {
    const doomed = await createNamespace(client, 'doomed');
    await privicoreInputs(doomed);
    await createResource(client, 'datatokens', dataToken(doomed, 'dt', 'Revoke'));
    await createResource(client, 'deltasharetokens', await ddsFixture(client, sims.dds, 'dst', { namespace: doomed, spec: { deletionPolicy: 'Revoke' } }));
    await createResource(client, 'accesstokens', (await gnapFixture(client, sims.gnap, 'at', { namespace: doomed, spec: { deletionPolicy: 'Revoke' } })).obj);
    for (const [plural, name] of [['datatokens', 'dt'], ['deltasharetokens', 'dst'], ['accesstokens', 'at']] as const) await readyOf(plural, doomed, name);
    const started = Date.now();
    execFileSync('kubectl', ['delete', 'namespace', doomed, '--wait=true', '--timeout=240s'], { env: { ...process.env, KUBECONFIG: inject('kubeconfigPath') }, stdio: ['ignore', 'pipe', 'pipe'] });
    expect(await client.find(`/api/v1/namespaces/${doomed}`)).toBeUndefined();
    console.log(`[e2e gc] namespace with Revoke tokens of every kind deleted in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  });
});
