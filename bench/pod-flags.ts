import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';

/** What the benches need of the chart's values.yaml: the operator process's settings as shipped. */
export interface ChartValues {
  nodeOptions?: string;
  mallocArenaMax?: number;
  resources?: { limits?: { memory?: string } };
}

export const chartValues = YAML.parse(readFileSync(join(import.meta.dirname, '..', 'charts', 'token-operator', 'values.yaml'), 'utf8')) as ChartValues;

/** The chart's container memory limit in MiB (resources.limits.memory). */
export const chartLimitMiB = quantityMiB(chartValues.resources?.limits?.memory);

/**
 * Node flags (default: the chart's nodeOptions) as Node applies them in the chart's pod. Node
 * sizes the old generation for --max-old-space-size-percentage=P from the cgroup's memory limit
 * (the container's resources.limits.memory); a bench runs the operator outside any such cgroup,
 * where the same flag would take P % of the whole machine. So it gets the size Node computes in
 * the pod: ⌊limit in MiB × P / 100⌋ (src/node_options.cc, HandleMaxOldSpaceSizePercentage).
 */
export function podNodeFlags(flags: string = chartValues.nodeOptions ?? ''): string[] {
  return flags
    .split(' ')
    .filter(Boolean)
    .map((f) => {
      const p = /^--max-old-space-size-percentage=(\d+(?:\.\d+)?)%?$/.exec(f);
      if (!p) return f;
      if (!chartLimitMiB) throw new Error(`${f} needs resources.limits.memory in the chart's values.yaml to mean what it means in the pod`);
      return `--max-old-space-size=${Math.floor((chartLimitMiB * Number(p[1])) / 100)}`;
    });
}

/** A Kubernetes memory quantity ("256Mi", "1Gi", "300M", "268435456") in MiB. */
export function quantityMiB(q: string | undefined): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|k|M|G)?$/.exec(q ?? '');
  if (!m) return undefined;
  const unit = { Ki: 1 / 1024, Mi: 1, Gi: 1024, k: 1000 / 2 ** 20, M: 1e6 / 2 ** 20, G: 1e9 / 2 ** 20 }[m[2] ?? ''] ?? 1 / 2 ** 20;
  return Number(m[1]) * unit;
}
