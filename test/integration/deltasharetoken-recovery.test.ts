import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeClient, KubeObject } from '../../src/runtime/kube-client.js';
import { startDdsSimulator, type DdsSimulator } from '../simulators/dds/server.js';
import {
  adminClient,
  condition,
  createNamespace,
  createResource,
  createSecret,
  getResource,
  getSecretData,
  startTestOperator,
  waitFor,
  type TestOperator,
} from '../support/harness.js';
import { spawnOperator } from '../support/operator-process.js';

const PLURAL = 'deltasharetokens';
let client: KubeClient;
let sim: DdsSimulator;
let ns: string;

async function dst(name: string, spec: Record<string, unknown> = {}): Promise<KubeObject> {
  sim.state.addClient(`client-${name}`, `secret-${name}`);
  await createSecret(client, ns, `zdirect-${name}`, { client_id: `client-${name}`, client_secret: `secret-${name}` });
  return {
    apiVersion: 'token-operator.io/v1alpha1',
    kind: 'DeltaShareToken',
    metadata: { name, namespace: ns },
    spec: {
      dds: { apiUrl: sim.url, credentialsSecretRef: { name: `zdirect-${name}` }, allowInsecureHttp: true },
      overlap: '1h',
      target: { secretName: `${name}-share` },
      ...spec,
    },
  };
}

async function works(name: string): Promise<number> {
  const data = (await getSecretData(client, ns, `${name}-share`))!;
  const p = JSON.parse(data['config.share']!) as { endpoint: string; bearerToken: string };
  const res = await fetch(`${p.endpoint.replace(/\/+$/, '')}/shares`, { headers: { authorization: `Bearer ${p.bearerToken}` } });
  return res.status;
}

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
      TOKEN_OPERATOR_CRASH_AT: 'dds:after-activate',
    });
    const exit = await crashing.exited;
    expect(exit.signal).toBe('SIGKILL');
    expect(crashing.output()).toContain('crash injected at dds:after-activate');
    // The link was consumed, and nothing was written.
    expect(sim.state.tokens.filter((t) => t.account === 'client-crashy' && t.downloaded)).toHaveLength(1);
    expect(await getSecretData(client, ns, 'crashy-share')).toBeUndefined();

    const healthy = spawnOperator([`--watch-namespaces=${ns}`, '--leader-elect=false', `--lease-namespace=${ns}`]);
    try {
      const r = await waitFor('crashy Ready', async () => {
        const x = await getResource(client, PLURAL, ns, 'crashy');
        return condition(x, 'Ready')?.status === 'True' ? x : undefined;
      }, 60_000);
      expect(condition(r, 'Ready')?.reason).toBe('Rotated');
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

    it('a deleted Secret is recovered by rotation, and the condition says why', async () => {
      await createResource(client, PLURAL, await dst('lost'));
      await readyWith('lost', 'Issued');
      const old = (await getSecretData(client, ns, 'lost-share'))!;
      await client.delete(`/api/v1/namespaces/${ns}/secrets/lost-share`);
      const r = await readyWith('lost', 'RecoveredByRotation');
      expect(condition(r, 'Ready')?.message).toContain('activation link can be used only once');
      const now = (await getSecretData(client, ns, 'lost-share'))!;
      expect(now.bearerToken).not.toBe(old.bearerToken);
      expect(await works('lost')).toBe(200);
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
