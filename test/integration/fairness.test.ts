/**
 * Two tenants on one operator with two reconcile slots: one namespace asks 80 AccessTokens to
 * rotate at once (a herd), and while that herd is being worked through, a token in another
 * namespace comes due by its schedule. Reconcile slots are shared round-robin by namespace
 * (schedule/round-robin.ts), so the due token waits for a slot to free, not for the herd.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeClient, KubeObject } from '../../src/runtime/kube-client.js';
import { startGnapSimulator, type GnapSimulator } from '../simulators/gnap/server.js';
import { gnapFixture } from '../support/fixtures.js';
import { adminClient, createNamespace, createResource, crPath, getResource, startTestOperator, waitFor, waitForReady, type TestOperator } from '../support/harness.js';

const PLURAL = 'accesstokens';
const HERD = 80;
const WORKERS = 2;

let client: KubeClient;
let hostileSim: GnapSimulator;
let victimSim: GnapSimulator;
let op: TestOperator;
let hostile: string;
let victim: string;

type Status = { revision?: number; lastRotationTime?: string; nextRotationTime?: string };
const statusOf = (r: KubeObject | undefined) => (r?.status ?? {}) as Status;

beforeAll(async () => {
  client = adminClient();
  // the herd's tokens live an hour; the other tenant's 30 s, so it comes due ~20 s after issue
  hostileSim = await startGnapSimulator({ latencyMs: 100, accessTokenExpirySeconds: 3600 });
  victimSim = await startGnapSimulator({ latencyMs: 100, accessTokenExpirySeconds: 30 });
  hostile = await createNamespace(client, 'herd');
  victim = await createNamespace(client, 'tenant');
  op = await startTestOperator({ watchNamespaces: [hostile, victim], controllers: ['AccessToken'], workers: WORKERS });
});

afterAll(async () => {
  await op?.stop();
  await Promise.all([hostileSim?.close(), victimSim?.close()]);
});

describe('fair reconcile slots between tenants', () => {
  it("another namespace's due rotation waits for a slot, not for a herd of rotate-now requests", async () => {
    const names = Array.from({ length: HERD }, (_, i) => `h${i}`);
    for (const name of names) await createResource(client, PLURAL, (await gnapFixture(client, hostileSim, name, { namespace: hostile })).obj);
    await waitFor('the herd tokens are issued', async () => {
      const list = await client.list(crPath(PLURAL, hostile));
      return list.items.filter((r) => statusOf(r).revision === 1).length === HERD;
    }, 120_000, 500);

    await createResource(client, PLURAL, (await gnapFixture(client, victimSim, 'due', { namespace: victim })).obj);
    const issued = await waitForReady(client, PLURAL, victim, 'due', 'Issued');
    const due = Date.parse(statusOf(issued).nextRotationTime!);
    expect(due - Date.now()).toBeGreaterThan(5_000);

    // the herd lands shortly before the other tenant's rotation is due
    await new Promise((r) => setTimeout(r, due - Date.now() - 2_000));
    const herdAt = Date.now();
    await Promise.all(names.map((n) => client.patch(crPath(PLURAL, hostile, n), { metadata: { annotations: { 'token-operator.io/rotate': 'herd' } } }, 'merge')));
    console.log(`[fairness] herd of ${HERD} annotated in ${Date.now() - herdAt} ms, ${due - Date.now()} ms before the other tenant's rotation is due`);

    const rotated = await waitForReady(client, PLURAL, victim, 'due', 'Rotated', 2);
    const started = Date.parse(statusOf(rotated).lastRotationTime!); // when its reconcile began
    await waitFor('the herd is through', async () => {
      const list = await client.list(crPath(PLURAL, hostile));
      return list.items.filter((r) => statusOf(r).revision === 2).length === HERD;
    }, 180_000, 500);
    const herdStarts = (await client.list(crPath(PLURAL, hostile))).items.map((r) => Date.parse(statusOf(r).lastRotationTime!)).sort((a, b) => a - b);
    const ahead = herdStarts.filter((t) => t > due && t < started).length;
    const after = herdStarts.filter((t) => t > started).length;
    const lateMs = started - due;
    console.log(`[fairness] due rotation began ${lateMs} ms after its due time; herd rotations begun meanwhile: ${ahead}; after it: ${after}; herd ran ${herdStarts.at(-1)! - herdStarts[0]!} ms`);

    // FIFO slots made it wait for every herd key queued before it (dozens); now at most one per busy slot and turn
    // (plus what started between the due time and its timer firing on a loaded machine)
    expect(ahead).toBeLessThanOrEqual(2 * WORKERS + 1);
    expect(after).toBeGreaterThan(HERD / 2); // it really was due in the middle of the herd
    expect(lateMs).toBeLessThan(5_000);
    expect(statusOf(await getResource(client, PLURAL, victim, 'due')).revision).toBe(2);
  }, 400_000);
});
