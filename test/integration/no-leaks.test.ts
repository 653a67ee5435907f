import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeClient, KubeObject } from '../../src/runtime/kube-client.js';
import { startDdsSimulator, type DdsSimulator } from '../simulators/dds/server.js';
import { startGnapSimulator, type GnapSimulator } from '../simulators/gnap/server.js';
import { startPrivicoreSimulator, type PrivicoreSimulator } from '../simulators/privicore/server.js';
import { gnapFixture } from '../support/fixtures.js';
import { keycloakAvailable, provisionRealm, seedOfflineToken, type KeycloakRealm } from '../support/keycloak.js';
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
  privateCredential,
  startTestOperator,
  waitFor,
  type TestOperator,
} from '../support/harness.js';

/**
 * Sentinel test: every credential the providers hand out or the user supplies is tracked,
 * and after happy paths, failures (bad credentials, outages, malformed answers, rate limits)
 * and deletions none of them may appear in logs (trace level), events, status or metrics.
 */
const sentinel = (what: string) => `SENTINEL${what}${randomBytes(12).toString('hex')}`;

let client: KubeClient;
let dds: DdsSimulator;
let privicore: PrivicoreSimulator;
let gnap: GnapSimulator;
let realm: KeycloakRealm | undefined;
// Keycloak needs a JDK 21+; where it is missing the OIDC paths are skipped with this reason
const keycloakSkip = await keycloakAvailable();
if (keycloakSkip) console.warn(`no-leaks: OIDC paths skipped: ${keycloakSkip}`);
let op: TestOperator;
let ns: string;
const supplied: string[] = [];

async function ddsToken(name: string, secret: string, spec: Record<string, unknown> = {}): Promise<void> {
  dds.state.addClient(`client-${name}`, secret);
  await createSecret(client, ns, `zdirect-${name}`, { client_id: `client-${name}`, client_secret: secret });
  await createResource(client, 'deltasharetokens', {
    apiVersion: 'token-operator.io/v1alpha1',
    kind: 'DeltaShareToken',
    metadata: { name, namespace: ns },
    spec: { dds: { apiUrl: dds.url, credentialsSecretRef: { name: `zdirect-${name}` }, allowInsecureHttp: true }, target: { secretName: `${name}-share` }, deletionPolicy: 'Revoke', ...spec },
  });
}

async function dataToken(name: string, spec: Record<string, unknown>): Promise<void> {
  await createResource(client, 'datatokens', {
    apiVersion: 'token-operator.io/v1alpha1',
    kind: 'DataToken',
    metadata: { name, namespace: ns },
    spec: { privicore: { apiUrl: privicore.url, profileSecretRef: { name: 'profile' }, allowInsecureHttp: true }, target: { secretName: `${name}-out` }, deletionPolicy: 'Revoke', ...spec },
  });
}

const settled = (plural: string, name: string) =>
  waitFor(`${name} settled`, async () => {
    const r = await getResource(client, plural, ns, name);
    return condition(r, 'Ready') ? r : undefined;
  });

beforeAll(async () => {
  client = adminClient();
  dds = await startDdsSimulator();
  privicore = await startPrivicoreSimulator({ commandDelayMs: 10 });
  gnap = await startGnapSimulator();
  ns = await createNamespace(client, 'noleak');
  const password = sentinel('pw');
  const data = sentinel('data');
  supplied.push(password, data);
  privicore.addProfile('leaky', password);
  await createSecret(client, ns, 'profile', { username: 'leaky', password });
  await createSecret(client, ns, 'source', { 'key.pem': data });
  op = await startTestOperator({ watchNamespaces: [ns], logLevel: 'trace' });
});

afterAll(async () => {
  await op?.stop();
  await dds?.close();
  await privicore?.close();
  await gnap?.close();
  await realm?.delete();
});

/** An OIDC AccessToken against real Keycloak, using the confidential client (so a client secret is in play too). */
async function oidcToken(name: string, refreshToken: string): Promise<void> {
  const r = realm!;
  supplied.push(refreshToken, r.confidentialClientSecret);
  await createSecret(client, ns, `${name}-seed`, { refresh_token: refreshToken });
  await createSecret(client, ns, `${name}-client`, { client_secret: r.confidentialClientSecret });
  await createResource(client, 'accesstokens', {
    apiVersion: 'token-operator.io/v1alpha1',
    kind: 'AccessToken',
    metadata: { name, namespace: ns },
    spec: {
      oidc: {
        issuerUrl: r.issuerUrl,
        clientId: r.confidentialClientId,
        clientSecretRef: { name: `${name}-client`, key: 'client_secret' },
        refreshTokenSecretRef: { name: `${name}-seed`, key: 'refresh_token' },
        allowInsecureHttp: true,
      },
      target: { secretName: `${name}-token` },
      deletionPolicy: 'Revoke',
    },
  });
}

async function gnapToken(name: string): Promise<void> {
  const f = await gnapFixture(client, gnap, name, { namespace: ns, spec: { deletionPolicy: 'Revoke' } });
  supplied.push(...f.privateKeyPem.split('\n').filter((l) => l.length > 40));
  await createResource(client, 'accesstokens', f.obj);
}

describe('no secret value leaks', () => {
  it('through every provider and failure path', async () => {
    const good = sentinel('cs');
    const wrong = sentinel('wrong');
    supplied.push(good, wrong);
    await ddsToken('good', good);
    await settled('deltasharetokens', 'good');
    // bad caller credentials: the operator sends `wrong`, the simulator knows only `good2`
    dds.state.addClient('client-bad', sentinel('real'));
    await createSecret(client, ns, 'zdirect-bad', { client_id: 'client-bad', client_secret: wrong });
    await createResource(client, 'deltasharetokens', {
      apiVersion: 'token-operator.io/v1alpha1',
      kind: 'DeltaShareToken',
      metadata: { name: 'bad', namespace: ns },
      spec: { dds: { apiUrl: dds.url, credentialsSecretRef: { name: 'zdirect-bad' }, allowInsecureHttp: true }, target: { secretName: 'bad-share' } },
    });
    await settled('deltasharetokens', 'bad');
    // outages and garbage on the way to a rotation
    for (const fault of [{ kind: 'status', status: 500 }, { kind: 'malformed' }, { kind: 'rateLimit', retryAfterSeconds: 1 }] as const) {
      dds.faults.inject('dds-tokens.get', fault, 1);
      await client.patch(crPath('deltasharetokens', ns, 'good'), { metadata: { annotations: { 'token-operator.io/rotate': fault.kind } } }, 'merge');
      await waitFor('fault seen', async () => condition(await getResource(client, 'deltasharetokens', ns, 'good'), 'Ready')?.status === 'False', 10_000).catch(() => undefined);
    }
    dds.faults.inject('activation', { kind: 'malformed' }, 1);
    await ddsToken('garbled', sentinel('cs2'));
    await settled('deltasharetokens', 'garbled');

    await dataToken('tok', { source: { secretKeyRef: { name: 'source', key: 'key.pem' }, context: 'leak.test' } });
    await settled('datatokens', 'tok');
    privicore.faults.serverErrors = 3;
    await client.patch(crPath('datatokens', ns, 'tok'), { metadata: { annotations: { 'token-operator.io/rotate': 'x' } } }, 'merge');
    await new Promise((r) => setTimeout(r, 1500));

    await gnapToken('pay');
    await settled('accesstokens', 'pay');
    await client.patch(crPath('accesstokens', ns, 'pay'), { metadata: { annotations: { 'token-operator.io/rotate': 'one' } } }, 'merge');
    await waitFor('gnap rotated', async () => ((await getResource(client, 'accesstokens', ns, 'pay'))?.status as { lastHandledRotateRequest?: string } | undefined)?.lastHandledRotateRequest === 'one', 15_000);
    gnap.faults.inject({ kind: 'request_denied', count: 2 });
    await client.patch(crPath('accesstokens', ns, 'pay'), { metadata: { annotations: { 'token-operator.io/rotate': 'two' } } }, 'merge');
    await new Promise((r) => setTimeout(r, 1000));
    await deleteResource(client, 'accesstokens', ns, 'pay');

    const issuedOidc: string[] = [];
    if (!keycloakSkip) {
      realm = await provisionRealm();
      await oidcToken('dc', (await seedOfflineToken(realm, { client: 'confidential' })).refreshToken);
      await settled('accesstokens', 'dc');
      const first = await getSecretData(client, ns, 'dc-token');
      // the refresh token lives in the operator's state Secret, never in the target
      expect(first?.refresh_token).toBeUndefined();
      issuedOidc.push(first?.access_token ?? '', (await privateCredential(client, 'accesstokens', ns, 'dc'))?.refresh_token ?? '');
      await client.patch(crPath('accesstokens', ns, 'dc'), { metadata: { annotations: { 'token-operator.io/rotate': 'r1' } } }, 'merge');
      await waitFor('oidc rotated', async () => ((await getResource(client, 'accesstokens', ns, 'dc'))?.status as { lastHandledRotateRequest?: string } | undefined)?.lastHandledRotateRequest === 'r1', 30_000);
      const second = await getSecretData(client, ns, 'dc-token');
      issuedOidc.push(second?.access_token ?? '', (await privateCredential(client, 'accesstokens', ns, 'dc'))?.refresh_token ?? '');
      // a garbage seed: Keycloak refuses it, the refusal reaches status and events
      await oidcToken('dcbad', `${sentinel('garbage')}.not-a-jwt`);
      await waitFor('oidc refused', async () => condition(await getResource(client, 'accesstokens', ns, 'dcbad'), 'Stalled')?.status === 'True', 30_000);
      await deleteResource(client, 'accesstokens', ns, 'dc');
      await waitFor('oidc deleted', async () => !(await getResource(client, 'accesstokens', ns, 'dc')), 30_000);
      expect(issuedOidc.filter((t) => t.length > 20)).toHaveLength(4);
    }

    await deleteResource(client, 'deltasharetokens', ns, 'good');
    await deleteResource(client, 'datatokens', ns, 'tok');
    await waitFor('deleted', async () => !(await getResource(client, 'datatokens', ns, 'tok')) && !(await getResource(client, 'deltasharetokens', ns, 'good')), 30_000);

    const secrets = [
      ...supplied,
      ...dds.state.secrets(),
      ...[...privicore.state.authorizations.keys()],
      ...[...gnap.state.tokens.values()].flatMap((t) => [t.value, gnap.manageUrlOf(t.managementId)]),
      ...issuedOidc,
    ].filter((s) => s.length >= 8);
    expect(secrets.length).toBeGreaterThan(10);

    const events = await client.list<KubeObject>(`/api/v1/namespaces/${ns}/events`);
    const statuses = await Promise.all(
      ['deltasharetokens', 'datatokens', 'accesstokens'].map((p) => client.list<KubeObject>(`/apis/token-operator.io/v1alpha1/namespaces/${ns}/${p}`)),
    );
    const surfaces: Record<string, string> = {
      logs: op.logs.text,
      events: JSON.stringify(events.items.map((e) => ({ reason: e.reason, message: e.message, note: e.note }))),
      status: JSON.stringify(statuses.flatMap((l) => l.items.map((i) => ({ status: i.status, annotations: i.metadata?.annotations })))),
      metrics: await op.metrics.registry.metrics(),
    };
    expect(op.logs.lines.length).toBeGreaterThan(10);
    expect(events.items.length).toBeGreaterThan(3);
    const leaks: string[] = [];
    for (const [where, text] of Object.entries(surfaces)) for (const s of secrets) if (text.includes(s)) leaks.push(`${where}: ${s.slice(0, 12)}…`);
    expect(leaks).toEqual([]);
  });
});
