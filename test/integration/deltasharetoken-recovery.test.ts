import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeClient } from '../../src/runtime/kube-client.js';
import { startDdsSimulator, type DdsSimulator } from '../simulators/dds/server.js';
import {
  adminClient,
  condition,
  createNamespace,
  createResource,
  getResource,
  getSecretData,
  startTestOperator,
  waitFor,
  type TestOperator,
} from '../support/harness.js';
import { spawnOperator } from '../support/operator-process.js';
import { ddsFixture, shareStatus } from '../support/fixtures.js';

const PLURAL = 'deltasharetokens';
let client: KubeClient;
let sim: DdsSimulator;
let ns: string;

const dst = (name: string, spec: Record<string, unknown> = {}) => ddsFixture(client, sim, name, { namespace: ns, spec });
const works = (name: string) => shareStatus(client, ns, `${name}-share`);

const readyWith = (name: string, reason: string) =>
  waitFor(`${name} Ready ${reason}`, async () => {
    const r = await getResource(client, PLURAL, ns, name);
    return condition(r, 'Ready')?.status === 'True' && condition(r, 'Ready')?.reason === reason ? r : undefined;
  }, 60_000);

beforeAll(async () => {
  client = adminClient();
  sim = await startDdsSimulator();
  ns = await createNamespace(client, 'dds-recovery');
});

afterAll(async () => {
  await sim?.close();
});

describe('DeltaShareToken recovery', () => {
  it('a crash right after the one-time download is recovered by rotating after restart', async () => {
    await createResource(client, PLURAL, await dst('crashy'));
    const crashing = spawnOperator([`--watch-namespaces=${ns}`, '--leader-elect=false', `--lease-namespace=${ns}`], {
      TOKEN_OPERATOR_CRASH_AT: 'issue:after-provider-answer',
    });
    const exit = await crashing.exited;
    expect(exit.signal).toBe('SIGKILL');
    expect(crashing.output()).toContain('crash injected at issue:after-provider-answer');
    // The link was consumed, and nothing was written.
    expect(sim.state.tokens.filter((t) => t.account === 'client-crashy' && t.downloaded)).toHaveLength(1);
    expect(await getSecretData(client, ns, 'crashy-share')).toBeUndefined();

    const healthy = spawnOperator([`--watch-namespaces=${ns}`, '--leader-elect=false', `--lease-namespace=${ns}`]);
    try {
      const r = await waitFor('crashy Ready', async () => {
        const x = await getResource(client, PLURAL, ns, 'crashy');
        return condition(x, 'Ready')?.status === 'True' ? x : undefined;
      }, 60_000);
      // the resource's first credential (the one lost to the crash never reached a Secret)
      expect(condition(r, 'Ready')?.reason).toBe('Issued');
      expect(await works('crashy')).toBe(200);
      // exactly one rotation: the consumed token became ROTATED, a new one is ACTIVE
      const tokens = sim.state.tokens.filter((t) => t.account === 'client-crashy');
      expect(tokens.map((t) => t.status).sort()).toEqual(['ACTIVE', 'ROTATED']);
    } finally {
      await healthy.stop();
    }
  });

  describe('in-process', () => {
    let op: TestOperator;
    beforeAll(async () => {
      op = await startTestOperator({ watchNamespaces: [ns] });
    });
    afterAll(async () => op?.stop());

    it('a deleted Secret whose state Secret is gone too is recovered by rotation, and the condition says why', async () => {
      await createResource(client, PLURAL, await dst('lost'));
      const issued = await readyWith('lost', 'Issued');
      const old = (await getSecretData(client, ns, 'lost-share'))!;
      // with the operator's copy still there, drift repair would write the same profile back (drift.test.ts)
      await client.delete(`/api/v1/namespaces/${ns}/secrets/token-operator-state-${issued.metadata!.uid}`);
      await client.delete(`/api/v1/namespaces/${ns}/secrets/lost-share`);
      const r = await readyWith('lost', 'RecoveredByRotation');
      expect(condition(r, 'Ready')?.message).toContain('activation link can be used only once');
      const now = (await getSecretData(client, ns, 'lost-share'))!;
      expect(now.bearerToken).not.toBe(old.bearerToken);
      expect(await works('lost')).toBe(200);
    });

    it('a link DDS still lists after its download is never downloaded again: a lost Secret is recovered by rotating', async () => {
      const keeping = await startDdsSimulator({ settings: { linkAfterDownload: 'kept' } });
      try {
        await createResource(client, PLURAL, await ddsFixture(client, keeping, 'listed', { namespace: ns }));
        const issued = await readyWith('listed', 'Issued');
        expect(keeping.state.tokens.filter((t) => t.account === 'client-listed' && t.downloaded)).toHaveLength(1);
        await client.delete(`/api/v1/namespaces/${ns}/secrets/token-operator-state-${issued.metadata!.uid}`);
        await client.delete(`/api/v1/namespaces/${ns}/secrets/listed-share`);
        await readyWith('listed', 'RecoveredByRotation');
        // one download per token: the listed link of the first one was not tried again
        const tokens = keeping.state.tokens.filter((t) => t.account === 'client-listed');
        expect(tokens.map((t) => t.status).sort()).toEqual(['ACTIVE', 'ROTATED']);
        expect(keeping.state.log.filter((e) => e.route === 'activation' && e.status !== 200)).toHaveLength(0);
        expect(await shareStatus(client, ns, 'listed-share')).toBe(200);
      } finally {
        await keeping.close();
      }
    });

    it('verification failure: the new profile is kept, Ready=False VerificationFailed, then Ready once the server accepts it', async () => {
      sim.faults.inject('shares', { kind: 'status', status: 401 }, 1);
      await createResource(client, PLURAL, await dst('unverified'));
      const r = await waitFor('VerificationFailed', async () => {
        const x = await getResource(client, PLURAL, ns, 'unverified');
        return condition(x, 'Ready')?.reason === 'VerificationFailed' ? x : undefined;
      });
      expect(condition(r, 'Ready')?.status).toBe('False');
      expect((r.status as { failedAttempts?: number }).failedAttempts).toBe(1);
      expect(await getSecretData(client, ns, 'unverified-share')).toBeDefined();
      // after the transient back-off (5 s) the check runs again and passes; no new token
      await readyWith('unverified', 'Issued');
      expect(sim.state.tokens.filter((t) => t.account === 'client-unverified')).toHaveLength(1);
    });
  });
});
