/**
 * Safe in a shared cluster (issue #15), on the real API server: the operator never takes over,
 * strips or fights over a Secret it did not create (creationPolicy Owner / Merge / Orphan), one
 * Secret has one claimant (decided by what is on the Secret, so it survives a restart), a Secret
 * a token resource reads is never a target, the Secret's fate on delete follows deletionPolicy,
 * and rolloutRestart restarts only workloads that use the Secret.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeClient, KubeObject } from '../../src/runtime/kube-client.js';
import { startDdsSimulator, type DdsSimulator } from '../simulators/dds/server.js';
import { startPrivicoreSimulator, type PrivicoreSimulator } from '../simulators/privicore/server.js';
import { ddsFixture } from '../support/fixtures.js';
import {
  adminClient,
  condition,
  createNamespace,
  createResource,
  createSecret,
  crPath,
  deleteResource,
  getResource,
  getSecretData,
  startTestOperator,
  waitFor,
  type TestOperator,
} from '../support/harness.js';

let client: KubeClient;
let dds: DdsSimulator;
let privicore: PrivicoreSimulator;
let op: TestOperator;
let ns: string;

const DST = 'deltasharetokens';
const secretPath = (name: string) => `/api/v1/namespaces/${ns}/secrets/${name}`;
const b64 = (v: string) => Buffer.from(v).toString('base64');
const ready = (plural: string, name: string) =>
  waitFor(`${name} Ready`, async () => {
    const r = await getResource(client, plural, ns, name);
    return condition(r, 'Ready')?.status === 'True' ? r : undefined;
  });
const readyReason = (plural: string, name: string, reason: string) =>
  waitFor(`${name} ${reason}`, async () => {
    const r = await getResource(client, plural, ns, name);
    return condition(r, 'Ready')?.reason === reason ? r : undefined;
  });
const ddsCalls = (clientId: string) => dds.state.log.filter((e) => e.clientId === clientId).length;

async function dataToken(name: string, target: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<void> {
  await createSecret(client, ns, `${name}-input`, { 'key.pem': `signing key of ${name}` });
  await createResource(client, 'datatokens', {
    apiVersion: 'token-operator.io/v1alpha1',
    kind: 'DataToken',
    metadata: { name, namespace: ns },
    spec: {
      privicore: { apiUrl: privicore.url, profileSecretRef: { name: 'privicore-profile' }, allowInsecureHttp: true },
      source: { secretKeyRef: { name: `${name}-input`, key: 'key.pem' }, context: 'ownership' },
      target,
      ...extra,
    },
  });
}

beforeAll(async () => {
  client = adminClient();
  dds = await startDdsSimulator();
  privicore = await startPrivicoreSimulator({ commandDelayMs: 20 });
  privicore.addProfile('ops', 'ops-pw');
  ns = await createNamespace(client, 'ownership');
  await createSecret(client, ns, 'privicore-profile', { username: 'ops', password: 'ops-pw' });
  op = await startTestOperator({ watchNamespaces: [ns] });
});

afterAll(async () => {
  await op?.stop();
  await Promise.all([dds?.close(), privicore?.close()]);
});

describe('a Secret the operator did not create', () => {
  it('is never taken over: SecretOwnedElsewhere (Stalled), every key kept, no owner reference, no provider call', async () => {
    await createSecret(client, ns, 'person-secret', { password: 'hunter2', note: 'made by hand' });
    const before = await client.get(secretPath('person-secret'));
    await dataToken('taker', { secretName: 'person-secret' });
    const r = await readyReason('datatokens', 'taker', 'SecretOwnedElsewhere');
    expect(condition(r, 'Ready')?.status).toBe('False');
    expect(condition(r, 'Stalled')).toMatchObject({ status: 'True', reason: 'SecretOwnedElsewhere' });
    const msg = condition(r, 'Ready')!.message;
    expect(msg).toContain('Secret "person-secret"');
    expect(msg).toContain('creationPolicy: Merge');
    const after = await client.get(secretPath('person-secret'));
    expect(after.metadata?.resourceVersion).toBe(before.metadata?.resourceVersion);
    expect(after.metadata?.ownerReferences).toBeUndefined();
    expect(await getSecretData(client, ns, 'person-secret')).toEqual({ password: 'hunter2', note: 'made by hand' });
    expect(privicore.state.calls.tokenize ?? 0).toBe(0);
  });

  it('Merge writes only its keys, never an owner reference, and a key a person adds later survives repairs and rotations', async () => {
    await createSecret(client, ns, 'shared-config', { password: 'hunter2' });
    await dataToken('merger', { secretName: 'shared-config', creationPolicy: 'Merge' });
    await ready('datatokens', 'merger');
    const merged = await client.get(secretPath('shared-config'));
    expect(merged.metadata?.ownerReferences ?? []).toEqual([]);
    const data = (await getSecretData(client, ns, 'shared-config'))!;
    expect(data.password).toBe('hunter2');
    expect(data.data_token).toBeTruthy();

    // a person adds a key; then someone edits the operator's key: the repair restores only that
    await client.patch(secretPath('shared-config'), { data: { added: b64('later') } }, 'merge');
    await client.patch(secretPath('shared-config'), { data: { data_token: b64('tampered') } }, 'merge');
    await waitFor('merge repaired', async () => (await getSecretData(client, ns, 'shared-config'))?.data_token === data.data_token);
    // a rotation writes again, and still only its keys
    await client.patch(crPath('datatokens', ns, 'merger'), { metadata: { annotations: { 'token-operator.io/rotate': 'now' } } }, 'merge');
    await waitFor('merge rotated', async () => (await getSecretData(client, ns, 'shared-config'))?.data_token !== data.data_token);
    expect(await getSecretData(client, ns, 'shared-config')).toMatchObject({ password: 'hunter2', added: 'later' });
    expect((await client.get(secretPath('shared-config'))).metadata?.ownerReferences ?? []).toEqual([]);

    // deleted with Retain: the keys stay, the claim goes, the Secret is the person's again
    await deleteResource(client, 'datatokens', ns, 'merger');
    await waitFor('merger gone', async () => (await getResource(client, 'datatokens', ns, 'merger')) === undefined);
    const left = await client.get(secretPath('shared-config'));
    expect(left.metadata?.labels?.['token-operator.io/owner-uid']).toBeUndefined();
    expect(left.metadata?.labels?.['app.kubernetes.io/managed-by']).toBeUndefined();
    expect(Object.keys((await getSecretData(client, ns, 'shared-config'))!).sort()).toEqual(['added', 'context', 'data_token', 'password']);
  });

  it('Merge into a Secret that does not exist waits for it (SecretMissing), then writes', async () => {
    await dataToken('early', { secretName: 'not-yet', creationPolicy: 'Merge' });
    const r = await readyReason('datatokens', 'early', 'SecretMissing');
    expect(condition(r, 'Ready')?.message).toContain('Secret "not-yet" does not exist');
    expect(await client.find(secretPath('not-yet'))).toBeUndefined();
  });
});

describe('one claimant per Secret', () => {
  it('the first keeps it across an operator restart; the second writes nothing until the first is gone', async () => {
    await createResource(client, DST, await ddsFixture(client, dds, 'first', { namespace: ns, spec: { target: { secretName: 'contested' }, deletionPolicy: 'Revoke' } }));
    const first = await ready(DST, 'first');
    const firstData = await getSecretData(client, ns, 'contested');

    await createResource(client, DST, await ddsFixture(client, dds, 'second', { namespace: ns, spec: { target: { secretName: 'contested' } } }));
    let second = await readyReason(DST, 'second', 'SecretClaimedByOther');
    expect(condition(second, 'Ready')?.message).toContain('DeltaShareToken "first"');
    expect(ddsCalls('client-second')).toBe(0);

    // a restart (or a leader change) decides the same way: the claim is on the Secret, not in memory
    await op.stop();
    op = await startTestOperator({ watchNamespaces: [ns] });
    op.enqueueAll();
    await new Promise((r) => setTimeout(r, 1500));
    second = (await getResource(client, DST, ns, 'second'))!;
    expect(condition(second, 'Ready')?.reason).toBe('SecretClaimedByOther');
    const secret = await client.get(secretPath('contested'));
    expect(secret.metadata?.ownerReferences).toEqual([expect.objectContaining({ uid: first.metadata!.uid, controller: true })]);
    expect(await getSecretData(client, ns, 'contested')).toEqual(firstData);
    expect(condition(await getResource(client, DST, ns, 'first'), 'Ready')?.status).toBe('True');
    expect(ddsCalls('client-second')).toBe(0);

    // the first goes (Revoke: its Secret is deleted), the second takes over
    await deleteResource(client, DST, ns, 'first');
    await waitFor('first gone', async () => (await getResource(client, DST, ns, 'first')) === undefined);
    op.enqueueAll();
    const taken = await ready(DST, 'second');
    const now = await client.get(secretPath('contested'));
    expect(now.metadata?.ownerReferences).toEqual([expect.objectContaining({ uid: taken.metadata!.uid })]);
  });

  it('a Secret another token resource reads as an input is refused as a target', async () => {
    // zdirect-reader is the input of DeltaShareToken "reader"
    await createResource(client, DST, await ddsFixture(client, dds, 'reader', { namespace: ns }));
    await ready(DST, 'reader');
    const before = await client.get(secretPath('zdirect-reader'));
    await dataToken('clobber', { secretName: 'zdirect-reader', creationPolicy: 'Merge' });
    const r = await readyReason('datatokens', 'clobber', 'SecretClaimedByOther');
    expect(condition(r, 'Ready')?.message).toContain('input of DeltaShareToken "reader"');
    expect((await client.get(secretPath('zdirect-reader'))).metadata?.resourceVersion).toBe(before.metadata?.resourceVersion);
  });
});

describe('the Secret on delete follows deletionPolicy', () => {
  it('Retain (default): the Secret stays, without the operator\'s owner reference and labels', async () => {
    await createResource(client, DST, await ddsFixture(client, dds, 'keeper', { namespace: ns }));
    const r = await ready(DST, 'keeper');
    expect(r.metadata?.finalizers).toContain('token-operator.io/finalizer');
    const data = await getSecretData(client, ns, 'keeper-share');
    await deleteResource(client, DST, ns, 'keeper');
    await waitFor('keeper gone', async () => (await getResource(client, DST, ns, 'keeper')) === undefined);
    const left = await client.get(secretPath('keeper-share'));
    expect(left.metadata?.ownerReferences ?? []).toEqual([]);
    expect(left.metadata?.labels?.['app.kubernetes.io/managed-by']).toBeUndefined();
    expect(await getSecretData(client, ns, 'keeper-share')).toEqual(data);
    expect(await client.find(secretPath(`token-operator-state-${r.metadata!.uid}`))).toBeUndefined();
  });

  it('Orphan: created with no owner reference; outlives the resource, handed back', async () => {
    await createResource(client, DST, await ddsFixture(client, dds, 'orphan', { namespace: ns, spec: { target: { secretName: 'orphan-share', creationPolicy: 'Orphan' } } }));
    const r = await ready(DST, 'orphan');
    const s = await client.get(secretPath('orphan-share'));
    expect(s.metadata?.ownerReferences ?? []).toEqual([]);
    expect(s.metadata?.annotations?.['token-operator.io/created-by']).toBe(r.metadata!.uid);
    const data = await getSecretData(client, ns, 'orphan-share');
    await deleteResource(client, DST, ns, 'orphan');
    await waitFor('orphan gone', async () => (await getResource(client, DST, ns, 'orphan')) === undefined);
    expect(await getSecretData(client, ns, 'orphan-share')).toEqual(data);
    expect((await client.get(secretPath('orphan-share'))).metadata?.labels?.['token-operator.io/owner-uid']).toBeUndefined();
  });

  it('Revoke: revoked at the provider, then the Secret is deleted', async () => {
    await createResource(client, DST, await ddsFixture(client, dds, 'revoker', { namespace: ns, spec: { deletionPolicy: 'Revoke' } }));
    await ready(DST, 'revoker');
    await deleteResource(client, DST, ns, 'revoker');
    await waitFor('revoker gone', async () => (await getResource(client, DST, ns, 'revoker')) === undefined);
    expect(await client.find(secretPath('revoker-share'))).toBeUndefined();
  });
});

describe('rolloutRestart restarts only what uses the Secret', () => {
  const deployment = (name: string, secretName?: string): KubeObject => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: ns },
    spec: {
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [{ name: 'c', image: 'busybox', ...(secretName ? { envFrom: [{ secretRef: { name: secretName } }] } : {}) }],
        },
      },
    },
  });

  it('a listed workload whose pod template does not reference the Secret is never patched, and is named', async () => {
    await client.create(`/apis/apps/v1/namespaces/${ns}/deployments`, deployment('consumer', 'rolled-share'));
    await client.create(`/apis/apps/v1/namespaces/${ns}/deployments`, deployment('bystander'));
    const bystanderBefore = await client.get(`/apis/apps/v1/namespaces/${ns}/deployments/bystander`);
    await createResource(
      client,
      DST,
      await ddsFixture(client, dds, 'rolled', {
        namespace: ns,
        spec: {
          target: {
            secretName: 'rolled-share',
            rolloutRestart: [
              { kind: 'Deployment', name: 'consumer' },
              { kind: 'Deployment', name: 'bystander' },
            ],
          },
        },
      }),
    );
    await ready(DST, 'rolled');
    // a rotation: the consumer is restarted, the bystander refused
    await client.patch(crPath(DST, ns, 'rolled'), { metadata: { annotations: { 'token-operator.io/rotate': 'now' } } }, 'merge');
    const r = await waitFor('rollout condition', async () => {
      const x = await getResource(client, DST, ns, 'rolled');
      return condition(x, 'RolloutRestarted') ? x : undefined;
    });
    const c = condition(r, 'RolloutRestarted')!;
    expect(c).toMatchObject({ status: 'False', reason: 'NotASecretConsumer' });
    expect(c.message).toContain('Deployment/bystander');
    expect(c.message).toContain('restarted Deployment/consumer');
    const consumer = await client.get<KubeObject & { spec: { template: { metadata: { annotations?: Record<string, string> } } } }>(`/apis/apps/v1/namespaces/${ns}/deployments/consumer`);
    expect(consumer.spec.template.metadata.annotations?.['token-operator.io/secret-revision']).toBe('rolled-share@2');
    const bystander = await client.get(`/apis/apps/v1/namespaces/${ns}/deployments/bystander`);
    expect(bystander.metadata?.resourceVersion).toBe(bystanderBefore.metadata?.resourceVersion);
  });
});
