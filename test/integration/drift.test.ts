/**
 * Drift repair (issue #7) on the real API server: an edited or deleted target Secret is
 * written back from the operator's state Secret, never with a new token (zero provider
 * requests, counted at each simulator); a controller that keeps rewriting it is fought at
 * most 5 times in 10 minutes; an operator restart repairs from the state Secret too.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchHttpClient } from '../../src/providers/http.js';
import { createPrivicoreProvider } from '../../src/providers/privicore/index.js';
import type { KubeClient, KubeObject } from '../../src/runtime/kube-client.js';
import { ManualClock } from '../../src/schedule/clock.js';
import { startDdsSimulator, type DdsSimulator } from '../simulators/dds/server.js';
import { startGnapSimulator, type GnapSimulator } from '../simulators/gnap/server.js';
import { ddsFixture, gnapFixture } from '../support/fixtures.js';
import { startPrivicoreSimulator, type PrivicoreSimulator } from '../simulators/privicore/server.js';
import {
  adminClient,
  condition,
  createNamespace,
  createResource,
  createSecret,
  crPath,
  getResource,
  getSecretData,
  startTestOperator,
  waitFor,
  type TestOperator,
} from '../support/harness.js';

let client: KubeClient;
let dds: DdsSimulator;
let gnap: GnapSimulator;
let privicore: PrivicoreSimulator;
let op: TestOperator;
let ns: string;
// The clock stands still: every repair of a test falls in one 10-minute run, and nothing comes due.
const clock = new ManualClock('2026-11-23T10:00:00Z');

interface Provider {
  plural: string;
  /** creates a resource named `name` (and whatever the provider needs); its target is `${name}-out` */
  create(name: string): Promise<void>;
  /** requests that reached the provider simulator so far */
  calls(): number;
  /** a key of the target Secret to tamper with */
  key: string;
}

const secretPath = (name: string) => `/api/v1/namespaces/${ns}/secrets/${name}`;
const tamper = (secret: string, key: string, value: string) =>
  client.patch(secretPath(secret), { data: { [key]: Buffer.from(value).toString('base64') } }, 'merge');
type Status = { revision?: number; driftRepairs?: number; lastDriftRepairTime?: string; secretHMAC?: string };
const statusOf = (r: KubeObject | undefined) => (r?.status ?? {}) as Status;

const providers: Record<string, Provider> = {
  DeltaShareToken: {
    plural: 'deltasharetokens',
    key: 'bearerToken',
    calls: () => dds.state.log.length,
    async create(name) {
      await createResource(client, 'deltasharetokens', await ddsFixture(client, dds, name, { namespace: ns, spec: { target: { secretName: `${name}-out` } } }));
    },
  },
  'AccessToken (gnap)': {
    plural: 'accesstokens',
    key: 'access_token',
    calls: () => gnap.state.requests.filter((q) => q.path !== '/resource').length,
    async create(name) {
      const f = await gnapFixture(client, gnap, name, { namespace: ns, spec: { target: { secretName: `${name}-out` } } });
      await createResource(client, 'accesstokens', f.obj);
    },
  },
  'DataToken (tokenRef)': {
    plural: 'datatokens',
    key: 'data',
    calls: () => Object.values(privicore.state.calls).reduce((a, b) => a + b, 0),
    async create(name) {
      const own = createPrivicoreProvider({
        http: fetchHttpClient({ timeoutMs: 5000 }),
        clock,
        apiUrl: privicore.url,
        profile: { username: 'ops', password: 'ops-pw' },
        polling: { intervalMs: 10, maxIntervalMs: 50 },
      });
      const { token } = await own.tokenize({ data: Buffer.from(`payload of ${name}`), context: 'shared' });
      await createSecret(client, ns, `${name}-ref`, { token });
      await createResource(client, 'datatokens', {
        apiVersion: 'token-operator.io/v1alpha1',
        kind: 'DataToken',
        metadata: { name, namespace: ns },
        spec: {
          privicore: { apiUrl: privicore.url, profileSecretRef: { name: 'privicore-profile' }, allowInsecureHttp: true },
          tokenRef: { secretKeyRef: { name: `${name}-ref`, key: 'token' } },
          target: { secretName: `${name}-out` },
        },
      });
    },
  },
};

beforeAll(async () => {
  client = adminClient();
  dds = await startDdsSimulator({ clock });
  gnap = await startGnapSimulator({ clock });
  privicore = await startPrivicoreSimulator({ clock, commandDelayMs: 20 });
  privicore.addProfile('ops', 'ops-pw');
  ns = await createNamespace(client, 'drift');
  await createSecret(client, ns, 'privicore-profile', { username: 'ops', password: 'ops-pw' });
  op = await startTestOperator({ watchNamespaces: [ns] }, { clock });
});

afterAll(async () => {
  if (process.env.DUMP_LOGS) (await import('node:fs')).writeFileSync(process.env.DUMP_LOGS, op.logs.text);
  await op?.stop();
  await Promise.all([dds?.close(), gnap?.close(), privicore?.close()]);
});

describe.each(Object.entries(providers))('%s: drift repair from the state Secret', (_kind, p) => {
  const abbrev = p.plural.slice(0, 3);
  const name = `${abbrev}-drift`;
  const out = `${name}-out`;
  let original: Record<string, string>;
  let uid: string;

  const get = () => getResource(client, p.plural, ns, name);
  const readyTrue = async () => {
    const c = condition(await get(), 'Ready');
    expect(c?.status).toBe('True');
  };
  /** waits for the Secret to hold `original` again (the operator's keys; others may have been added) with `repairs` counted */
  const repaired = (repairs: number) =>
    waitFor(`${name}: repair ${repairs}`, async () => {
      const [r, data] = await Promise.all([get(), getSecretData(client, ns, out)]);
      const ours = Object.fromEntries(Object.keys(original).map((k) => [k, data?.[k]]));
      return statusOf(r).driftRepairs === repairs && JSON.stringify(ours) === JSON.stringify(original) ? r : undefined;
    });

  it('issues, and keeps its copy in an unwatched, owned state Secret', async () => {
    await p.create(name);
    const r = await waitFor(`${name} Ready`, async () => {
      const x = await get();
      return condition(x, 'Ready')?.status === 'True' ? x : undefined;
    });
    uid = r.metadata!.uid!;
    original = (await getSecretData(client, ns, out))!;
    const state = await client.get(secretPath(`token-operator-state-${uid}`));
    expect(state.type).toBe('Opaque');
    expect(state.metadata?.labels?.['token-operator.io/state']).toBe('true');
    expect(state.metadata?.labels?.['app.kubernetes.io/managed-by']).toBeUndefined();
    expect(state.metadata?.ownerReferences?.[0]).toMatchObject({ uid, controller: true });
    // the target copy; and, where something can mint new tokens (a GNAP manage URL), the private part
    expect(Object.keys((state.data ?? {}) as object).sort()).toEqual(p.plural === 'accesstokens' ? ['private.json', 'state.json'] : ['state.json']);
  });

  it('an edited value is written back: zero provider requests, same data, a key someone added stays, Ready stays True', async () => {
    const calls = p.calls();
    const revision = statusOf(await get()).revision;
    // someone edits a value and adds a key: only the operator's key is repaired, the added one is not the operator's to touch
    const b64 = (v: string) => Buffer.from(v).toString('base64');
    await client.patch(secretPath(out), { data: { [p.key]: b64('tampered'), extra: b64('x') } }, 'merge');
    const r = await repaired(1);
    expect((await getSecretData(client, ns, out))?.extra).toBe('x');
    expect(p.calls()).toBe(calls);
    expect(statusOf(r).revision).toBe(revision);
    expect(condition(r, 'SecretDrift')).toMatchObject({ status: 'False', reason: 'DriftRepaired' });
    expect(condition(r, 'SecretDrift')?.message).toContain(`Secret "${out}" was changed outside the operator`);
    await readyTrue();
  });

  it('a deleted Secret is recreated with the same credential: zero provider requests', async () => {
    const calls = p.calls();
    await client.delete(secretPath(out));
    const r = await repaired(2);
    expect(p.calls()).toBe(calls);
    expect(condition(r, 'SecretDrift')?.message).toContain('was deleted outside the operator');
    const secret = await client.get(secretPath(out));
    expect(secret.metadata?.ownerReferences?.[0]).toMatchObject({ uid });
    expect(secret.metadata?.annotations?.['token-operator.io/revision']).toBe(String(statusOf(r).revision));
    await readyTrue();
  });

  it('after an operator restart, drift made while it was down is repaired from the state Secret', async () => {
    const calls = p.calls();
    await op.stop();
    await tamper(out, p.key, 'edited-while-down');
    op = await startTestOperator({ watchNamespaces: [ns] }, { clock });
    await repaired(3);
    expect(p.calls()).toBe(calls);
    await readyTrue();
  });

  it('a controller that keeps rewriting the Secret: 5 repairs, then SecretDrift=True DriftRepairSuspended', async () => {
    const fought = `${abbrev}-fight`;
    const fightOut = `${fought}-out`;
    await p.create(fought);
    await waitFor(`${fought} Ready`, async () => condition(await getResource(client, p.plural, ns, fought), 'Ready')?.status === 'True');
    const mine = (await getSecretData(client, ns, fightOut))!;
    const calls = p.calls();
    let repairs = 0;
    for (let i = 1; i <= 7; i++) {
      await tamper(fightOut, p.key, `theirs-${i}`);
      // the other controller writes again as soon as the operator has answered (repaired or given up)
      const outcome = await waitFor(
        `fight round ${i}`,
        async () => {
          const [r, data] = await Promise.all([getResource(client, p.plural, ns, fought), getSecretData(client, ns, fightOut)]);
          if (data?.[p.key] === mine[p.key]) return 'repaired';
          if (condition(r, 'SecretDrift')?.reason === 'DriftRepairSuspended') return 'suspended';
          return undefined;
        },
        10_000,
      );
      if (outcome === 'repaired') repairs++;
      if (i === 7) await new Promise((r) => setTimeout(r, 1000)); // the last write stays: nobody repairs it
    }
    expect(repairs).toBe(5);
    const r = (await getResource(client, p.plural, ns, fought))!;
    expect(statusOf(r).driftRepairs).toBe(5);
    const drift = condition(r, 'SecretDrift')!;
    expect(drift).toMatchObject({ status: 'True', reason: 'DriftRepairSuspended' });
    expect(drift.message).toContain(`Secret "${fightOut}"`);
    expect(drift.message).toContain('another controller keeps changing it');
    expect(condition(r, 'Ready')?.status).toBe('True');
    expect((await getSecretData(client, ns, fightOut))?.[p.key]).toBe('theirs-7');
    expect(p.calls()).toBe(calls);
    console.log(`[drift ${p.plural}] ${drift.reason}: ${drift.message}`);

    // a person stops the other writer and changes the spec: the operator repairs again (a new run)
    await client.patch(crPath(p.plural, ns, fought), { spec: { target: { secretName: fightOut, labels: { fixed: 'yes' } } } }, 'merge');
    const back = await waitFor(`${fought} repaired after the spec change`, async () => {
      const x = await getResource(client, p.plural, ns, fought);
      return statusOf(x).driftRepairs === 1 && (await getSecretData(client, ns, fightOut))?.[p.key] === mine[p.key] ? x : undefined;
    });
    expect(condition(back, 'SecretDrift')).toMatchObject({ status: 'False', reason: 'DriftRepaired' });
    expect(p.calls()).toBe(calls);
  });
});
