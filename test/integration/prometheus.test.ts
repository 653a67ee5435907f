import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeClient } from '../../src/runtime/kube-client.js';
import { freePort } from '../cluster/control-plane.js';
import { startGnapSimulator, type GnapSimulator } from '../simulators/gnap/server.js';
import { gnapFixture } from '../support/fixtures.js';
import { adminClient, createNamespace, createResource, startTestOperator, waitFor, waitForReady, type TestOperator } from '../support/harness.js';
import { prometheus, prometheusMissing, renderRules, scrapeConfigFromChart, toYaml } from '../support/prometheus.js';

/**
 * A real Prometheus (Debian's package) scrapes the in-process operator with the chart's
 * ServiceMonitor turned into a scrape config and evaluates the chart's rules (intervals and
 * `for:` shortened through the chart's values). GNAP tokens live 30 s, so healthy ones rotate
 * all the time; one provider is broken through its /_sim/faults admin API. Alerts are read
 * from Prometheus' HTTP API: the broken token's go pending, then firing; the healthy token
 * raises none, in any state.
 */

const missing = prometheusMissing();
const PLURAL = 'accesstokens';
const LIFETIME_S = 30;

/** the chart's values for a fast loop: 1 s evaluation, short waits, everything else as shipped */
const RULE_VALUES = {
  'prometheusRule.interval': '1s',
  'prometheusRule.rotationOverdueMinSeconds': 5,
  'prometheusRule.rotationOverdueFor': '3s',
  'prometheusRule.expiringFor': '2s',
  'prometheusRule.notReadyFor': '5s',
  'prometheusRule.stalledFor': '3s',
  'prometheusRule.operatorDownFor': '5s',
};

interface Alert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: 'pending' | 'firing';
}

let client: KubeClient;
let healthySim: GnapSimulator;
let brokenSim: GnapSimulator;
let op: TestOperator;
let ns: string;
let dir: string;
let prom: ChildProcess | undefined;
let promUrl: string;
let promLog = '';
/** every (alert, token, state) Prometheus reported while the test ran */
const seen = new Set<string>();
let polling: NodeJS.Timeout | undefined;

async function api<T>(path: string): Promise<T> {
  const res = await fetch(`${promUrl}${path}`);
  const body = (await res.json()) as { status: string; data: T; error?: string };
  if (body.status !== 'success') throw new Error(`${path}: ${body.error ?? res.status}`);
  return body.data;
}

const alerts = async () => (await api<{ alerts: Alert[] }>('/api/v1/alerts')).alerts;
const query = async (q: string) => (await api<{ result: Array<{ metric: Record<string, string>; value: [number, string] }> }>(`/api/v1/query?query=${encodeURIComponent(q)}`)).result;

let healthyIssuedAtBreak = 0;
const healthyIssued = async () => Number((await query('token_operator_token_issued_timestamp_seconds{name="healthy"}'))[0]?.value[1] ?? 0);

function waitForAlert(alertname: string, name: string, state: Alert['state'], timeoutMs = 60_000): Promise<Alert> {
  return waitFor(
    `${alertname} ${state} for ${name}`,
    async () => (await alerts()).find((a) => a.labels.alertname === alertname && a.labels.name === name && a.labels.namespace === ns && a.state === state),
    timeoutMs,
    250,
  );
}

describe.skipIf(missing)('a real Prometheus evaluates the chart rules against the running operator', () => {
  beforeAll(async () => {
    client = adminClient();
    healthySim = await startGnapSimulator({ accessTokenExpirySeconds: LIFETIME_S });
    brokenSim = await startGnapSimulator({ accessTokenExpirySeconds: LIFETIME_S });
    ns = await createNamespace(client, 'prom');
    const metricsPort = await freePort();
    op = await startTestOperator({ watchNamespaces: [ns], controllers: ['AccessToken'], healthPort: metricsPort, healthHost: '127.0.0.1' });

    dir = mkdtempSync(join(tmpdir(), 'prometheus-'));
    writeFileSync(join(dir, 'rules.yaml'), toYaml(renderRules(RULE_VALUES)));
    const scrape = scrapeConfigFromChart(`127.0.0.1:${metricsPort}`, { 'serviceMonitor.interval': '1s', 'serviceMonitor.scrapeTimeout': '1s' });
    writeFileSync(join(dir, 'prometheus.yaml'), toYaml({ global: { scrape_interval: '1s', evaluation_interval: '1s' }, rule_files: ['rules.yaml'], scrape_configs: [scrape] }));
    const port = await freePort();
    promUrl = `http://127.0.0.1:${port}`;
    prom = spawn(
      prometheus!,
      [`--config.file=${join(dir, 'prometheus.yaml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    prom.stdout!.on('data', (d: Buffer) => (promLog += d.toString()));
    prom.stderr!.on('data', (d: Buffer) => (promLog += d.toString()));
    await waitFor('Prometheus ready', async () => (await fetch(`${promUrl}/-/ready`).catch(() => undefined))?.ok, 30_000, 200).catch((e: unknown) => {
      throw new Error(`${String(e)}\n${promLog}`);
    });
    // Prometheus hands its first targets to the scrapers after up to 5 s (its discovery manager's
    // update period): until then TokenOperatorDown is rightly pending. Watch from the first scrape on.
    await waitFor('target up, TokenOperatorDown gone', async () => (await query('up == 1')).length === 1 && !(await alerts()).some((a) => a.labels.alertname === 'TokenOperatorDown'), 30_000, 250);
    polling = setInterval(() => {
      alerts()
        .then((as) =>
          as.forEach((a) => {
            const k = `${a.labels.alertname} ${a.labels.name ?? '-'} ${a.state}`;
            if (!seen.has(k) && process.env.DEBUG_PROM) console.log(new Date().toISOString(), k);
            seen.add(k);
          }),
        )
        .catch(() => undefined);
    }, 250);
  });

  afterAll(async () => {
    if (polling) clearInterval(polling);
    prom?.kill('SIGTERM');
    await op?.stop();
    await healthySim?.close();
    await brokenSim?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('scrapes the operator as the ServiceMonitor would: target up, per-token series keep the token namespace', async () => {
    const healthy = await gnapFixture(client, healthySim, 'healthy', { namespace: ns });
    const broken = await gnapFixture(client, brokenSim, 'broken', { namespace: ns });
    // refers to a key Secret that does not exist: a refusal only a person can fix (Stalled)
    const refused = await gnapFixture(client, healthySim, 'refused', { namespace: ns });
    const refusedSpec = refused.obj.spec as { gnap: Record<string, unknown> };
    refusedSpec.gnap.privateKeySecretRef = { name: 'no-such-secret', key: 'private.pem' };
    for (const g of [healthy, broken, refused]) await createResource(client, PLURAL, g.obj);
    await waitForReady(client, PLURAL, ns, 'healthy', 'Issued');
    await waitForReady(client, PLURAL, ns, 'broken', 'Issued');

    const up = await waitFor('target up', async () => (await query('up{job="token-operator-metrics",namespace="token-operator"} == 1'))[0]);
    expect(up.metric).toMatchObject({ service: 'token-operator-metrics', endpoint: 'metrics' });
    const series = await waitFor('per-token series', async () => (await query(`token_operator_token_issued_timestamp_seconds{name="healthy"}`))[0]);
    expect(series.metric.namespace).toBe(ns);
    expect(series.metric.exported_namespace).toBeUndefined();
  });

  it('a healthy 30-second token rotates under Prometheus eyes', async () => {
    // two rotations seen in Prometheus' own data
    await waitFor('healthy rotated twice', async () => Number((await query('changes(token_operator_token_issued_timestamp_seconds{name="healthy"}[5m])'))[0]?.value[1] ?? 0) >= 2, 60_000, 500);
  });

  it('a broken provider: the broken token goes RotationOverdue pending then firing, then Expiring and NotReady; a Stalled one pages', async () => {
    healthyIssuedAtBreak = await healthyIssued();
    const res = await fetch(`${brokenSim.url}/_sim/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ kind: 'request_denied', count: 10_000 }) });
    expect(res.ok).toBe(true);

    await waitForAlert('TokenOperatorRotationOverdue', 'broken', 'pending');
    const overdue = await waitForAlert('TokenOperatorRotationOverdue', 'broken', 'firing');
    expect(overdue.labels).toMatchObject({ kind: 'AccessToken', namespace: ns, severity: 'warning' });
    expect(overdue.annotations.description).toContain(`kubectl token explain broken -k AccessToken -n ${ns}`);
    expect(overdue.annotations.runbook_url).toMatch(/docs\/runbooks\.md#tokenoperatorrotationoverdue$/);
    await waitForAlert('TokenOperatorTokenExpiring', 'broken', 'firing');
    await waitForAlert('TokenOperatorTokenNotReady', 'broken', 'firing');
    const stalled = await waitForAlert('TokenOperatorTokenStalled', 'refused', 'firing');
    expect(stalled.labels.severity).toBe('critical');
    // the Stalled token raises only that: its not-Ready is the same problem
    expect([...seen].filter((s) => s.includes(' refused ') && !s.startsWith('TokenOperatorTokenStalled '))).toEqual([]);
  });

  it('the healthy token raised no alert in any state, and the operator none about itself', async () => {
    // it kept rotating after the other provider broke
    await waitFor('healthy rotated after the break', async () => (await healthyIssued()) > healthyIssuedAtBreak, 60_000, 500);
    expect([...seen].filter((s) => s.includes(' healthy '))).toEqual([]);
    expect([...seen].filter((s) => /^TokenOperator(Down|NoLeader) /.test(s))).toEqual([]);
    expect(seen.size).toBeGreaterThan(0);
  });
});
