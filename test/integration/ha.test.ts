import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeClient, KubeObject } from '../../src/runtime/kube-client.js';
import { startDdsSimulator, type DdsSimulator } from '../simulators/dds/server.js';
import {
  adminClient,
  condition,
  createNamespace,
  createResource,
  crPath,
  getResource,
  restartControlPlane,
  startTestOperator,
  waitFor,
} from '../support/harness.js';
import { spawnOperator, type OperatorProcess } from '../support/operator-process.js';
import { ddsFixture, shareStatus } from '../support/fixtures.js';

let client: KubeClient;
let sim: DdsSimulator;
let ns: string;
const procs: OperatorProcess[] = [];

async function dst(name: string): Promise<void> {
  await createResource(client, 'deltasharetokens', await ddsFixture(client, sim, name, { namespace: ns }));
}

const revision = async (name: string) => ((await getResource(client, 'deltasharetokens', ns, name))?.status as { revision?: number } | undefined)?.revision ?? 0;
const holder = async () =>
  (await client.find<KubeObject & { spec?: { holderIdentity?: string } }>(`/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/token-operator`))?.spec?.holderIdentity;

beforeAll(async () => {
  client = adminClient();
  sim = await startDdsSimulator();
  ns = await createNamespace(client, 'ha');
});

afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop()));
  await sim?.close();
});

describe('high availability', () => {
  it('the follower takes over a rotation the killed leader left half-done, without rotating twice', async () => {
    const election = [`--watch-namespaces=${ns}`, `--lease-namespace=${ns}`, '--lease-duration-seconds=4', '--renew-deadline-seconds=3', '--retry-period-seconds=1'];
    // replica a dies right after the provider issued the new token, before the one-time download
    const a = spawnOperator([...election, '--identity=a'], { TOKEN_OPERATOR_CRASH_AT: 'dds:after-rotate' });
    procs.push(a);
    await waitFor('a leads', async () => (await holder()) === 'a', 20_000);
    const b = spawnOperator([...election, '--identity=b']);
    procs.push(b);

    await dst('ha');
    await waitFor('issued', async () => (await revision('ha')) === 1, 30_000);
    const posts = () => sim.state.log.filter((e) => e.method === 'POST' && e.path === '/dds-tokens').length;
    expect(posts()).toBe(0);

    await client.patch(crPath('deltasharetokens', ns, 'ha'), { metadata: { annotations: { 'token-operator.io/rotate': 'now' } } }, 'merge');
    const exit = await a.exited;
    const killedAt = Date.now();
    expect(exit.signal).toBe('SIGKILL');
    expect(posts()).toBe(1);

    await waitFor('b leads', async () => (await holder()) === 'b', 20_000).catch((e: unknown) => {
      console.error(b.output().slice(-3000));
      throw e;
    });
    const takeover = Date.now() - killedAt;
    await waitFor('rotation finished by b', async () => (await revision('ha')) === 2, 30_000);
    const r = await getResource(client, 'deltasharetokens', ns, 'ha');
    expect(condition(r, 'Ready')?.status).toBe('True');
    expect((r?.status as { lastHandledRotateRequest?: string }).lastHandledRotateRequest).toBe('now');
    // b used the link a left unconsumed: still exactly one POST, and the Secret works
    expect(posts()).toBe(1);
    expect(await shareStatus(client, ns, 'ha-share')).toBe(200);
    // lease 4 s + renew/retry slack
    expect(takeover).toBeLessThan(8000);
    console.log(`[ha] follower took over ${takeover} ms after the leader was killed`);
    // the next test runs its own operator on this namespace: no replica may be left acting on it
    await Promise.all(procs.map((p) => p.stop()));
  });

  it('survives the API server being unavailable for 60 s, without a restart', async () => {
    const op = await startTestOperator({ watchNamespaces: [ns] });
    try {
      await dst('outage');
      await waitFor('issued', async () => (await revision('outage')) === 1, 30_000);
      await restartControlPlane(60_000);
      // after the outage the same operator picks up new work
      await dst('after');
      await waitFor('after issued', async () => (await revision('after')) === 1, 90_000);
      await client.patch(crPath('deltasharetokens', ns, 'outage'), { metadata: { annotations: { 'token-operator.io/rotate': 'post-outage' } } }, 'merge');
      await waitFor('rotated after outage', async () => (await revision('outage')) === 2, 120_000);
    } finally {
      if (process.env.DUMP_LOGS) (await import('node:fs')).writeFileSync(process.env.DUMP_LOGS, op.logs.text);
      await op.stop();
    }
  }, 240_000);
});
