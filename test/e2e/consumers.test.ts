/**
 * Zero-downtime rotation as real pods see it: the operator (pods from the chart) writes the
 * Secrets, the real kubelet delivers them. For each kind, one consumer pod mounts the Secret as
 * a volume and reads the file at every call; another gets it through envFrom and is restarted
 * by the operator's rolloutRestart (a real Deployment rollout). Each calls the provider with the
 * credential it holds every 200 ms across several rotations, and reports every call.
 *
 * What is asserted:
 * - DeltaShareToken (overlap 2m), AccessToken/OIDC (Keycloak: an access token stays valid until
 *   it expires, 120 s here) and DataToken (resolve mode: the data never changes): the overlap
 *   is longer than the kubelet's delay, so both consumers have 0 failed requests, the volume
 *   consumer uses every new credential, and the env consumer is restarted onto it.
 * - AccessToken/GNAP: rotation revokes the old token at once (Rafiki), so there is no overlap;
 *   the consumers fail only between the Secret's change and the moment they hold the new
 *   value (the kubelet's delay; the restart), never after.
 * The kubelet's delay (Secret changed in the API → the pod's file has it) is measured per
 * rotation and printed; the node runs the kubelet with syncFrequency 5s (default 1m).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeClient, KubeObject } from '../../src/runtime/kube-client.js';
import { gnapFixture, privicoreClient } from '../support/fixtures.js';
import { adminClient, condition, createNamespace, createResource, createSecret, getResource, requestRotation, waitFor } from '../support/harness.js';
import { ensureKeycloak, keycloakAvailable, provisionRealm, seedOfflineToken, type KeycloakRealm } from '../support/keycloak.js';
import {
  Collector,
  consumerDeployment,
  consumerScriptConfigMap,
  forwardToLoopback,
  SecretWatcher,
  skipNote,
  skipReason,
  startSimulators,
  type ConsumerKind,
  type Simulators,
} from './support.js';

const ROTATIONS = 3;
const keycloakSkip = skipReason ? undefined : await keycloakAvailable();
if (keycloakSkip) console.warn(`[e2e consumers] the OIDC consumers are skipped: ${keycloakSkip}`);

interface Case {
  kind: ConsumerKind;
  plural: string;
  resource: string;
  secret: string;
  /** the key whose value the consumer calls with (changes on every rotation, except data) */
  key: string;
  /** how long to wait between rotate-now requests */
  between: () => Promise<unknown>;
}

let client: KubeClient;
let ns: string;
let sims: Simulators;
let collector: Collector;
let keycloak: { url: string; close(): Promise<void> } | undefined;
let realm: KeycloakRealm;
const cases: Case[] = [];
const PAYLOAD = 'the data a DataToken stands for';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const revision = (r: KubeObject | undefined) => Number((r?.status as { revision?: number } | undefined)?.revision ?? 0);
const ready = (r: KubeObject | undefined) => condition(r, 'Ready')?.status === 'True';
const restartOf = (name: string) => [{ kind: 'Deployment', name }];

/** Keycloak, reached by pods through a forwarder on the node's IP (it listens on loopback) */
async function oidcRealm(): Promise<KeycloakRealm> {
  const base = await ensureKeycloak();
  keycloak = await forwardToLoopback(Number(new URL(base).port));
  // a 120 s access token: the operator refreshes at 2/3 of it, leaving the old one 40 s
  const r = await provisionRealm({ realm: { accessTokenLifespan: 120 } });
  const via = (u: string) => u.replace(base, keycloak!.url);
  return { ...r, baseUrl: keycloak.url, issuerUrl: via(r.issuerUrl), tokenUrl: via(r.tokenUrl), revocationUrl: via(r.revocationUrl), introspectionUrl: via(r.introspectionUrl) };
}

async function createTokens(): Promise<void> {
  // DeltaShareToken: its own zDirect client at the DDS simulator
  sims.dds.state.addClient('client-share', 'secret-share');
  await createSecret(client, ns, 'zdirect', { client_id: 'client-share', client_secret: 'secret-share' });
  await createResource(client, 'deltasharetokens', {
    apiVersion: 'token-operator.io/v1alpha1',
    kind: 'DeltaShareToken',
    metadata: { name: 'share', namespace: ns },
    spec: {
      dds: { apiUrl: sims.dds.url, credentialsSecretRef: { name: 'zdirect' }, allowInsecureHttp: true },
      overlap: '2m',
      target: { secretName: 'share-out', rolloutRestart: restartOf('dds-env') },
      deletionPolicy: 'Retain',
    },
  });
  // DDS allows two live tokens: the next rotation waits until the previous token's overlap is over
  cases.push({
    kind: 'dds', plural: 'deltasharetokens', resource: 'share', secret: 'share-out', key: 'bearerToken',
    between: () => waitFor('the rotated DDS token expired', async () => {
      const r = await getResource(client, 'deltasharetokens', ns, 'share');
      const until = Date.parse((r?.status as { rotatedTokenExpirationTime?: string } | undefined)?.rotatedTokenExpirationTime ?? '');
      return !Number.isFinite(until) || Date.now() > until + 2000;
    }, 200_000, 500),
  });

  // AccessToken (GNAP): a client wallet and grant at the GNAP simulator
  const g = await gnapFixture(client, sims.gnap, 'gnap', { namespace: ns, spec: { target: { secretName: 'gnap-out', rolloutRestart: restartOf('gnap-env') }, deletionPolicy: 'Retain' } });
  await createResource(client, 'accesstokens', g.obj);
  cases.push({ kind: 'gnap', plural: 'accesstokens', resource: 'gnap', secret: 'gnap-out', key: 'access_token', between: () => sleep(40_000) });

  // DataToken (resolve mode): data tokenized beforehand; the operator keeps the data in the Secret
  sims.privicore.addProfile('ops', 'ops-pw');
  await createSecret(client, ns, 'privicore-profile', { username: 'ops', password: 'ops-pw' });
  const { token } = await privicoreClient(sims.privicore.url, { username: 'ops', password: 'ops-pw' }).tokenize({ data: Buffer.from(PAYLOAD), context: 'e2e' });
  await createSecret(client, ns, 'ref', { token });
  await createResource(client, 'datatokens', {
    apiVersion: 'token-operator.io/v1alpha1',
    kind: 'DataToken',
    metadata: { name: 'data', namespace: ns },
    spec: {
      privicore: { apiUrl: sims.privicore.url, profileSecretRef: { name: 'privicore-profile' }, allowInsecureHttp: true },
      tokenRef: { secretKeyRef: { name: 'ref', key: 'token' } },
      target: { secretName: 'data-out', rolloutRestart: restartOf('data-env') },
      deletionPolicy: 'Retain',
    },
  });
  cases.push({ kind: 'data', plural: 'datatokens', resource: 'data', secret: 'data-out', key: 'data', between: () => sleep(30_000) });

  // AccessToken (OIDC) against Keycloak, when it can run here
  if (!keycloakSkip) {
    realm = await oidcRealm();
    await createSecret(client, ns, 'oidc-seed', { refresh_token: (await seedOfflineToken(realm)).refreshToken });
    await createResource(client, 'accesstokens', {
      apiVersion: 'token-operator.io/v1alpha1',
      kind: 'AccessToken',
      metadata: { name: 'oidc', namespace: ns },
      spec: {
        oidc: { issuerUrl: realm.issuerUrl, clientId: realm.publicClientId, refreshTokenSecretRef: { name: 'oidc-seed', key: 'refresh_token' }, allowInsecureHttp: true },
        target: { secretName: 'oidc-out', rolloutRestart: restartOf('oidc-env') },
        deletionPolicy: 'Retain',
      },
    });
    cases.push({ kind: 'oidc', plural: 'accesstokens', resource: 'oidc', secret: 'oidc-out', key: 'access_token', between: () => sleep(40_000) });
  }
  for (const c of cases) await waitFor(`${c.resource} Ready`, async () => ready(await getResource(client, c.plural, ns, c.resource)), 120_000, 500);
}

function consumerEnv(c: Case): Record<string, string> {
  switch (c.kind) {
    case 'oidc':
      return { USERINFO_URL: `${realm.issuerUrl}/protocol/openid-connect/userinfo` };
    case 'gnap':
      return { RESOURCE_URL: `${sims.gnap.url}/resource` };
    case 'data':
      return { EXPECTED: PAYLOAD };
    case 'dds':
      return {};
  }
}

async function startConsumers(): Promise<void> {
  await client.create(`/api/v1/namespaces/${ns}/configmaps`, consumerScriptConfigMap(ns, readFileSync(join(import.meta.dirname, 'consumer.ts'), 'utf8')));
  for (const c of cases) {
    for (const mode of ['volume', 'env'] as const) {
      await client.create(`/apis/apps/v1/namespaces/${ns}/deployments`, consumerDeployment({ namespace: ns, name: `${c.kind}-${mode}`, kind: c.kind, mode, secretName: c.secret, collectorUrl: collector.url, env: consumerEnv(c) }));
    }
  }
  // every consumer calling, and calling successfully, before the first rotation
  for (const c of cases) for (const mode of ['volume', 'env']) await waitFor(`${c.kind}-${mode} calling`, async () => collector.of(`${c.kind}-${mode}`).some((x) => x.ok), 120_000, 500);
}

/** rotate-now `ROTATIONS` times; returns when each rotation's new Secret was seen */
async function rotate(c: Case): Promise<void> {
  for (let i = 1; i <= ROTATIONS; i++) {
    const before = revision(await getResource(client, c.plural, ns, c.resource));
    await requestRotation(client, c.plural, ns, c.resource, `e2e-${i}`);
    await waitFor(`${c.resource} rotation ${i}`, async () => {
      const r = await getResource(client, c.plural, ns, c.resource);
      return revision(r) > before && ready(r);
    }, 120_000, 200);
    if (i < ROTATIONS) await c.between();
  }
}

interface Figures {
  requests: Record<string, number>;
  failures: Record<string, number>;
  /** per rotation: Secret changed in the API → the volume consumer first called with it (s) */
  kubeletDelay: Record<string, number[]>;
  /** per rotation: Secret changed → the restarted env consumer first called with it (s) */
  restartDelay: Record<string, number[]>;
  envPods: Record<string, number>;
  /** per kind: the changes of the credential during the run (Secret writes seen by polling) */
  changes: Record<string, Array<{ h: string; at: number }>>;
}
let figures: Figures;

describe.skipIf(!!skipReason)(`consumer pods on a real node: Secret volumes and envFrom across rotations${skipNote}`, () => {
  beforeAll(async () => {
    client = adminClient();
    ns = await createNamespace(client, 'consumers');
    sims = await startSimulators();
    collector = new Collector();
    await collector.start();
    await createTokens();
    await startConsumers();
  }, 600_000);

  afterAll(async () => {
    // the namespace goes first, while the providers still answer (its tokens are Retain: no revoke)
    if (ns) {
      await client.delete(`/api/v1/namespaces/${ns}`).catch(() => undefined);
      await waitFor(`namespace ${ns} deleted`, async () => (await client.find(`/api/v1/namespaces/${ns}`)) === undefined, 180_000, 1000).catch((e: unknown) => console.warn(String(e)));
    }
    await collector?.close();
    await sims?.close();
    await keycloak?.close();
    await realm?.delete().catch(() => undefined);
  });

  it(`rotates each kind ${ROTATIONS} times while the consumers call their provider`, async () => {
    const watchers = cases.map((c) => new SecretWatcher(client, ns, c.secret, c.key));
    for (const w of watchers) w.start();
    // the values before the first rotation are not changes
    await waitFor('the current Secrets', async () => watchers.every((w) => w.seen.size > 0), 30_000);
    const runStarted = Date.now();
    await Promise.all(cases.map((c) => rotate(c)));
    // the last rotation's pick-up: the kubelet's delay, or the restart's debounce and rollout
    await sleep(30_000);
    for (const w of watchers) await w.stop();
    figures = { requests: {}, failures: {}, kubeletDelay: {}, restartDelay: {}, envPods: {}, changes: {} };
    cases.forEach((c, i) => {
      const changes = [...watchers[i]!.seen.entries()].map(([h, at]) => ({ h, at })).filter((x) => x.at > runStarted);
      figures.changes[c.kind] = changes;
      for (const mode of ['volume', 'env']) {
        const name = `${c.kind}-${mode}`;
        figures.requests[name] = collector.of(name).length;
        figures.failures[name] = collector.failures(name).length;
      }
      const delay = (consumer: string) => changes.map((x) => collector.firstUse(consumer, x.h)).map((t, j) => (t === undefined ? NaN : Number(((t - changes[j]!.at) / 1000).toFixed(1))));
      figures.kubeletDelay[c.kind] = delay(`${c.kind}-volume`);
      figures.restartDelay[c.kind] = delay(`${c.kind}-env`);
      figures.envPods[c.kind] = collector.pods(`${c.kind}-env`).length;
    });
    console.log(`[e2e consumers] ${JSON.stringify({ ...figures, changes: Object.fromEntries(Object.entries(figures.changes).map(([k, v]) => [k, v.length])) })}`);
    const all = Object.values(figures.kubeletDelay).flat().filter(Number.isFinite).sort((a, b) => a - b);
    console.log(`[e2e consumers] kubelet delay over ${all.length} Secret changes: min ${all[0]}s, median ${all[Math.floor(all.length / 2)]}s, max ${all.at(-1)}s (syncFrequency 5s)`);
  });

  it('the volume consumers use every new credential, a few seconds after the Secret changed (the kubelet delay)', () => {
    for (const c of cases.filter((x) => x.kind !== 'data')) {
      expect(figures.changes[c.kind]!.length, c.kind).toBeGreaterThanOrEqual(ROTATIONS);
      for (const d of figures.kubeletDelay[c.kind]!) {
        expect(d, `${c.kind} delay`).toBeGreaterThanOrEqual(0);
        // syncFrequency 5s plus the kubelet's Secret cache TTL: far below every overlap here
        expect(d, `${c.kind} delay`).toBeLessThan(30);
      }
    }
  });

  it('overlap longer than the kubelet delay (DDS 2m, OIDC access tokens, DataToken data): 0 failed requests, volume and envFrom', () => {
    for (const c of cases.filter((x) => x.kind !== 'gnap')) {
      for (const mode of ['volume', 'env']) {
        expect(figures.requests[`${c.kind}-${mode}`], `${c.kind}-${mode} requests`).toBeGreaterThan(200);
        expect(collector.failures(`${c.kind}-${mode}`), `${c.kind}-${mode} failures`).toEqual([]);
      }
    }
  });

  it('the envFrom consumers are restarted by rolloutRestart onto every new credential', () => {
    for (const c of cases.filter((x) => x.kind !== 'data')) {
      // a new pod per rotation (rotations of one Secret within the debounce restart once)
      expect(figures.envPods[c.kind], `${c.kind}-env pods`).toBeGreaterThanOrEqual(ROTATIONS + 1);
      for (const d of figures.restartDelay[c.kind]!) expect(d, `${c.kind} restart delay`).toBeLessThan(60);
    }
  });

  it('GNAP (the old token dies at rotation): failures only between a rotation and the consumer holding the new token', () => {
    const changes = figures.changes.gnap!;
    for (const mode of ['volume', 'env']) {
      const name = `gnap-${mode}`;
      for (const f of collector.failures(name)) {
        // the change the failure belongs to, and when this consumer first used the new token
        // (from a little before the Secret change was seen: the provider revokes before the write lands)
        const window = changes.find((x) => f.at >= x.at - 3000 && f.at <= (collector.firstUse(name, x.h) ?? Infinity) + 1000);
        expect(window, `${name} failure at ${new Date(f.at).toISOString()} is outside every rotation window`).toBeDefined();
      }
    }
  });
});
