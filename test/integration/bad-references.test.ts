import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeClient, KubeObject } from '../../src/runtime/kube-client.js';
import { startDdsSimulator, type DdsSimulator } from '../simulators/dds/server.js';
import { startGnapSimulator, type GnapSimulator } from '../simulators/gnap/server.js';
import { startPrivicoreSimulator, type PrivicoreSimulator } from '../simulators/privicore/server.js';
import {
  adminClient,
  condition,
  createNamespace,
  createResource,
  createSecret,
  getResource,
  getSecretData,
  startTestOperator,
  waitFor,
  type TestOperator,
} from '../support/harness.js';

/**
 * Hostile or broken references: the Secrets a resource points at are missing, lack the key,
 * or hold garbage. Each must end in Ready=False + Stalled=True with a message naming the
 * Secret/field, no target Secret written, and no call to the provider.
 */
let client: KubeClient;
let dds: DdsSimulator;
let gnap: GnapSimulator;
let privicore: PrivicoreSimulator;
let op: TestOperator;
let ns: string;

const apiVersion = 'token-operator.io/v1alpha1';

beforeAll(async () => {
  client = adminClient();
  [dds, gnap, privicore] = await Promise.all([startDdsSimulator(), startGnapSimulator(), startPrivicoreSimulator()]);
  ns = await createNamespace(client, 'badref');
  op = await startTestOperator({ watchNamespaces: [ns] });
});

afterAll(async () => {
  await op?.stop();
  await Promise.all([dds?.close(), gnap?.close(), privicore?.close()]);
});

const providerCalls = () => dds.state.log.length + gnap.state.requests.length + Object.values(privicore.state.calls).reduce((a, b) => a + b, 0);

async function expectStalled(plural: string, name: string, target: string, reason: string, mentions: string): Promise<void> {
  const r = await waitFor(`${name} stalled`, async () => {
    const x = await getResource(client, plural, ns, name);
    return condition(x, 'Stalled')?.status === 'True' ? x : undefined;
  });
  expect(condition(r, 'Ready')?.status).toBe('False');
  expect(condition(r, 'Ready')?.reason).toBe(reason);
  expect(condition(r, 'Ready')?.message).toContain(mentions);
  expect(await getSecretData(client, ns, target)).toBeUndefined();
}

const dst = (name: string, secret: string): KubeObject => ({
  apiVersion,
  kind: 'DeltaShareToken',
  metadata: { name, namespace: ns },
  spec: { dds: { apiUrl: dds.url, credentialsSecretRef: { name: secret }, allowInsecureHttp: true }, target: { secretName: `${name}-out` } },
});

describe('broken references', () => {
  it('missing Secret, missing key, empty value, garbage key material: clear condition, nothing written, no provider call', async () => {
    const before = providerCalls();
    await createSecret(client, ns, 'no-secret-key', { client_id: 'x' });
    await createSecret(client, ns, 'empty-secret', { client_id: 'x', client_secret: '   ' });
    await createResource(client, 'deltasharetokens', dst('missing', 'does-not-exist'));
    await createResource(client, 'deltasharetokens', dst('nokey', 'no-secret-key'));
    await createResource(client, 'deltasharetokens', dst('empty', 'empty-secret'));

    await createSecret(client, ns, 'gnap-garbage', { 'private.pem': 'this is not a PEM key', access_token: 'tok', manage_url: `${gnap.url}/token/nope` });
    await createResource(client, 'accesstokens', {
      apiVersion,
      kind: 'AccessToken',
      metadata: { name: 'garbage-key', namespace: ns },
      spec: {
        gnap: {
          walletAddressUrl: gnap.walletAddressUrl('nobody'),
          keyId: 'k',
          privateKeySecretRef: { name: 'gnap-garbage', key: 'private.pem' },
          accessTokenSecretRef: { name: 'gnap-garbage', key: 'access_token' },
          manageUrlSecretRef: { name: 'gnap-garbage', key: 'manage_url' },
          allowInsecureHttp: true,
        },
        target: { secretName: 'garbage-key-out' },
      },
    });

    await createSecret(client, ns, 'profile-no-password', { username: 'demo' });
    await createSecret(client, ns, 'src', { data: 'x' });
    await createResource(client, 'datatokens', {
      apiVersion,
      kind: 'DataToken',
      metadata: { name: 'nopass', namespace: ns },
      spec: {
        privicore: { apiUrl: privicore.url, profileSecretRef: { name: 'profile-no-password' }, allowInsecureHttp: true },
        source: { secretKeyRef: { name: 'src', key: 'data' }, context: 'c' },
        target: { secretName: 'nopass-out' },
      },
    });

    await expectStalled('deltasharetokens', 'missing', 'missing-out', 'SecretNotFound', 'Secret "does-not-exist" not found');
    await expectStalled('deltasharetokens', 'nokey', 'nokey-out', 'SecretKeyMissing', 'has no key "client_secret"');
    await expectStalled('deltasharetokens', 'empty', 'empty-out', 'InvalidSecretValue', 'is empty');
    await expectStalled('datatokens', 'nopass', 'nopass-out', 'SecretKeyMissing', 'has no key "password"');
    const gk = await waitFor('garbage key stalled', async () => {
      const x = await getResource(client, 'accesstokens', ns, 'garbage-key');
      return condition(x, 'Stalled')?.status === 'True' ? x : undefined;
    });
    expect(condition(gk, 'Ready')?.status).toBe('False');
    expect(condition(gk, 'Ready')?.message).toMatch(/private key|Ed25519|PEM/i);
    expect(await getSecretData(client, ns, 'garbage-key-out')).toBeUndefined();
    expect(providerCalls()).toBe(before);
  });
});
