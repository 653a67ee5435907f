/**
 * For tests that run the operator as it ships (the bundle, the image) rather than in-process:
 * one resource of every kind with the Secrets a person would make, the checks that each one
 * works, and a kubeconfig that takes client-node's path (an exec credential plugin).
 */
import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateJwk } from '@interledger/http-signature-utils';
import { expect } from 'vitest';
import { parse, stringify } from 'yaml';
import type { KubeClient, KubeObject } from '../../src/runtime/kube-client.js';
import { profileStatus } from './fixtures.js';
import { condition, createResource, createSecret, getResource, getSecretData, waitFor } from './harness.js';
import { introspect, seedOfflineToken, type KeycloakRealm } from './keycloak.js';

const API = 'token-operator.io/v1alpha1';

/** Base URLs of the simulators as the operator reaches them (test/simulators/main.ts's demo accounts). */
export interface SimulatorUrls {
  dds: string;
  gnap: string;
  privicore: string;
}

/**
 * Writes `config` and `token` into `dir`: the test cluster's kubeconfig with its user replaced by
 * an exec plugin (`node -e …`, which the image has too) that prints the admin token read from
 * `<tokenDir>/token` — where `dir` is seen by the process that runs it (a mount point in a container).
 * The operator reads simple kubeconfigs itself and loads @kubernetes/client-node only for plugins.
 */
export function writeExecKubeconfig(sourceKubeconfig: string, dir: string, tokenDir = dir): void {
  const cfg = parse(readFileSync(sourceKubeconfig, 'utf8')) as { users: Array<{ name: string; user: Record<string, unknown> }> };
  writeFileSync(join(dir, 'token'), cfg.users[0]!.user.token as string);
  const credential = `process.stdout.write(JSON.stringify({apiVersion:'client.authentication.k8s.io/v1',kind:'ExecCredential',status:{token:require('fs').readFileSync(${JSON.stringify(join(tokenDir, 'token'))},'utf8').trim()}}))`;
  for (const u of cfg.users) u.user = { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: 'node', args: ['-e', credential], interactiveMode: 'Never' } };
  writeFileSync(join(dir, 'config'), stringify(cfg));
  // readable by the image's uid 65532
  for (const f of ['config', 'token']) chmodSync(join(dir, f), 0o644);
  chmodSync(dir, 0o755);
}

export interface EveryKind {
  objects: Array<{ plural: string; obj: KubeObject }>;
  /** the target Secret names */
  targets: string[];
}

/** Creates a DeltaShareToken, a DataToken, a GNAP AccessToken and (given a realm) an OIDC AccessToken with their Secrets. */
export async function createEveryKind(client: KubeClient, namespace: string, sim: SimulatorUrls, realm?: KeycloakRealm): Promise<EveryKind> {
  const meta = (name: string) => ({ name, namespace });
  await createSecret(client, namespace, 'zdirect', { client_id: 'demo-client', client_secret: 'demo-secret' });
  await createSecret(client, namespace, 'privicore', { username: 'demo', password: 'demo-password' });
  await createSecret(client, namespace, 'report', { 'key.pem': 'data to tokenize' });
  // GNAP: a client key registered and a grant issued through the simulator's admin API
  const { privateKey } = generateKeyPairSync('ed25519');
  const wallet = `${sim.gnap}/every-kind`;
  const admin = async (path: string, body: unknown) => {
    const res = await fetch(`${sim.gnap}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    if (res.status >= 300) throw new Error(`GNAP simulator ${path}: HTTP ${res.status}`);
    return (res.status === 204 ? {} : await res.json()) as { value: string; manageUrl: string };
  };
  await admin('/_sim/keys', { walletAddressUrl: wallet, jwk: generateJwk({ privateKey, keyId: 'k1' }) });
  const grant = await admin('/_sim/tokens', { walletAddressUrl: wallet });
  await createSecret(client, namespace, 'gnap-key', { 'private.pem': privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() });
  await createSecret(client, namespace, 'gnap-grant', { access_token: grant.value, manage_url: grant.manageUrl });
  const objects: EveryKind['objects'] = [
    {
      plural: 'deltasharetokens',
      obj: { apiVersion: API, kind: 'DeltaShareToken', metadata: meta('dds'), spec: { dds: { apiUrl: sim.dds, credentialsSecretRef: { name: 'zdirect' }, allowInsecureHttp: true }, overlap: '1h', target: { secretName: 'dds-share' } } },
    },
    {
      plural: 'datatokens',
      obj: {
        apiVersion: API,
        kind: 'DataToken',
        metadata: meta('data'),
        spec: { privicore: { apiUrl: sim.privicore, profileSecretRef: { name: 'privicore' }, allowInsecureHttp: true }, source: { secretKeyRef: { name: 'report', key: 'key.pem' }, context: 'every.kind' }, target: { secretName: 'data-token' } },
      },
    },
    {
      plural: 'accesstokens',
      obj: {
        apiVersion: API,
        kind: 'AccessToken',
        metadata: meta('gnap'),
        spec: {
          gnap: {
            walletAddressUrl: wallet,
            keyId: 'k1',
            privateKeySecretRef: { name: 'gnap-key', key: 'private.pem' },
            accessTokenSecretRef: { name: 'gnap-grant', key: 'access_token' },
            manageUrlSecretRef: { name: 'gnap-grant', key: 'manage_url' },
            allowInsecureHttp: true,
          },
          target: { secretName: 'gnap-token' },
        },
      },
    },
  ];
  if (realm) {
    await createSecret(client, namespace, 'oidc-seed', { refresh_token: (await seedOfflineToken(realm)).refreshToken });
    objects.push({
      plural: 'accesstokens',
      obj: {
        apiVersion: API,
        kind: 'AccessToken',
        metadata: meta('oidc'),
        spec: { oidc: { issuerUrl: realm.issuerUrl, clientId: realm.publicClientId, refreshTokenSecretRef: { name: 'oidc-seed', key: 'refresh_token' }, allowInsecureHttp: true }, target: { secretName: 'oidc-token' } },
      },
    });
  }
  for (const o of objects) await createResource(client, o.plural, o.obj);
  return { objects, targets: objects.map((o) => (o.obj.spec as { target: { secretName: string } }).target.secretName) };
}

/** Waits for each to be Ready, then checks each credential works at its provider; returns the target Secrets' data. */
export async function expectEveryKindWorks(client: KubeClient, namespace: string, kinds: EveryKind, realm?: KeycloakRealm): Promise<Array<Record<string, string>>> {
  for (const { plural, obj } of kinds.objects) {
    let last: unknown;
    await waitFor(`${obj.kind} ${obj.metadata!.name} Ready`, async () => {
      const c = condition(await getResource(client, plural, namespace, obj.metadata!.name!), 'Ready');
      last = c;
      return c?.status === 'True';
    }, 120_000).catch((e: Error) => {
      throw new Error(`${e.message}; last Ready condition ${JSON.stringify(last)}`);
    });
  }
  const data = Object.fromEntries(await Promise.all(kinds.targets.map(async (t) => [t, (await getSecretData(client, namespace, t)) ?? {}] as const)));
  expect(await profileStatus(data['dds-share']!['config.share']!)).toBe(200);
  expect(data['gnap-token']!.access_token).toBeTruthy();
  expect(data['data-token']!.data_token).toBeTruthy();
  if (realm) expect((await introspect(realm, data['oidc-token']!.access_token!)).active).toBe(true);
  return Object.values(data);
}

/** pino's output: JSON lines only, and none holding a credential value from `secrets`. */
export function expectCleanJsonLogs(logs: string, secrets: Array<Record<string, string>>): void {
  const lines = logs.split('\n').filter(Boolean);
  expect(lines.length).toBeGreaterThan(0);
  for (const l of lines) expect(() => JSON.parse(l), l.slice(0, 200)).not.toThrow();
  for (const data of secrets) for (const v of Object.values(data)) if (v.length >= 16) expect(logs).not.toContain(v);
}
