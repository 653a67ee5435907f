import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { KubeConfig } from '@kubernetes/client-node';
import { inject } from 'vitest';
import { OperatorConfig } from '../../src/config.js';
import { startOperator, type Operator, type OperatorDeps } from '../../src/operator.js';
import { KubeApiError, KubeClient, type KubeObject } from '../../src/runtime/kube-client.js';
import { createLogger } from '../../src/runtime/logger.js';

/** Everything integration tests share: the real API server, namespaces, an in-process operator. */

export function kubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(inject('kubeconfigPath'));
  return kc;
}

export function adminClient(): KubeClient {
  return new KubeClient(kubeConfig(), { qps: 1000, burst: 1000 });
}

export async function createNamespace(client: KubeClient, prefix: string): Promise<string> {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  await client.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  return name;
}

export async function createSecret(client: KubeClient, namespace: string, name: string, data: Record<string, string>): Promise<void> {
  await client.create(`/api/v1/namespaces/${namespace}/secrets`, {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace },
    stringData: data,
  });
}

export async function getSecretData(client: KubeClient, namespace: string, name: string): Promise<Record<string, string> | undefined> {
  const s = await client.find(`/api/v1/namespaces/${namespace}/secrets/${name}`);
  if (!s) return undefined;
  const data = (s.data ?? {}) as Record<string, string>;
  return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
}

export const crPath = (plural: string, namespace: string, name?: string) =>
  `/apis/token-operator.io/v1alpha1/namespaces/${namespace}/${plural}${name ? `/${name}` : ''}`;

export async function createResource(client: KubeClient, plural: string, obj: KubeObject): Promise<KubeObject> {
  return client.create(crPath(plural, obj.metadata!.namespace!, undefined), obj);
}

export async function getResource<T extends KubeObject = KubeObject>(client: KubeClient, plural: string, namespace: string, name: string): Promise<T | undefined> {
  return client.find<T>(crPath(plural, namespace, name));
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 30_000, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export type Cond = { type: string; status: string; reason: string; message: string; observedGeneration?: number };
export function condition(obj: KubeObject | undefined, type: string): Cond | undefined {
  return ((obj?.status as { conditions?: Cond[] } | undefined)?.conditions ?? []).find((c) => c.type === type);
}

/** Captures every log line the operator writes, for assertions (no leaks, reasons). */
export class LogCapture extends Writable {
  lines: string[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    cb();
  }
  get text(): string {
    return this.lines.join('\n');
  }
}

export interface TestOperator extends Operator {
  logs: LogCapture;
}

/** Starts the operator in-process against the test API server (no leader election, random ports). */
export async function startTestOperator(
  overrides: Partial<OperatorConfig> = {},
  deps: Partial<OperatorDeps> = {},
): Promise<TestOperator> {
  const logs = new LogCapture();
  const cfg = OperatorConfig.parse({
    leaderElect: false,
    healthPort: 0,
    allowInsecureHttp: true,
    // the simulators listen on 127.0.0.1
    allowLoopbackEgress: true,
    workers: 4,
    resyncSeconds: 0,
    leaseNamespace: 'default',
    logLevel: 'debug',
    ...overrides,
  });
  const op = await startOperator(cfg, {
    kubeConfig: kubeConfig(),
    logger: createLogger({ level: cfg.logLevel, destination: logs }),
    ...deps,
  });
  return Object.assign(op, { logs });
}

/** Counts API requests by verb while a block runs: proves "a no-op reconcile makes no write". */
export class RequestCounter {
  counts = new Map<string, number>();
  on = (verb: string, resource: string) => {
    const k = `${verb} ${resource}`;
    this.counts.set(k, (this.counts.get(k) ?? 0) + 1);
  };
  writes(): number {
    let n = 0;
    for (const [k, v] of this.counts) if (/^(create|patch|update|delete) /.test(k)) n += v;
    return n;
  }
  reset(): void {
    this.counts.clear();
  }
}

export async function deleteResource(client: KubeClient, plural: string, namespace: string, name: string): Promise<void> {
  try {
    await client.delete(crPath(plural, namespace, name));
  } catch (e) {
    if (!(e instanceof KubeApiError && e.notFound)) throw e;
  }
}

/**
 * Stops the shared test API server for `downMs`, then starts it again on the same port and
 * data (etcd keeps everything): the "API server unavailable" fault.
 */
export async function restartControlPlane(downMs: number): Promise<void> {
  const outage = controlPlaneOutage(downMs);
  await outage.stopped;
  await outage.restarted;
}

/**
 * The same fault, for tests that act at the moment the API server is gone: `stopped` resolves
 * once it is down, `restarted` once it answers again, `downMs` after it stopped.
 */
export function controlPlaneOutage(downMs: number): { stopped: Promise<void>; restarted: Promise<void> } {
  const stopped = (async () => {
    const { stopByPidFile } = await import('../cluster/control-plane.js');
    await stopByPidFile(inject('controlPlaneDir'));
  })();
  const restarted = stopped.then(async () => {
    await new Promise((r) => setTimeout(r, downMs));
    await startControlPlaneAgain();
  });
  return { stopped, restarted };
}

async function startControlPlaneAgain(): Promise<void> {
  const { startControlPlane } = await import('../cluster/control-plane.js');
  const dir = inject('controlPlaneDir');
  // the port or etcd's files can take a moment to be released on a loaded machine: retry
  for (let attempt = 1; ; attempt++) {
    try {
      await startControlPlane({ dir, port: inject('controlPlanePort'), binary: inject('controlPlaneBinary'), detached: true });
      return;
    } catch (e) {
      if (attempt >= 3) throw e;
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
}

/** Waits until the resource exists and `pred` holds for it. */
export function waitForResource(client: KubeClient, plural: string, namespace: string, name: string, what: string, pred: (r: KubeObject) => boolean): Promise<KubeObject> {
  return waitFor(`${name}: ${what}`, async () => {
    const r = await getResource(client, plural, namespace, name);
    return r && pred(r) ? r : undefined;
  });
}

/** Waits for Ready=True with `reason` and status.revision ≥ minRevision. */
export function waitForReady(client: KubeClient, plural: string, namespace: string, name: string, reason: string, minRevision = 1): Promise<KubeObject> {
  return waitForResource(client, plural, namespace, name, `Ready ${reason} rev ≥ ${minRevision}`, (r) => {
    const c = condition(r, 'Ready');
    return c?.status === 'True' && c.reason === reason && Number((r.status as { revision?: number } | undefined)?.revision ?? 0) >= minRevision;
  });
}

/** Sets the rotate-now annotation (what `token-operator rotate` does). */
export function requestRotation(client: KubeClient, plural: string, namespace: string, name: string, value: string): Promise<KubeObject> {
  return client.patch(crPath(plural, namespace, name), { metadata: { annotations: { 'token-operator.io/rotate': value } } }, 'merge');
}

/**
 * What the operator keeps privately for a resource, never in its target Secret (the state
 * Secret's private.json): e.g. the live OIDC refresh token, a GNAP manage URL.
 */
export async function privateCredential(client: KubeClient, plural: string, namespace: string, name: string): Promise<Record<string, string> | undefined> {
  const uid = (await getResource(client, plural, namespace, name))?.metadata?.uid;
  if (!uid) return undefined;
  const text = (await getSecretData(client, namespace, `token-operator-state-${uid}`))?.['private.json'];
  return text ? (JSON.parse(text) as { data: Record<string, string> }).data : undefined;
}
