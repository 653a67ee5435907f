import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeClient } from '../../src/runtime/kube-client.js';
import { startDdsSimulator, type DdsSimulator } from '../simulators/dds/server.js';
import {
  adminClient,
  condition,
  createNamespace,
  createResource,
  createSecret,
  crPath,
  getResource,
  startTestOperator,
  waitFor,
  type TestOperator,
} from '../support/harness.js';
import { promtool } from '../support/prometheus.js';

/**
 * /metrics, /healthz and /readyz of a running operator, scraped over HTTP as Prometheus
 * would: per-token series appear, follow rotations, carry no URL or credential, and are
 * deleted with their resource.
 */

let client: KubeClient;
let sim: DdsSimulator;
let op: TestOperator;
let ns: string;
let base: string;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the Prometheus text format (enough of it for our own output). */
function parse(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)/.exec(line);
    if (!m) throw new Error(`unparsable metrics line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, '$1');
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

async function scrape(): Promise<{ text: string; samples: Sample[] }> {
  const res = await fetch(`${base}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
  const text = await res.text();
  return { text, samples: parse(text) };
}

const find = (samples: Sample[], name: string, labels: Record<string, string> = {}) =>
  samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));

beforeAll(async () => {
  client = adminClient();
  sim = await startDdsSimulator();
  ns = await createNamespace(client, 'metrics');
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  op = await startTestOperator({ watchNamespaces: [ns], healthPort: port, healthHost: '127.0.0.1' });
});

afterAll(async () => {
  await op?.stop();
  await sim?.close();
});

async function ready(name: string, reason: string) {
  return waitFor(`${name} ${reason}`, async () => {
    const r = await getResource(client, 'deltasharetokens', ns, name);
    const c = condition(r, 'Ready');
    return c?.status === 'True' && c.reason === reason ? r : undefined;
  });
}

describe('operator metrics and health endpoints', () => {
  it('answers /healthz and /readyz once caches are synced', async () => {
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    await waitFor('readyz', async () => (await fetch(`${base}/readyz`)).status === 200);
    expect((await fetch(`${base}/nope`)).status).toBe(404);
  });

  it('publishes per-token, rotation, reconcile, provider and build series with no URL or credential in any label', async () => {
    sim.state.addClient('client-m', 'secret-m');
    await createSecret(client, ns, 'zdirect-m', { client_id: 'client-m', client_secret: 'secret-m' });
    await createResource(client, 'deltasharetokens', {
      apiVersion: 'token-operator.io/v1alpha1',
      kind: 'DeltaShareToken',
      metadata: { name: 'm', namespace: ns },
      spec: {
        dds: { apiUrl: sim.url, credentialsSecretRef: { name: 'zdirect-m' }, allowInsecureHttp: true },
        rotation: { rotateBefore: '720h' },
        overlap: '1h',
        target: { secretName: 'm-share' },
      },
    });
    const issued = await ready('m', 'Issued');
    const token = { kind: 'DeltaShareToken', namespace: ns, name: 'm' };

    let { samples } = await scrape();
    const expiry = find(samples, 'token_operator_token_expiration_timestamp_seconds', token);
    expect(expiry).toHaveLength(1);
    expect(expiry[0]!.value).toBe(Date.parse((issued.status as { expirationTime: string }).expirationTime) / 1000);
    expect(find(samples, 'token_operator_token_next_rotation_timestamp_seconds', token)).toHaveLength(1);
    expect(find(samples, 'token_operator_token_ready_status', { ...token, condition: 'True' })[0]?.value).toBe(1);
    expect(find(samples, 'token_operator_token_ready_status', { ...token, condition: 'False' })[0]?.value).toBe(0);
    expect(find(samples, 'token_operator_rotations_total', { kind: 'DeltaShareToken', result: 'issued' })[0]?.value).toBe(1);
    // the series the alerts need: issue time (lifetime = expiry - issue), Stalled, suspend
    expect(find(samples, 'token_operator_token_issued_timestamp_seconds', token)[0]?.value).toBe(Date.parse((issued.status as { lastRotationTime: string }).lastRotationTime) / 1000);
    // rare states have a series only while true
    expect(find(samples, 'token_operator_token_stalled', token)).toHaveLength(0);
    expect(find(samples, 'token_operator_token_suspended', token)).toHaveLength(0);
    // every kind's rotation counters start at 0, so increase() sees the first failure or success
    for (const kind of ['DeltaShareToken', 'AccessToken', 'DataToken']) expect(find(samples, 'token_operator_rotations_total', { kind, result: 'failed' })[0]?.value).toBe(0);

    // rotate now
    await client.patch(crPath('deltasharetokens', ns, 'm'), { metadata: { annotations: { 'token-operator.io/rotate': new Date().toISOString() } } }, 'merge');
    const rotated = await ready('m', 'Rotated');
    ({ samples } = await scrape());
    expect(find(samples, 'token_operator_rotations_total', { kind: 'DeltaShareToken', result: 'rotated' })[0]?.value).toBe(1);
    expect(find(samples, 'token_operator_token_expiration_timestamp_seconds', token)[0]!.value).toBe(
      Date.parse((rotated.status as { expirationTime: string }).expirationTime) / 1000,
    );
    const reconciles = find(samples, 'token_operator_reconcile_total', { kind: 'DeltaShareToken' }).reduce((n, s) => n + s.value, 0);
    expect(reconciles).toBeGreaterThanOrEqual(2);
    expect(find(samples, 'token_operator_reconcile_duration_seconds_count', { kind: 'DeltaShareToken' })[0]?.value).toBeGreaterThanOrEqual(2);
    const providerCalls = find(samples, 'token_operator_provider_calls_total');
    expect(providerCalls.length).toBeGreaterThan(0);
    expect(providerCalls.every((s) => s.labels.provider && s.labels.call && s.labels.outcome)).toBe(true);
    expect(find(samples, 'token_operator_provider_call_duration_seconds_count').length).toBeGreaterThan(0);
    expect(find(samples, 'token_operator_kube_api_requests_total', { resource: 'secrets', verb: 'patch' }).length).toBeGreaterThan(0);
    expect(find(samples, 'token_operator_kube_api_request_duration_seconds_count', { resource: 'deltasharetokens', verb: 'patch' })[0]?.value).toBeGreaterThanOrEqual(2);
    expect(find(samples, 'token_operator_kube_api_request_duration_seconds_count', { verb: 'watch' })).toHaveLength(0);
    // Prometheus' own linter accepts our families (prom-client's default nodejs_* ones it does not:
    // its active_handles_total gauges end in _total)
    if (promtool) {
      const ours = (await scrape()).text
        .split('\n')
        .filter((l) => !/token_operator_(nodejs|process)_/.test(l))
        .join('\n');
      const lint = spawnSync(promtool, ['check', 'metrics'], { input: `${ours}\n`, encoding: 'utf8' });
      expect(lint.status, `${lint.stdout}${lint.stderr}`).toBe(0);
    }
    const build = find(samples, 'token_operator_build_info');
    expect(build).toHaveLength(1);
    expect(build[0]!.value).toBe(1);
    expect(build[0]!.labels).toMatchObject({ version: expect.stringMatching(/^\d+\.\d+\.\d+/), node_version: process.version });
    expect(find(samples, 'token_operator_leader')[0]?.value).toBe(1);
    expect(find(samples, 'token_operator_process_resident_memory_bytes').length).toBe(1);

    // No label value is a URL, a credential, a token id or anything the provider handed out.
    const secretsOut = [...sim.state.secrets(), 'secret-m', (rotated.status as { tokenId?: string }).tokenId ?? 'no-token-id'];
    for (const s of samples) {
      for (const [k, v] of Object.entries(s.labels)) {
        expect(v, `${s.name}{${k}}`).not.toMatch(/:\/\/|127\.0\.0\.1/);
        for (const secret of secretsOut) if (secret.length >= 6) expect(v, `${s.name}{${k}}`).not.toContain(secret);
      }
    }
  });

  it('deletes every per-token series with the resource', async () => {
    await client.delete(crPath('deltasharetokens', ns, 'm'));
    await waitFor('resource gone', async () => !(await getResource(client, 'deltasharetokens', ns, 'm')));
    await waitFor('series gone', async () => {
      const { samples } = await scrape();
      return samples.every((s) => s.labels.name !== 'm' || s.labels.namespace !== ns);
    });
    const { text } = await scrape();
    expect(text).not.toMatch(new RegExp(`namespace="${ns}"`));
    // counters by kind stay (they are not per token)
    expect(text).toMatch(/token_operator_rotations_total\{kind="DeltaShareToken",result="issued"\} 1/);
  });
});
