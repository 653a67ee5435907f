import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parser } from '@prometheus-io/lezer-promql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OperatorMetrics } from '../../../src/runtime/metrics.js';
import { dashboard } from '../../../scripts/dashboard.js';
import { ROOT, prometheusMissing, renderChart, runPromtool, toYaml } from '../../support/prometheus.js';

/**
 * The Grafana dashboard the chart ships (generated from scripts/dashboard.ts): every query
 * parses as PromQL (promtool, Grafana's variables filled in) and names only metrics the
 * operator exports; the ConfigMap carries it with the label Grafana's sidecar looks for.
 */

const FILE = join(ROOT, 'charts', 'token-operator', 'dashboards', 'token-operator.json');

interface Panel {
  type: string;
  title: string;
  datasource?: { uid?: string };
  targets?: Array<{ expr: string; refId?: string }>;
}
const shipped = JSON.parse(readFileSync(FILE, 'utf8')) as { panels: Panel[]; templating: { list: Array<{ name: string; type: string; query?: string }> } };
const panels = shipped.panels.filter((p) => p.type !== 'row');

/** what Grafana substitutes before it sends a query */
function substitute(expr: string): string {
  return expr
    .replaceAll('$__rate_interval', '5m')
    .replaceAll('$__interval', '1m')
    .replaceAll('$__range', '6h')
    .replace(/\$\{?(job|kind|namespace)\}?/g, '.*');
}

/** every query: panel targets, and the metric selector inside each label_values() variable */
function queries(): Array<{ where: string; expr: string }> {
  const out = panels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: `${p.title} ${t.refId ?? ''}`, expr: substitute(t.expr) })));
  for (const v of shipped.templating.list) {
    if (v.type !== 'query') continue;
    const m = /^label_values\((.+),\s*[a-zA-Z_]+\)$/.exec(v.query ?? '');
    if (!m) throw new Error(`variable ${v.name}: only label_values(selector, label) queries are checked, got ${v.query}`);
    out.push({ where: `variable ${v.name}`, expr: substitute(m[1]!) });
  }
  return out;
}

/** metric names in a PromQL expression (Prometheus' own lezer grammar) */
function metricNames(expr: string): string[] {
  const names: string[] = [];
  parser.parse(expr).iterate({
    enter: (n) => {
      if (n.type.name === 'Identifier' && n.node.parent?.type.name === 'VectorSelector') names.push(expr.slice(n.from, n.to));
      if (n.type.name === 'LabelName' && expr.slice(n.from, n.to) === '__name__') throw new Error(`${expr}: select metrics by name, not by __name__ matchers`);
    },
  });
  return names;
}

/** the series names the operator's registry exposes (histograms as _bucket/_sum/_count) */
async function exported(): Promise<Set<string>> {
  const out = new Set<string>();
  for (const m of await new OperatorMetrics('0.0.0').registry.getMetricsAsJSON()) {
    // prom-client types `type` as a numeric enum; at run time it is the exposition's word
    const type = String(m.type);
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) out.add(m.name + s);
    else if (type === 'summary') for (const s of ['', '_sum', '_count']) out.add(m.name + s);
    else out.add(m.name);
  }
  return out;
}

describe('Grafana dashboard', () => {
  it('is what scripts/dashboard.ts builds (npm run generate)', () => {
    expect(shipped).toEqual(JSON.parse(JSON.stringify(dashboard())));
  });

  it('has the panels a platform team looks at, all on the datasource variable', () => {
    const titles = panels.map((p) => p.title);
    for (const t of [
      'Tokens by state',
      'Tokens by state per kind',
      'Expiry and next rotation, most urgent first',
      'Issues, rotations and failures',
      'Provider call latency (p50, p95)',
      'Provider errors and rate limits',
      'Work queue depth',
      'Reconcile latency (p95) and errors',
      'Operator memory',
    ])
      expect(titles).toContain(t);
    for (const p of panels) {
      expect(p.datasource?.uid, p.title).toBe('${datasource}');
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
    }
  });

  it('names only metrics the operator exports', async () => {
    const known = await exported();
    const used = new Set<string>();
    for (const q of queries()) {
      const names = metricNames(q.expr);
      expect(names.length, `${q.where}: ${q.expr}`).toBeGreaterThan(0);
      for (const n of names) {
        expect(known, `${q.where}: ${n}`).toContain(n);
        used.add(n);
      }
    }
    // the per-token series the states and the urgency table are built from
    for (const n of ['token_operator_token_ready_status', 'token_operator_token_stalled', 'token_operator_token_suspended', 'token_operator_token_issued_timestamp_seconds'])
      expect(used).toContain(n);
  });

  it('is in the chart as a ConfigMap labelled for the Grafana sidecar, only when enabled', () => {
    expect(renderChart().some((m) => m.metadata.name.endsWith('-dashboard'))).toBe(false);
    const cm = renderChart({ 'grafanaDashboard.enabled': true, 'grafanaDashboard.annotations.grafana_folder': 'Platform' }).find((m) => m.kind === 'ConfigMap' && m.metadata.name.endsWith('-dashboard')) as
      | { metadata: { labels: Record<string, string>; annotations: Record<string, string> }; data: Record<string, string> }
      | undefined;
    expect(cm?.metadata.labels.grafana_dashboard).toBe('1');
    expect(cm?.metadata.annotations.grafana_folder).toBe('Platform');
    expect(JSON.parse(cm!.data['token-operator.json']!)).toEqual(shipped);
  });
});

describe.skipIf(prometheusMissing())('Grafana dashboard queries, checked by promtool', () => {
  let dir: string;
  beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'dashboard-'))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('every query parses as PromQL', () => {
    // one recording rule per query: promtool check rules parses each expression
    const rules = { groups: [{ name: 'dashboard', rules: queries().map((q, i) => ({ record: `dashboard:query_${i}`, expr: q.expr, labels: { where: q.where } })) }] };
    writeFileSync(join(dir, 'queries.yaml'), toYaml(rules));
    const r = runPromtool(['check', 'rules', join(dir, 'queries.yaml')]);
    expect(r.status, r.output).toBe(0);
    expect(r.output).toContain(`SUCCESS: ${rules.groups[0]!.rules.length} rules found`);
  });
});
