import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { inject } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { helmBinary } from '../../scripts/chart.js';

/** helm and kubectl against the test API server, for the chart and RBAC tests. */

export const ROOT = join(import.meta.dirname, '..', '..');
export const CHART = join(ROOT, 'charts', 'token-operator');

function run(bin: string, args: string[], input?: string): string {
  try {
    return execFileSync(bin, args, {
      encoding: 'utf8',
      env: { ...process.env, KUBECONFIG: inject('kubeconfigPath'), HELM_CACHE_HOME: join(ROOT, '.cache', 'helm'), HELM_CONFIG_HOME: join(ROOT, '.cache', 'helm') },
      input,
      stdio: ['pipe', 'pipe', 'pipe'],
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (e) {
    const err = e as { stderr?: string; stdout?: string; message: string };
    throw new Error(`${bin} ${args.join(' ')} failed: ${err.stderr || err.stdout || err.message}`);
  }
}

export const helm = (...args: string[]): string => run(helmBinary(ROOT), args);
export const kubectl = (args: string[], input?: string): string => run('kubectl', args, input);

/** `--set` flags from a flat map; arrays become {a,b}. */
export function setFlags(values: Record<string, string | number | boolean | string[]>): string[] {
  return Object.entries(values).flatMap(([k, v]) => ['--set', `${k}=${Array.isArray(v) ? `{${v.join(',')}}` : String(v)}`]);
}

export function template(release: string, namespace: string, values: Record<string, string | number | boolean | string[]> = {}): string {
  return helm('template', release, CHART, '--namespace', namespace, ...setFlags(values));
}

export type Manifest = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> }; [k: string]: unknown };

export function manifests(yamlText: string): Manifest[] {
  return parseAllDocuments(yamlText)
    .map((d) => d.toJS() as Manifest | null)
    .filter((m): m is Manifest => !!m && typeof m === 'object' && 'kind' in m);
}

export type PolicyRule = { apiGroups?: string[]; resources?: string[]; verbs: string[]; resourceNames?: string[] };

/** Every (group, resource, verb) a set of rules grants, as "group/resource:verb" (core group = ""). */
export function grants(rules: PolicyRule[]): Set<string> {
  const out = new Set<string>();
  for (const r of rules) for (const g of r.apiGroups ?? []) for (const res of r.resources ?? []) for (const v of r.verbs) out.add(`${g}/${res}:${v}`);
  return out;
}

export const serviceAccountUser = (namespace: string, name: string) => `system:serviceaccount:${namespace}:${name}`;

/** `kubectl auth can-i` as someone: true/false (exit code 1 = no). */
export function canI(as: string, verb: string, resource: string, namespace?: string): boolean {
  try {
    const out = run('kubectl', ['auth', 'can-i', verb, resource, `--as=${as}`, ...(namespace ? ['-n', namespace] : ['--all-namespaces'])]);
    return out.trim() === 'yes';
  } catch (e) {
    if (/\bno\b/.test((e as Error).message)) return false;
    throw e;
  }
}
