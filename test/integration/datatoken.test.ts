import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isProviderError } from '../../src/providers/errors.js';
import { fetchHttpClient } from '../../src/providers/http.js';
import { createPrivicoreProvider, type PrivicoreProvider } from '../../src/providers/privicore/index.js';
import type { KubeClient, KubeObject } from '../../src/runtime/kube-client.js';
import { ManualClock } from '../../src/schedule/clock.js';
import { startPrivicoreSimulator, type PrivicoreSimulator } from '../simulators/privicore/server.js';
import {
  RequestCounter,
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

const PLURAL = 'datatokens';
const HOUR = 3_600_000;
const LOGIN = 'POST /profile/authenticate';
const USER = 'ops';
const PASSWORD = 'ops-password';

let client: KubeClient;
let sim: PrivicoreSimulator;
let op: TestOperator;
let ns: string;
/** the test's own Privicore client (same profile, its own login): makes and checks tokens */
let privicore: PrivicoreProvider;
const clock = new ManualClock('2026-11-23T10:00:00Z');
const requests = new RequestCounter();

type Status = {
  tokenId?: string;
  tokenOrigin?: string;
  sourceHMAC?: string;
  revision?: number;
  expirationTime?: string;
  nextRotationTime?: string;
  lastRotationTime?: string;
  authorizationExpirationTime?: string;
  lastHandledRotateRequest?: string;
  pendingRemovals?: string[];
  failedAttempts?: number;
};
const statusOf = (r: KubeObject | undefined): Status => (r?.status ?? {}) as Status;
const simCalls = (): number => Object.values(sim.state.calls).reduce((a, b) => a + b, 0);
const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

function dataToken(name: string, spec: Record<string, unknown>, profile = 'privicore-profile'): KubeObject {
  return {
    apiVersion: 'token-operator.io/v1alpha1',
    kind: 'DataToken',
    metadata: { name, namespace: ns },
    spec: {
      privicore: { apiUrl: sim.url, profileSecretRef: { name: profile }, allowInsecureHttp: true },
      target: { secretName: `${name}-out` },
      ...spec,
    },
  };
}

const source = (secret: string, extra: Record<string, unknown> = {}) => ({
  source: { secretKeyRef: { name: secret, key: 'key.pem' }, context: 'analytics.reports', ...extra },
});

async function ready(name: string, reason?: string, minRevision = 1, timeoutMs?: number): Promise<KubeObject> {
  return waitFor(
    `${name} Ready${reason ? ` (${reason})` : ''} revision>=${minRevision}`,
    async () => {
      const r = await getResource(client, PLURAL, ns, name);
      const c = condition(r, 'Ready');
      return c?.status === 'True' && (!reason || c.reason === reason) && (statusOf(r).revision ?? 0) >= minRevision ? r : undefined;
    },
    timeoutMs,
  );
}

async function readyReason(name: string, reason: string): Promise<KubeObject> {
  return waitFor(`${name} Ready reason ${reason}`, async () => {
    const r = await getResource(client, PLURAL, ns, name);
    return condition(r, 'Ready')?.reason === reason ? r : undefined;
  });
}

async function setSource(name: string, value: string): Promise<void> {
  await client.patch(`/api/v1/namespaces/${ns}/secrets/${name}`, { data: { 'key.pem': b64(value) } }, 'merge');
}

async function rotateNow(name: string, value: string): Promise<void> {
  await client.patch(crPath(PLURAL, ns, name), { metadata: { annotations: { 'token-operator.io/rotate': value } } }, 'merge');
}

async function resolvable(token: string): Promise<string | 'NotFound'> {
  try {
    return (await privicore.resolve({ token })).data.toString('utf8');
  } catch (e) {
    if (isProviderError(e) && e.kind === 'NotFound') return 'NotFound';
    throw e;
  }
}

beforeAll(async () => {
  client = adminClient();
  sim = await startPrivicoreSimulator({ clock, commandDelayMs: 20 });
  sim.addProfile(USER, PASSWORD);
  privicore = createPrivicoreProvider({
    http: fetchHttpClient({ timeoutMs: 5000 }),
    clock,
    apiUrl: sim.url,
    profile: { username: USER, password: PASSWORD },
    polling: { intervalMs: 10, maxIntervalMs: 50 },
  });
  ns = await createNamespace(client, 'dt');
  await createSecret(client, ns, 'privicore-profile', { username: USER, password: PASSWORD });
  op = await startTestOperator({ watchNamespaces: [ns], controllers: ['DataToken'] }, { clock, onKubeRequest: requests.on });
});

afterAll(async () => {
  if (process.env.DUMP_LOGS) (await import('node:fs')).writeFileSync(process.env.DUMP_LOGS, op.logs.text);
  await op?.stop();
  await sim?.close();
});

describe('DataToken against the real API server and the Privicore simulator', () => {
  it('source mode: tokenizes the Secret data and writes data_token; status holds the reference, never the data', async () => {
    await createSecret(client, ns, 'signing-key', { 'key.pem': 'PEM-v1-very-secret' });
    await createResource(client, PLURAL, dataToken('src', { ...source('signing-key'), deletionPolicy: 'Revoke' }));
    const r = await ready('src', 'Issued');
    const s = statusOf(r);
    const out = (await getSecretData(client, ns, 'src-out'))!;
    expect(Object.keys(out).sort()).toEqual(['context', 'data_token']);
    expect(out.data_token).toMatch(/^dtk-/);
    expect(out.context).toBe('analytics.reports');
    expect(s.tokenId).toBe(out.data_token);
    expect(s.tokenOrigin).toBe('Tokenized');
    expect(s.sourceHMAC).toMatch(/^hmac-sha256:/);
    expect(s.expirationTime).toBeUndefined();
    expect(s.nextRotationTime).toBeUndefined();
    expect(Date.parse(s.authorizationExpirationTime!)).toBeGreaterThan(clock.now().getTime());
    expect(r.metadata?.finalizers).toContain('token-operator.io/finalizer');
    // the data went to Privicore, under our context and a file name tagged with the resource uid
    const stored = [...sim.state.dataTokens.values()].find((d) => d.token === s.tokenId)!;
    expect(stored.data.toString('utf8')).toBe('PEM-v1-very-secret');
    expect(stored.context).toBe('analytics.reports');
    expect(stored.fileName).toBe(`token-operator-${r.metadata?.uid}.bin`);
    expect(JSON.stringify(r.status)).not.toContain('PEM-v1');
    expect(op.logs.text).not.toContain('PEM-v1');
    expect(op.logs.text).not.toContain(PASSWORD);
  });

  it('tokenRef mode: resolves a referenced token and writes the data; schedules a refresh', async () => {
    const { token } = await privicore.tokenize({ data: Buffer.from('shared payload v1'), context: 'shared' });
    await createSecret(client, ns, 'shared-token', { token });
    await createResource(client, PLURAL, dataToken('ref', { tokenRef: { secretKeyRef: { name: 'shared-token', key: 'token' } }, deletionPolicy: 'Revoke' }));
    const r = await ready('ref', 'Issued');
    expect(await getSecretData(client, ns, 'ref-out')).toEqual({ data: 'shared payload v1' });
    const s = statusOf(r);
    expect(s.tokenId).toBe(token);
    expect(s.tokenOrigin).toBe('Referenced');
    const next = Date.parse(s.nextRotationTime!);
    expect(next).toBeLessThanOrEqual(clock.now().getTime() + 24 * HOUR);
    expect(next).toBeGreaterThanOrEqual(clock.now().getTime() + 23 * HOUR);
  });

  it('makes zero API writes and zero provider calls on no-op reconciles', async () => {
    await new Promise((r) => setTimeout(r, 500));
    requests.reset();
    const before = simCalls();
    for (let i = 0; i < 3; i++) {
      op.enqueueAll();
      await new Promise((r) => setTimeout(r, 400));
    }
    await new Promise((r) => setTimeout(r, 500));
    expect(requests.writes()).toBe(0);
    expect(simCalls()).toBe(before);
    // the source and token Secrets were read (GET), not cached
    expect([...requests.counts.keys()].some((k) => k.startsWith('get ') && k.includes('secrets'))).toBe(true);
  });

  it('source change → new token written first, then the old one deleted at Privicore (Revoke)', async () => {
    const old = statusOf(await getResource(client, PLURAL, ns, 'src')).tokenId!;
    await setSource('signing-key', 'PEM-v2');
    op.enqueueAll(); // stands in for the periodic input check (tested below with checkInterval 30s)
    const r = await ready('src', 'Rotated', 2);
    const s = statusOf(r);
    expect(s.tokenId).not.toBe(old);
    expect((await getSecretData(client, ns, 'src-out'))!.data_token).toBe(s.tokenId);
    expect(s.pendingRemovals).toBeUndefined();
    expect(sim.state.dataTokens.has(old)).toBe(false);
    expect(await resolvable(s.tokenId!)).toBe('PEM-v2');
  });

  it('notices a source change by itself within checkInterval (Retain keeps the old token)', async () => {
    await createSecret(client, ns, 'polled-key', { 'key.pem': 'polled-v1' });
    // the shortest interval admission allows (one GET of the Secret per check)
    await createResource(client, PLURAL, dataToken('polled', source('polled-key', { checkInterval: '30s' })));
    const first = statusOf(await ready('polled', 'Issued')).tokenId!;
    await setSource('polled-key', 'polled-v2');
    const r = await ready('polled', 'Rotated', 2, 45_000);
    expect(statusOf(r).tokenId).not.toBe(first);
    expect(sim.state.dataTokens.has(first)).toBe(true);
    expect(await resolvable(statusOf(r).tokenId!)).toBe('polled-v2');
  });

  it('tokenRef: refreshes after refreshInterval (time travel, operator and simulator)', async () => {
    const requestsBefore = sim.state.calls['POST /data-token/request-data'] ?? 0;
    clock.advance(24 * HOUR + 1000);
    op.enqueueAll();
    const r = await ready('ref', 'Rotated', 2);
    expect(sim.state.calls['POST /data-token/request-data']).toBe(requestsBefore + 1);
    expect(Date.parse(statusOf(r).lastRotationTime!)).toBe(clock.now().getTime());
    expect(await getSecretData(client, ns, 'ref-out')).toEqual({ data: 'shared payload v1' });
  });

  it('rotate-now: a new token in source mode (old one deleted), a fresh download in tokenRef mode, once per value', async () => {
    const old = statusOf(await getResource(client, PLURAL, ns, 'src'));
    await rotateNow('src', 'r1');
    const s = statusOf(await ready('src', 'Rotated', old.revision! + 1));
    expect(s.lastHandledRotateRequest).toBe('r1');
    expect(s.tokenId).not.toBe(old.tokenId);
    expect(sim.state.dataTokens.has(old.tokenId!)).toBe(false);
    expect(await resolvable(s.tokenId!)).toBe('PEM-v2');

    const ref = statusOf(await getResource(client, PLURAL, ns, 'ref'));
    await rotateNow('ref', 'r1');
    const t = statusOf(await ready('ref', 'Rotated', ref.revision! + 1));
    expect(t.lastHandledRotateRequest).toBe('r1');
    expect(t.tokenId).toBe(ref.tokenId);

    // the same value again is not a new request
    const before = simCalls();
    op.enqueueAll();
    await new Promise((r) => setTimeout(r, 800));
    expect(simCalls()).toBe(before);
  });

  it('restores a deleted Secret from the known token without calling Privicore', async () => {
    const s = statusOf(await getResource(client, PLURAL, ns, 'src'));
    const before = simCalls();
    await client.delete(`/api/v1/namespaces/${ns}/secrets/src-out`);
    await waitFor('Secret restored', async () => (await getSecretData(client, ns, 'src-out'))?.data_token === s.tokenId);
    expect(simCalls()).toBe(before);
  });

  it('a missing source Secret or key: clear condition, Stalled, nothing written', async () => {
    await createResource(client, PLURAL, dataToken('nosrc', source('does-not-exist')));
    const r = await readyReason('nosrc', 'SecretNotFound');
    expect(condition(r, 'Ready')?.status).toBe('False');
    expect(condition(r, 'Ready')?.message).toContain('spec.source.secretKeyRef: Secret "does-not-exist" not found');
    expect(condition(r, 'Stalled')?.status).toBe('True');
    await createSecret(client, ns, 'wrong-key', { other: 'x' });
    await createResource(client, PLURAL, dataToken('nokey', source('wrong-key')));
    expect(condition(await readyReason('nokey', 'SecretKeyMissing'), 'Ready')?.message).toContain('has no key "key.pem"');
    expect(await getSecretData(client, ns, 'nosrc-out')).toBeUndefined();
    expect(await getSecretData(client, ns, 'nokey-out')).toBeUndefined();
  });

  it('suspend: no provider calls, no Secret', async () => {
    await createSecret(client, ns, 'paused-key', { 'key.pem': 'paused' });
    const before = simCalls();
    await createResource(client, PLURAL, dataToken('paused', { ...source('paused-key'), suspend: true }));
    const r = await readyReason('paused', 'Suspended');
    expect(condition(r, 'Ready')?.status).toBe('False');
    expect(await getSecretData(client, ns, 'paused-out')).toBeUndefined();
    expect(simCalls()).toBe(before);
  });

  it('a Privicore outage (5xx on every request) keeps the last good Secret, explains, and recovers', async () => {
    const good = (await getSecretData(client, ns, 'src-out'))!;
    const before = statusOf(await getResource(client, PLURAL, ns, 'src'));
    sim.faults.serverErrors = 1_000_000;
    try {
      await rotateNow('src', 'during-outage');
      const r = await readyReason('src', 'ProviderUnavailable');
      expect(condition(r, 'Ready')?.status).toBe('False');
      expect(condition(r, 'Ready')?.message).toMatch(/^privicore: .*HTTP 5xx/);
      expect(condition(r, 'Stalled')?.status).toBe('False');
      expect(statusOf(r).failedAttempts).toBeGreaterThanOrEqual(1);
      expect(await getSecretData(client, ns, 'src-out')).toEqual(good);
    } finally {
      sim.faults.serverErrors = 0;
    }
    clock.advance(10 * 60_000); // past the persisted back-off
    op.enqueueAll();
    const s = statusOf(await ready('src', 'Rotated', before.revision! + 1));
    expect(s.lastHandledRotateRequest).toBe('during-outage');
    expect(s.failedAttempts).toBeUndefined();
    expect(sim.state.dataTokens.has(before.tokenId!)).toBe(false);
  });

  it('one login for many DataTokens sharing a profile', async () => {
    sim.addProfile('team', 'team-password');
    await createSecret(client, ns, 'team-profile', { username: 'team', password: 'team-password' });
    const logins = sim.state.calls[LOGIN] ?? 0;
    const names = Array.from({ length: 8 }, (_, i) => `team-${i}`);
    await Promise.all(
      names.map(async (name) => {
        await createSecret(client, ns, `${name}-src`, { 'key.pem': `data of ${name}` });
        await createResource(client, PLURAL, dataToken(name, source(`${name}-src`), 'team-profile'));
      }),
    );
    for (const name of names) await ready(name, 'Issued');
    expect((sim.state.calls[LOGIN] ?? 0) - logins).toBe(1);
    const owners = new Set([...sim.state.dataTokens.values()].filter((d) => d.username === 'team').map((d) => d.data.toString('utf8')));
    expect(owners.size).toBe(8);
  });

  it('deletes with Revoke: our data (and tagged orphans) deleted at Privicore, then the Secret; referenced data is left alone', async () => {
    const src = await getResource(client, PLURAL, ns, 'src');
    const token = statusOf(src).tokenId!;
    // an orphan, as a crash between tokenize and the Secret write would leave it
    const orphan = (await privicore.tokenize({ data: Buffer.from('orphan'), context: 'analytics.reports', fileName: `token-operator-${src?.metadata?.uid}.bin` })).token;
    await deleteResource(client, PLURAL, ns, 'src');
    await waitFor('src gone', async () => (await getResource(client, PLURAL, ns, 'src')) === undefined);
    expect(await resolvable(token)).toBe('NotFound');
    expect(await resolvable(orphan)).toBe('NotFound');
    expect(await getSecretData(client, ns, 'src-out')).toBeUndefined();

    const referenced = statusOf(await getResource(client, PLURAL, ns, 'ref')).tokenId!;
    await deleteResource(client, PLURAL, ns, 'ref');
    await waitFor('ref gone', async () => (await getResource(client, PLURAL, ns, 'ref')) === undefined);
    expect(await getSecretData(client, ns, 'ref-out')).toBeUndefined();
    expect(await resolvable(referenced)).toBe('shared payload v1');
  });
});
