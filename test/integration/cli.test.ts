import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { runCli } from '../../src/cli/main.js';
import type { KubeClient } from '../../src/runtime/kube-client.js';
import { startDdsSimulator, type DdsSimulator } from '../simulators/dds/server.js';
import { adminClient, condition, createNamespace, createResource, createSecret, getResource, kubeConfig, startTestOperator, waitFor, type TestOperator } from '../support/harness.js';

/** The CLI (status, rotate, explain) against the real API server and a running operator. */

let client: KubeClient;
let sim: DdsSimulator;
let op: TestOperator;
let ns: string;

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(argv, { out: (t) => (out += `${t}\n`), err: (t) => (err += `${t}\n`), now: () => new Date(), kubeConfig: kubeConfig() });
  return { code, out, err };
}

async function dst(name: string, clientId: string, clientSecret: string): Promise<void> {
  await createSecret(client, ns, `zdirect-${name}`, { client_id: clientId, client_secret: clientSecret });
  await createResource(client, 'deltasharetokens', {
    apiVersion: 'token-operator.io/v1alpha1',
    kind: 'DeltaShareToken',
    metadata: { name, namespace: ns },
    spec: { dds: { apiUrl: sim.url, credentialsSecretRef: { name: `zdirect-${name}` }, allowInsecureHttp: true }, target: { secretName: `${name}-share` } },
  });
}

beforeAll(async () => {
  client = adminClient();
  sim = await startDdsSimulator();
  ns = await createNamespace(client, 'cli');
  op = await startTestOperator({ watchNamespaces: [ns] });
  sim.state.addClient('client-good', 'secret-good');
  await dst('good', 'client-good', 'secret-good');
  await dst('bad', 'client-unknown', 'wrong-secret');
  await waitFor('good Ready', async () => condition(await getResource(client, 'deltasharetokens', ns, 'good'), 'Ready')?.status === 'True');
  await waitFor('bad not Ready', async () => condition(await getResource(client, 'deltasharetokens', ns, 'bad'), 'Ready')?.status === 'False');
});

afterAll(async () => {
  await op?.stop();
  await sim?.close();
});

describe('token-operator CLI', () => {
  it('status lists both tokens with Ready, reason and times', async () => {
    const { code, out } = await cli('status', '-n', ns);
    expect(code).toBe(0);
    const lines = out.trim().split('\n');
    expect(lines[0]).toMatch(/^KIND +NAMESPACE +NAME +READY +REASON +EXPIRES +NEXT-ROTATION$/);
    expect(lines.find((l) => l.includes(' good '))).toMatch(new RegExp(`^DeltaShareToken +${ns} +good +True +Issued +in \\d+d +in \\d+d$`));
    expect(lines.find((l) => l.includes(' bad '))).toMatch(new RegExp(`^DeltaShareToken +${ns} +bad +False +\\w+`));
    const all = await cli('status', '-A', '-k', 'dst');
    expect(all.out).toContain(` good `);
  });

  it('rotate --wait sets the annotation and reports the handled result', async () => {
    const { code, out, err } = await cli('rotate', 'good', '-k', 'dst', '-n', ns, '--wait');
    expect(err).toBe('');
    expect(code).toBe(0);
    expect(out).toMatch(/rotation requested \(token-operator\.io\/rotate=\d{4}-\d\d-\d\dT/);
    expect(out).toContain('handled: Ready=True (Rotated)');
    const r = await getResource(client, 'deltasharetokens', ns, 'good');
    expect((r?.status as { revision?: number }).revision).toBe(2);
  });

  it('explain shows conditions and the Warning events of a failing token, without credentials', async () => {
    await waitFor('a warning event', async () => {
      const list = await client.list(`/api/v1/namespaces/${ns}/events`);
      return list.items.some((e) => e.type === 'Warning' && (e.involvedObject as { name: string }).name === 'bad');
    });
    const { code, out } = await cli('explain', 'bad', '-k', 'DeltaShareToken', '-n', ns);
    expect(code).toBe(0);
    expect(out).toContain(`DeltaShareToken ${ns}/bad`);
    expect(out).toMatch(/Ready: +False \(\w+\)/);
    expect(out).toMatch(/Conditions:\n +TYPE +STATUS +REASON +SINCE +MESSAGE\n +Ready +False/);
    expect(out).toMatch(/Recent warnings:\n +LAST SEEN +COUNT +REASON +MESSAGE\n +\S+ ago +\d+ +\w+/);
    expect(out).not.toContain('wrong-secret');
  });

  it('fails clearly for a missing token and for bad usage', async () => {
    const missing = await cli('explain', 'nope', '-k', 'dst', '-n', ns);
    expect(missing.code).toBe(1);
    expect(missing.err).toContain(`DeltaShareToken ${ns}/nope not found`);
    const usage = await cli('rotate', 'good');
    expect(usage.code).toBe(2);
    expect(usage.err).toContain('needs -k KIND');
  });

  it('runs as a command (the npm bin / kubectl plugin entry)', () => {
    const root = join(import.meta.dirname, '..', '..');
    const out = execFileSync(join(root, 'node_modules', '.bin', 'tsx'), [join(root, 'src', 'cli', 'main.ts'), 'status', '-n', ns, '--kubeconfig', inject('kubeconfigPath')], { encoding: 'utf8' });
    expect(out).toMatch(/DeltaShareToken +cli-\w+ +good +True/);
  });
});
