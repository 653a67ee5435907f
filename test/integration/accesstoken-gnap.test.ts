/**
 * AccessToken (gnap) against the real API server and the GNAP simulator (Rafiki's token
 * management semantics, real Ed25519 HTTP message signatures; providers.md §4).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeClient, KubeObject } from '../../src/runtime/kube-client.js';
import { ManualClock } from '../../src/schedule/clock.js';
import { startGnapSimulator, type GnapSimulator } from '../simulators/gnap/server.js';
import { gnapFixture } from '../support/fixtures.js';
import {
  RequestCounter,
  adminClient,
  condition,
  createNamespace,
  createResource,
  crPath,
  deleteResource,
  getResource,
  getSecretData,
  privateCredential,
  startTestOperator,
  waitFor,
  waitForReady,
  waitForResource,
  requestRotation,
  type TestOperator,
} from '../support/harness.js';

const PLURAL = 'accesstokens';
const KEY_ID = 'op-key-1';
const MIN = 60_000;

let client: KubeClient;
let sim: GnapSimulator;
let op: TestOperator;
let ns: string;
const clock = new ManualClock('2026-11-23T10:00:00Z');
const requests = new RequestCounter();

type Status = Record<string, string | number | undefined>;
const statusOf = (r: KubeObject | undefined) => (r?.status ?? {}) as Status;

const gnapResource = (name: string, spec: Record<string, unknown> = {}) => gnapFixture(client, sim, name, { namespace: ns, keyId: KEY_ID, spec });

/** what a consumer sees: GET /resource with the token */
async function resourceStatus(value: string | undefined): Promise<number> {
  return (await fetch(`${sim.url}/resource`, { headers: { authorization: `GNAP ${value ?? ''}` } })).status;
}

const until = (name: string, what: string, pred: (r: KubeObject) => boolean) => waitForResource(client, PLURAL, ns, name, what, pred);
const ready = (name: string, reason: string, minRevision = 1) => waitForReady(client, PLURAL, ns, name, reason, minRevision);
const annotate = (name: string, value: string) => requestRotation(client, PLURAL, ns, name, value);

const tokenData = async (name: string) => (await getSecretData(client, ns, `${name}-token`))!;
/** the manage URL (with the client key it rotates and revokes): in the operator's state Secret only */
const manageUrl = async (name: string) => (await privateCredential(client, PLURAL, ns, name))?.manage_url;

beforeAll(async () => {
  client = adminClient();
  sim = await startGnapSimulator({ clock });
  ns = await createNamespace(client, 'gnap');
  op = await startTestOperator({ watchNamespaces: [ns], controllers: ['AccessToken'] }, { clock, onKubeRequest: requests.on });
});

afterAll(async () => {
  if (process.env.DUMP_LOGS) (await import('node:fs')).writeFileSync(process.env.DUMP_LOGS, op.logs.text);
  await op?.stop();
  await sim?.close();
});

describe('AccessToken (gnap) against the real API server and the GNAP simulator', () => {
  let seed: { value: string; manageUrl: string };

  it('issues: the grant token is rotated into the Secret at once, which the resource server accepts', async () => {
    const g = await gnapResource('first', { deletionPolicy: 'Revoke' });
    seed = g.seed;
    await createResource(client, PLURAL, g.obj);
    const r = await ready('first', 'Issued');
    const s = statusOf(r);
    expect(s.grantType).toBe('gnap');
    expect(s.observedGeneration).toBe(r.metadata?.generation);
    expect(Date.parse(String(s.expirationTime))).toBe(clock.now().getTime() + 10 * MIN);
    // a third of 600 s left, minus at most 5% jitter
    const next = Date.parse(String(s.nextRotationTime));
    expect(next).toBeLessThanOrEqual(clock.now().getTime() + 402_000);
    expect(next).toBeGreaterThanOrEqual(clock.now().getTime() + 372_000);
    expect(s.pendingRefreshSince).toBeUndefined();
    expect(r.metadata?.finalizers).toContain('token-operator.io/finalizer');

    const data = await tokenData('first');
    // what a workload needs to call the resource server; the manage URL stays in the state Secret
    expect(Object.keys(data).sort()).toEqual(['access', 'access_token', 'expires_at']);
    expect(JSON.parse(data.access!)).toEqual([{ type: 'outgoing-payment', actions: ['create', 'read'], identifier: g.wallet }]);
    expect(await resourceStatus(data.access_token)).toBe(200);
    const manage = await manageUrl('first');
    expect(manage).toMatch(/^http/);
    expect(manage).not.toBe(seed.manageUrl);
    // rotation revokes the old token at once: the grant's first token is dead now
    expect(await resourceStatus(seed.value)).toBe(401);
    const secret = await client.get(`/api/v1/namespaces/${ns}/secrets/first-token`);
    expect(secret.metadata?.annotations).toMatchObject({ 'token-operator.io/revision': '1', 'token-operator.io/seed-hmac': expect.stringMatching(/^hmac-sha256:/) });
    // never a token value or a manage URL (a capability) in status
    const text = JSON.stringify(r.status);
    for (const secretValue of [data.access_token!, manage!, seed.value, seed.manageUrl]) expect(text).not.toContain(secretValue);
  });

  it('makes zero API writes and zero provider calls on a no-op resync', async () => {
    await new Promise((r) => setTimeout(r, 500));
    requests.reset();
    const calls = sim.state.requests.length;
    op.enqueueAll();
    op.enqueueAll();
    await new Promise((r) => setTimeout(r, 1500));
    expect(requests.writes()).toBe(0);
    expect(sim.state.requests.length).toBe(calls);
  });

  it('time travel: rotates before expiry; the old token is refused, the new one works, the manage URL changes', async () => {
    for (let i = 2; i <= 3; i++) {
      const before = await tokenData('first');
      const manageBefore = await manageUrl('first');
      clock.advance(7 * MIN);
      op.enqueueAll();
      const r = await ready('first', 'Rotated', i);
      const after = await tokenData('first');
      expect(after.access_token).not.toBe(before.access_token);
      expect(await manageUrl('first')).not.toBe(manageBefore);
      expect(await resourceStatus(before.access_token)).toBe(401);
      expect(await resourceStatus(after.access_token)).toBe(200);
      expect(statusOf(r).lastRotationTime).toBe(clock.now().toISOString());
    }
  });

  it('rotates on the rotate-now annotation, once per value', async () => {
    const before = await tokenData('first');
    const rev = Number(statusOf(await getResource(client, PLURAL, ns, 'first')).revision);
    await annotate('first', 'now-1');
    const r = await ready('first', 'Rotated', rev + 1);
    expect(statusOf(r).lastHandledRotateRequest).toBe('now-1');
    expect(await resourceStatus(before.access_token)).toBe(401);
    expect(await resourceStatus((await tokenData('first')).access_token)).toBe(200);
    // the same value again does nothing
    op.enqueueAll();
    await new Promise((r2) => setTimeout(r2, 800));
    expect(statusOf(await getResource(client, PLURAL, ns, 'first')).revision).toBe(rev + 1);
  });

  it('deletes with Revoke: DELETE {manage} reaches the server, the token dies, Secret and finalizer go', async () => {
    const data = await tokenData('first');
    const revokes = sim.state.requests.filter((q) => q.method === 'DELETE').length;
    await deleteResource(client, PLURAL, ns, 'first');
    await waitFor('first gone', async () => (await getResource(client, PLURAL, ns, 'first')) === undefined);
    expect(sim.state.requests.filter((q) => q.method === 'DELETE' && q.status === 204).length).toBe(revokes + 1);
    expect(await resourceStatus(data.access_token)).toBe(401);
    expect(await getSecretData(client, ns, 'first-token')).toBeUndefined();
  });

  it('keeps the last good Secret on an injected 500, explains it, and recovers with the same token', async () => {
    const g = await gnapResource('faulty');
    await createResource(client, PLURAL, g.obj);
    await ready('faulty', 'Issued');
    const good = await tokenData('faulty');
    sim.faults.inject({ kind: 'request_denied' });
    await annotate('faulty', 'fault-1');
    const r = await until('faulty', 'Ready=False ProviderUnavailable', (x) => condition(x, 'Ready')?.reason === 'ProviderUnavailable');
    expect(condition(r, 'Ready')).toMatchObject({ status: 'False', message: expect.stringMatching(/gnap: rotate at 127\.0\.0\.1:\d+: HTTP 5xx \(request_denied/) });
    expect(condition(r, 'Stalled')?.status).toBe('False');
    // a 500 may come after the server committed: the crash marker stays for the retry
    expect(statusOf(r).pendingRefreshSince).toBeDefined();
    expect(await tokenData('faulty')).toEqual(good);
    expect(await resourceStatus(good.access_token)).toBe(200);

    clock.advance(10_000); // past the 5 s transient back-off
    op.enqueueAll();
    const ok = await ready('faulty', 'Rotated', 2);
    expect(statusOf(ok).lastHandledRotateRequest).toBe('fault-1');
    expect(statusOf(ok).pendingRefreshSince).toBeUndefined();
    const rotated = await tokenData('faulty');
    expect(await resourceStatus(rotated.access_token)).toBe(200);
    expect(await resourceStatus(good.access_token)).toBe(401);
  });

  it('a lost rotation (server committed, reply lost) stalls with a new-grant message; a new grant resumes', async () => {
    const lostValue = (await tokenData('faulty')).access_token;
    const rev = Number(statusOf(await getResource(client, PLURAL, ns, 'faulty')).revision);
    sim.faults.inject({ kind: 'request_denied', commit: true });
    await annotate('faulty', 'lost-1');
    await until('faulty', 'Ready=False ProviderUnavailable', (x) => condition(x, 'Ready')?.reason === 'ProviderUnavailable' && statusOf(x).lastHandledRotateRequest !== 'lost-1');
    // the server did rotate: the token the operator holds is dead, and nobody has the new one
    expect(await resourceStatus(lostValue)).toBe(401);

    clock.advance(10_000);
    op.enqueueAll();
    const r = await until('faulty', 'Stalled TokenLost', (x) => condition(x, 'Stalled')?.status === 'True');
    expect(condition(r, 'Stalled')).toMatchObject({ reason: 'TokenLost', message: expect.stringContaining('A new grant is needed') });
    expect(condition(r, 'Stalled')?.message).toContain('Secret "faulty-grant" keys "access_token" and "manage_url"');
    expect(condition(r, 'Ready')).toMatchObject({ status: 'False', reason: 'TokenLost' });
    expect(statusOf(r).credentialRefused).toBe('TokenLost');
    expect(statusOf(r).pendingRefreshSince).toBeUndefined();
    console.log(`[lost rotation] Stalled ${condition(r, 'Stalled')?.reason}: ${condition(r, 'Stalled')?.message}`);
    // never a silent Ready, and no more provider calls while it waits for a person
    const calls = sim.state.requests.length;
    clock.advance(30 * MIN);
    op.enqueueAll();
    await new Promise((x) => setTimeout(x, 1000));
    expect(sim.state.requests.length).toBe(calls);
    expect(condition(await getResource(client, PLURAL, ns, 'faulty'), 'Ready')?.reason).toBe('TokenLost');

    // a person gets a new grant and pastes its token and manage URL into the seed Secret
    const fresh = sim.issueToken(undefined, { walletAddressUrl: sim.walletAddressUrl('faulty') });
    await client.patch(`/api/v1/namespaces/${ns}/secrets/faulty-grant`, { stringData: { access_token: fresh.value, manage_url: fresh.manageUrl } }, 'merge');
    op.enqueueAll();
    const back = await ready('faulty', 'Rotated', rev + 1);
    expect(condition(back, 'Stalled')?.status).toBe('False');
    expect(statusOf(back).credentialRefused).toBeUndefined();
    expect(await resourceStatus((await tokenData('faulty')).access_token)).toBe(200);
    expect(await resourceStatus(fresh.value)).toBe(401);
  });

  it('suspend: no rotation however late, the Secret is left as it is', async () => {
    await client.patch(crPath(PLURAL, ns, 'faulty'), { spec: { suspend: true } }, 'merge');
    await until('faulty', 'Suspended', (x) => condition(x, 'Ready')?.reason === 'Suspended');
    const data = await tokenData('faulty');
    const calls = sim.state.requests.length;
    clock.advance(20 * MIN);
    op.enqueueAll();
    await new Promise((x) => setTimeout(x, 1000));
    expect(sim.state.requests.length).toBe(calls);
    expect(await tokenData('faulty')).toEqual(data);
  });

  it('a Secret write that keeps failing after the rotation: the new token is held in memory and written next time, no second rotation', async () => {
    const g = await gnapResource('stubborn');
    await createResource(client, PLURAL, g.obj);
    await ready('stubborn', 'Issued');
    const issued = await tokenData('stubborn');
    // someone makes the Secret immutable: every write of new data is refused (422)
    await client.patch(`/api/v1/namespaces/${ns}/secrets/stubborn-token`, { immutable: true }, 'merge');
    const rotations = () => sim.state.requests.filter((q) => q.method === 'POST' && q.status === 200).length;
    const before = rotations();
    await annotate('stubborn', 'stuck-1');
    // writeCredential retries 5 times (≈ 7.5 s) before giving up
    const r = await waitFor(
      'stubborn: Ready=False KubernetesApiError',
      async () => {
        const x = await getResource(client, PLURAL, ns, 'stubborn');
        return condition(x, 'Ready')?.reason === 'KubernetesApiError' ? x : undefined;
      },
      20_000,
    );
    expect(condition(r, 'Ready')?.message).toContain('422');
    expect(statusOf(r).pendingRefreshSince).toBeDefined();
    expect(rotations()).toBe(before + 1);
    expect(await resourceStatus(issued.access_token)).toBe(401); // rotated: the live token is not in the Secret yet

    await client.delete(`/api/v1/namespaces/${ns}/secrets/stubborn-token`);
    clock.advance(10_000);
    op.enqueueAll();
    const ok = await ready('stubborn', 'Rotated', 2);
    expect(statusOf(ok).pendingRefreshSince).toBeUndefined();
    expect(rotations()).toBe(before + 1);
    expect(await resourceStatus((await tokenData('stubborn')).access_token)).toBe(200);
  });
});
