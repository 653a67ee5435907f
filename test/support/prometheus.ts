import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import * as monitoring from '../../scripts/monitoring.js';

/**
 * prometheus and promtool (Debian's `prometheus` package, unpacked into .cache/bin by
 * scripts/prometheus.sh, which scripts/setup.sh runs), and the chart's monitoring objects as
 * plain Prometheus files (scripts/monitoring.ts).
 */

export const ROOT = join(import.meta.dirname, '..', '..');
export type { RuleFile, Values } from '../../scripts/monitoring.js';
export const { alertNames } = monitoring;

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

export const renderChart = (values: monitoring.Values = {}, chartDir?: string) => monitoring.renderChart(ROOT, values, chartDir);
export const renderRules = (values: monitoring.Values = {}, chartDir?: string) => monitoring.renderRules(ROOT, values, chartDir);
export const scrapeConfigFromChart = (target: string, values: monitoring.Values = {}) => monitoring.scrapeConfigFromChart(ROOT, target, values);

/** Runs promtool; returns its exit status and output (stdout + stderr). */
export function runPromtool(args: string[], cwd?: string): { status: number; output: string } {
  const r = spawnSync(promtool!, args, { encoding: 'utf8', ...(cwd ? { cwd } : {}) });
  return { status: r.status ?? -1, output: `${r.stdout}${r.stderr}` };
}

export const toYaml = (v: unknown): string => stringify(v, { lineWidth: 0 });
