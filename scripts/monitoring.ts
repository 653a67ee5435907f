// The chart's monitoring objects as plain Prometheus files: the PrometheusRule's groups as a rule
// file, the ServiceMonitor as a scrape config. Used by the alert tests (test/unit/monitoring,
// test/integration/prometheus.test.ts) and by `npm run dev -- --prometheus` (dev-prometheus.ts).
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { CHART_DIR, helmBinary } from './chart.js';

export type Values = Record<string, string | number | boolean>;
export interface Rule {
  record?: string;
  alert?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
export interface RuleFile {
  groups: Array<{ name: string; interval?: string; rules: Rule[] }>;
}
export type Manifest = { kind: string; metadata: { name: string; namespace?: string }; spec?: unknown; [k: string]: unknown };

export const RELEASE = 'token-operator';
export const NAMESPACE = 'token-operator';

/** The chart (or another copy of it) rendered with these values, prometheusRule and serviceMonitor on. */
export function renderChart(root: string, values: Values = {}, chartDir = join(root, CHART_DIR)): Manifest[] {
  // --set-string keeps a string value such as labelValue "1" a string
  const flags = Object.entries({ 'prometheusRule.enabled': true, 'serviceMonitor.enabled': true, ...values }).flatMap(([k, v]) => [
    typeof v === 'string' ? '--set-string' : '--set',
    `${k}=${String(v)}`,
  ]);
  const text = execFileSync(helmBinary(root), ['template', RELEASE, chartDir, '--namespace', NAMESPACE, ...flags], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return parseAllDocuments(text)
    .map((d) => d.toJS() as Manifest | null)
    .filter((m): m is Manifest => !!m?.kind);
}

/** The PrometheusRule's spec is a Prometheus rule file: the same `groups`. */
export function renderRules(root: string, values: Values = {}, chartDir?: string): RuleFile {
  const rule = renderChart(root, values, chartDir).find((m) => m.kind === 'PrometheusRule');
  if (!rule) throw new Error('the chart rendered no PrometheusRule');
  return rule.spec as RuleFile;
}

export const alertNames = (rules: RuleFile): string[] => rules.groups.flatMap((g) => g.rules.flatMap((r) => (r.alert ? [r.alert] : [])));

/**
 * What the Prometheus Operator makes of the chart's ServiceMonitor, for one static target:
 * its path, interval, timeout and honorLabels, and the target labels it gives (job = the
 * Service's name, namespace, service, endpoint = port name, pod, container).
 */
export function scrapeConfigFromChart(root: string, target: string, values: Values = {}): Record<string, unknown> {
  const objs = renderChart(root, values);
  const sm = objs.find((m) => m.kind === 'ServiceMonitor') as
    | { metadata: { name: string; namespace: string }; spec: { endpoints: Array<{ port: string; path: string; interval: string; scrapeTimeout: string; honorLabels?: boolean }> } }
    | undefined;
  const svc = objs.find((m) => m.kind === 'Service' && m.metadata.name.endsWith('-metrics'));
  if (!sm || !svc) throw new Error('the chart rendered no ServiceMonitor or metrics Service');
  const ep = sm.spec.endpoints[0]!;
  return {
    job_name: `serviceMonitor/${sm.metadata.namespace}/${sm.metadata.name}/0`,
    metrics_path: ep.path,
    scrape_interval: ep.interval,
    scrape_timeout: ep.scrapeTimeout,
    honor_labels: ep.honorLabels ?? false,
    static_configs: [
      {
        targets: [target],
        labels: { job: svc.metadata.name, namespace: sm.metadata.namespace, service: svc.metadata.name, endpoint: ep.port, pod: 'token-operator-0', container: 'operator' },
      },
    ],
  };
}
