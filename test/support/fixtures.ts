import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { generateJwk } from '@interledger/http-signature-utils';
import { fetchHttpClient } from '../../src/providers/http.js';
import { createPrivicoreProvider, type PrivicoreProvider } from '../../src/providers/privicore/index.js';
import type { KubeClient, KubeObject } from '../../src/runtime/kube-client.js';
import { systemClock } from '../../src/schedule/clock.js';
import type { DdsSimulator } from '../simulators/dds/server.js';
import type { GnapSimulator } from '../simulators/gnap/server.js';
import { createSecret, getSecretData } from './harness.js';

/** Resource builders shared by the integration suites: each makes the Secrets a person would. */

export interface DdsFixtureOptions {
  namespace: string;
  /** the client secret put into the Secret (default: the one the simulator knows) */
  clientSecret?: string;
  apiUrl?: string;
  /** merged over the default spec */
  spec?: Record<string, unknown>;
}

/**
 * One zDirect app (and so one DDS account) per resource, as in real life: its credentials
 * Secret `zdirect-<name>` and a DeltaShareToken writing `<name>-share`.
 */
export async function ddsFixture(client: KubeClient, sim: DdsSimulator, name: string, o: DdsFixtureOptions): Promise<KubeObject> {
  sim.state.addClient(`client-${name}`, `secret-${name}`);
  await createSecret(client, o.namespace, `zdirect-${name}`, { client_id: `client-${name}`, client_secret: o.clientSecret ?? `secret-${name}` });
  return {
    apiVersion: 'token-operator.io/v1alpha1',
    kind: 'DeltaShareToken',
    metadata: { name, namespace: o.namespace },
    spec: {
      dds: { apiUrl: o.apiUrl ?? sim.url, credentialsSecretRef: { name: `zdirect-${name}` }, allowInsecureHttp: true },
      overlap: '1h',
      target: { secretName: `${name}-share` },
      ...o.spec,
    },
  };
}

/** HTTP status the Delta Sharing server gives the profile stored in `secretName` (200 = it works). */
export async function shareStatus(client: KubeClient, namespace: string, secretName: string): Promise<number> {
  const data = await getSecretData(client, namespace, secretName);
  return data?.['config.share'] ? profileStatus(data['config.share']) : 0;
}

/** HTTP status the Delta Sharing server gives a profile (`config.share`), e.g. one kept from before a rotation. */
export async function profileStatus(configShare: string): Promise<number> {
  const p = JSON.parse(configShare) as { endpoint: string; bearerToken: string };
  const res = await fetch(`${p.endpoint.replace(/\/+$/, '')}/shares?maxResults=1`, { headers: { authorization: `Bearer ${p.bearerToken}` } });
  return res.status;
}

export interface GnapFixture {
  obj: KubeObject;
  wallet: string;
  privateKeyPem: string;
  seed: { value: string; manageUrl: string };
}

/**
 * A client wallet with its own Ed25519 key registered at the simulator, a grant token, the
 * Secrets `<name>-key` and `<name>-grant`, and an AccessToken writing `<name>-token`.
 */
export async function gnapFixture(client: KubeClient, sim: GnapSimulator, name: string, o: { namespace: string; keyId?: string; spec?: Record<string, unknown> }): Promise<GnapFixture> {
  const keyId = o.keyId ?? 'k1';
  const privateKeyPem = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const wallet = sim.walletAddressUrl(name);
  sim.registerClientKey(wallet, generateJwk({ privateKey: createPrivateKey(privateKeyPem), keyId }));
  const t = sim.issueToken(undefined, { walletAddressUrl: wallet });
  await createSecret(client, o.namespace, `${name}-key`, { 'private.pem': privateKeyPem });
  await createSecret(client, o.namespace, `${name}-grant`, { access_token: t.value, manage_url: t.manageUrl });
  return {
    wallet,
    privateKeyPem,
    seed: { value: t.value, manageUrl: t.manageUrl },
    obj: {
      apiVersion: 'token-operator.io/v1alpha1',
      kind: 'AccessToken',
      metadata: { name, namespace: o.namespace },
      spec: {
        gnap: {
          walletAddressUrl: wallet,
          keyId,
          privateKeySecretRef: { name: `${name}-key`, key: 'private.pem' },
          accessTokenSecretRef: { name: `${name}-grant`, key: 'access_token' },
          manageUrlSecretRef: { name: `${name}-grant`, key: 'manage_url' },
          allowInsecureHttp: true,
        },
        target: { secretName: `${name}-token` },
        ...o.spec,
      },
    },
  };
}

/** A Privicore client of the test's own (a person tokenizing data, a workload resolving a data token), quick polling. */
export function privicoreClient(apiUrl: string, profile: { username: string; password: string }): PrivicoreProvider {
  return createPrivicoreProvider({ http: fetchHttpClient({ timeoutMs: 10_000 }), clock: systemClock, apiUrl, profile, polling: { intervalMs: 10, maxIntervalMs: 50 } });
}
