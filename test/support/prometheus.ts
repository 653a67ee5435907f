import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { helmBinary } from '../../scripts/chart.js';

/**
 * prometheus and promtool (Debian's `prometheus` package, unpacked into .cache/bin by
 * scripts/prometheus.sh, which scripts/setup.sh runs) and the chart's monitoring objects
 * rendered as plain Prometheus files: the PrometheusRule's groups as a rule file, the
 * ServiceMonitor as a scrape config.
 */

export const ROOT = join(import.meta.dirname, '..', '..');

function binary(name: string): string | undefined {
  const cached = join(ROOT, '.cache', 'bin', name);
  if (existsSync(cached)) return cached;
  const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

export const promtool = binary('promtool');
export const prometheus = binary('prometheus');

/** Why the Prometheus tests cannot run here, or undefined; with REQUIRE_PROMETHEUS_TESTS=1 (npm test) a missing tool fails instead. */
export function prometheusMissing(): string | undefined {
  const why = !promtool || !prometheus ? 'prometheus/promtool not installed (bash scripts/prometheus.sh install)' : undefined;
  if (why && process.env.REQUIRE_PROMETHEUS_TESTS === '1') throw new Error(`REQUIRE_PROMETHEUS_TESTS=1 but ${why}`);
  return why;
}

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

export const RELEASE = 'token-operator';
export const NAMESPACE = 'token-operator';

type Manifest = { kind: string; metadata: { name: string; namespace?: string }; spec?: unknown };

/** The chart (or another copy of it) rendered with these values, prometheusRule and serviceMonitor on. */
export function renderChart(values: Values = {}, chartDir = join(ROOT, 'charts', 'token-operator')): Manifest[] {
  // --set-string keeps a string value such as labelValue "1" a string
  const flags = Object.entries({ 'prometheusRule.enabled': true, 'serviceMonitor.enabled': true, ...values }).flatMap(([k, v]) => [
    typeof v === 'string' ? '--set-string' : '--set',
    `${k}=${String(v)}`,
  ]);
  const text = execFileSync(helmBinary(ROOT), ['template', RELEASE, chartDir, '--namespace', NAMESPACE, ...flags], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return parseAllDocuments(text)
    .map((d) => d.toJS() as Manifest | null)
    .filter((m): m is Manifest => !!m?.kind);
}

/** The PrometheusRule's spec is a Prometheus rule file: the same `groups`. */
export function renderRules(values: Values = {}, chartDir?: string): RuleFile {
  const rule = renderChart(values, chartDir).find((m) => m.kind === 'PrometheusRule');
  if (!rule) throw new Error('the chart rendered no PrometheusRule');
  return rule.spec as RuleFile;
}

export const alertNames = (rules: RuleFile): string[] => rules.groups.flatMap((g) => g.rules.flatMap((r) => (r.alert ? [r.alert] : [])));

/**
 * What the Prometheus Operator makes of the chart's ServiceMonitor, for one static target:
 * its path, interval, timeout and honorLabels, and the target labels it gives (job = the
 * Service's name, namespace, service, endpoint = port name, pod, container).
 */
export function scrapeConfigFromChart(target: string, values: Values = {}): Record<string, unknown> {
  const objs = renderChart(values);
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

/** Runs promtool; returns its exit status and output (stdout + stderr). */
export function runPromtool(args: string[], cwd?: string): { status: number; output: string } {
  const r = spawnSync(promtool!, args, { encoding: 'utf8', ...(cwd ? { cwd } : {}) });
  return { status: r.status ?? -1, output: `${r.stdout}${r.stderr}` };
}

export const toYaml = (v: unknown): string => stringify(v, { lineWidth: 0 });
export const fromYaml = (s: string): unknown => parse(s);
