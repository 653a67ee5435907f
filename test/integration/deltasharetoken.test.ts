import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeClient, KubeObject } from '../../src/runtime/kube-client.js';
import { ManualClock } from '../../src/schedule/clock.js';
import { startDdsSimulator, type DdsSimulator } from '../simulators/dds/server.js';
import { ddsFixture } from '../support/fixtures.js';
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
  startTestOperator,
  waitFor,
  type TestOperator,
} from '../support/harness.js';

const PLURAL = 'deltasharetokens';
const DAY = 86_400_000;

let client: KubeClient;
let sim: DdsSimulator;
let op: TestOperator;
let ns: string;
const clock = new ManualClock('2026-11-23T10:00:00Z');
const requests = new RequestCounter();

const dst = (name: string, spec: Record<string, unknown> = {}) =>
  ddsFixture(client, sim, name, { namespace: ns, spec: { rotation: { rotateBefore: '720h' }, target: { secretName: `${name}-share`, labels: { team: 'analytics' } }, ...spec } });

async function sharesStatus(profileJson: string): Promise<number> {
  const p = JSON.parse(profileJson) as { endpoint: string; bearerToken: string };
  const res = await fetch(`${p.endpoint.replace(/\/+$/, '')}/shares?maxResults=1`, { headers: { authorization: `Bearer ${p.bearerToken}` } });
  return res.status;
}

async function ready(name: string, reason?: string, minRevision = 1): Promise<KubeObject> {
  return waitFor(`${name} Ready${reason ? ` (${reason})` : ''}`, async () => {
    const r = await getResource(client, PLURAL, ns, name);
    const c = condition(r, 'Ready');
    const rev = (r?.status as { revision?: number } | undefined)?.revision ?? 0;
    return c?.status === 'True' && (!reason || c.reason === reason) && rev >= minRevision ? r : undefined;
  });
}

beforeAll(async () => {
  client = adminClient();
  sim = await startDdsSimulator({ clock });
  ns = await createNamespace(client, 'dds');
  op = await startTestOperator({ watchNamespaces: [ns] }, { clock, onKubeRequest: requests.on });
});

afterAll(async () => {
  if (process.env.DUMP_LOGS) (await import('node:fs')).writeFileSync(process.env.DUMP_LOGS, op.logs.text);
  await op?.stop();
  await sim?.close();
});

describe('DeltaShareToken against the real API server and the DDS simulator', () => {
  it('activates: the Secret holds a working profile, status reports Ready with observedGeneration', async () => {
    await createResource(client, PLURAL, await dst('first'));
    const r = await ready('first', 'Issued');
    const status = r.status as Record<string, unknown>;
    expect(status.observedGeneration).toBe(r.metadata?.generation);
    expect(condition(r, 'Ready')?.observedGeneration).toBe(r.metadata?.generation);
    expect(status.tokenId).toBeTruthy();
    expect(Date.parse(status.expirationTime as string)).toBe(clock.now().getTime() + 90 * DAY);
    // rotateBefore 720h minus at most 1h of jitter
    const next = Date.parse(status.nextRotationTime as string);
    expect(next).toBeLessThanOrEqual(clock.now().getTime() + 60 * DAY);
    expect(next).toBeGreaterThanOrEqual(clock.now().getTime() + 60 * DAY - 3_600_000);
    // the finalizer hands the Secret back on delete (Retain: without the owner reference)
    expect(r.metadata?.finalizers).toEqual(['token-operator.io/finalizer']);

    const secret = await client.get(`/api/v1/namespaces/${ns}/secrets/first-share`);
    expect(secret.metadata?.labels).toMatchObject({
      'app.kubernetes.io/managed-by': 'token-operator',
      'token-operator.io/owner-kind': 'DeltaShareToken',
      'token-operator.io/owner-name': 'first',
      team: 'analytics',
    });
    expect(secret.metadata?.annotations?.['token-operator.io/revision']).toBe('1');
    expect(secret.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'DeltaShareToken', name: 'first', uid: r.metadata?.uid, controller: true });
    const data = (await getSecretData(client, ns, 'first-share'))!;
    expect(Object.keys(data).sort()).toEqual(['bearerToken', 'config.share', 'endpoint', 'expirationTime']);
    expect(JSON.parse(data['config.share']!)).toMatchObject({ shareCredentialsVersion: 1, bearerToken: data.bearerToken });
    expect(await sharesStatus(data['config.share']!)).toBe(200);
    // the bearer token and activation links are nowhere in status
    const statusText = JSON.stringify(r.status);
    for (const s of sim.state.secrets()) expect(statusText).not.toContain(s);
  });

  it('makes zero API writes and zero provider calls on a no-op resync', async () => {
    await ready('first');
    await new Promise((r) => setTimeout(r, 500));
    requests.reset();
    const providerCalls = sim.state.log.length;
    op.enqueueAll();
    op.enqueueAll();
    await new Promise((r) => setTimeout(r, 1500));
    expect(requests.writes()).toBe(0);
    expect(sim.state.log.length).toBe(providerCalls);
  });

  it('rotates when due: new profile works, the old one keeps working for the overlap, then is refused', async () => {
    const before = (await getSecretData(client, ns, 'first-share'))!;
    clock.advance(61 * DAY);
    op.enqueueAll();
    const r = await ready('first', 'Rotated', 2);
    const after = (await getSecretData(client, ns, 'first-share'))!;
    expect(after.bearerToken).not.toBe(before.bearerToken);
    expect(await sharesStatus(after['config.share']!)).toBe(200);
    expect(await sharesStatus(before['config.share']!)).toBe(200);
    const status = r.status as Record<string, string>;
    expect(Date.parse(status.rotatedTokenExpirationTime!)).toBe(clock.now().getTime() + 3_600_000);
    clock.advance(3_600_000 + 1000);
    expect(await sharesStatus(before['config.share']!)).toBe(401);
    expect(await sharesStatus(after['config.share']!)).toBe(200);
  });

  it('rotates on the rotate-now annotation once per new value, and waits at the two-token ceiling', async () => {
    await createResource(client, PLURAL, await dst('manual'));
    await ready('manual');
    const rev1 = (await getSecretData(client, ns, 'manual-share'))!;
    await client.patch(crPath(PLURAL, ns, 'manual'), { metadata: { annotations: { 'token-operator.io/rotate': 'one' } } }, 'merge');
    const r2 = await ready('manual', 'Rotated', 2);
    expect((r2.status as Record<string, string>).lastHandledRotateRequest).toBe('one');
    const rev2 = (await getSecretData(client, ns, 'manual-share'))!;
    expect(rev2.bearerToken).not.toBe(rev1.bearerToken);

    // A second request inside the overlap would need a third token: the operator waits.
    await client.patch(crPath(PLURAL, ns, 'manual'), { metadata: { annotations: { 'token-operator.io/rotate': 'two' } } }, 'merge');
    const waiting = await waitFor('ceiling wait', async () => {
      const r = await getResource(client, PLURAL, ns, 'manual');
      return condition(r, 'Rotating')?.reason === 'WaitingForTokenCeiling' ? r : undefined;
    });
    expect(condition(waiting, 'Ready')?.reason).toBe('WaitingForTokenCeiling');
    expect(condition(waiting, 'Ready')?.message).toContain('two live tokens');
    expect((await getSecretData(client, ns, 'manual-share'))!.bearerToken).toBe(rev2.bearerToken);

    clock.advance(3_600_000 + 1000);
    op.enqueueAll();
    const r3 = await ready('manual', 'Rotated', 3);
    expect((r3.status as Record<string, string>).lastHandledRotateRequest).toBe('two');
    expect(sim.state.patchZeroCalls).toBe(0);
  });

  it('keeps the last good Secret on 5xx, 429 and malformed answers, with a condition that explains', async () => {
    await createResource(client, PLURAL, await dst('faulty'));
    await ready('faulty');
    const good = (await getSecretData(client, ns, 'faulty-share'))!;
    for (const [fault, reason] of [
      [{ kind: 'status', status: 503 }, 'ProviderUnavailable'],
      [{ kind: 'rateLimit', retryAfterSeconds: 30 }, 'ProviderRateLimited'],
      [{ kind: 'malformed' }, 'InvalidProviderResponse'],
    ] as const) {
      sim.faults.inject('dds-tokens.get', fault, 1);
      await client.patch(crPath(PLURAL, ns, 'faulty'), { metadata: { annotations: { 'token-operator.io/rotate': reason } } }, 'merge');
      const r = await waitFor(`Ready=False ${reason}`, async () => {
        const x = await getResource(client, PLURAL, ns, 'faulty');
        return condition(x, 'Ready')?.reason === reason ? x : undefined;
      });
      expect(condition(r, 'Ready')?.status).toBe('False');
      expect(condition(r, 'Ready')?.message).toMatch(/dds: list-tokens|dds:/);
      expect((r.status as Record<string, number>).failedAttempts).toBeGreaterThanOrEqual(1);
      expect(await getSecretData(client, ns, 'faulty-share')).toEqual(good);
      expect(await sharesStatus(good['config.share']!)).toBe(200);
      // let the persisted back-off run out, then the rotation goes through
      clock.advance(60 * 60_000);
      op.enqueueAll();
      await waitFor('recovered', async () => {
        const x = await getResource(client, PLURAL, ns, 'faulty');
        return (x?.status as Record<string, string>)?.lastHandledRotateRequest === reason && condition(x, 'Ready')?.status === 'True';
      });
      const rotated = (await getSecretData(client, ns, 'faulty-share'))!;
      expect(rotated.bearerToken).not.toBe(good.bearerToken);
      Object.assign(good, rotated);
      clock.advance(3_600_000 + 1000); // let the ROTATED token lapse so the next round can rotate
    }
  });

  it('suspend stops provider calls and leaves the Secret as it is', async () => {
    await createResource(client, PLURAL, await dst('paused', { suspend: true }));
    const r = await waitFor('Suspended', async () => {
      const x = await getResource(client, PLURAL, ns, 'paused');
      return condition(x, 'Ready')?.reason === 'Suspended' ? x : undefined;
    });
    expect(condition(r, 'Ready')?.status).toBe('False');
    expect(await getSecretData(client, ns, 'paused-share')).toBeUndefined();
  });

  it('deletes with Revoke: PATCH 0 reaches the provider, then the Secret and the finalizer go', async () => {
    await createResource(client, PLURAL, await dst('doomed', { deletionPolicy: 'Revoke' }));
    await ready('doomed');
    const data = (await getSecretData(client, ns, 'doomed-share'))!;
    const patches = sim.state.patchZeroCalls;
    await deleteResource(client, PLURAL, ns, 'doomed');
    await waitFor('resource gone', async () => (await getResource(client, PLURAL, ns, 'doomed')) === undefined);
    expect(sim.state.patchZeroCalls).toBe(patches + 1);
    expect(await sharesStatus(data['config.share']!)).toBe(401);
    expect(await getSecretData(client, ns, 'doomed-share')).toBeUndefined();
  });

  it('holds a finalizer whatever the policies: on delete there is always a Secret to hand back', async () => {
    await createResource(client, PLURAL, await dst('switch', { target: { secretName: 'switch-share', creationPolicy: 'Orphan' } }));
    const r = await ready('switch');
    expect(r.metadata?.finalizers).toEqual(['token-operator.io/finalizer']);
  });

  it('deletes with Retain: no provider call; the Secret stays, handed back without the owner reference', async () => {
    await createResource(client, PLURAL, await dst('kept'));
    await ready('kept');
    const data = await getSecretData(client, ns, 'kept-share');
    const patches = sim.state.patchZeroCalls;
    await deleteResource(client, PLURAL, ns, 'kept');
    await waitFor('resource gone', async () => (await getResource(client, PLURAL, ns, 'kept')) === undefined);
    expect(sim.state.patchZeroCalls).toBe(patches);
    expect(await getSecretData(client, ns, 'kept-share')).toEqual(data);
    expect((await client.get(`/api/v1/namespaces/${ns}/secrets/kept-share`)).metadata?.ownerReferences ?? []).toEqual([]);
  });
});
