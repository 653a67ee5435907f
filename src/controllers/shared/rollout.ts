import type { Logger } from 'pino';
import { GROUP } from '../../api/index.js';
import type { ConditionInput } from '../../runtime/conditions.js';
import type { EventRecorder } from '../../runtime/events.js';
import { KubeApiError, type KubeClient, type KubeObject } from '../../runtime/kube-client.js';

/**
 * Rollout restarts: after the target Secret gets a new revision, roll the workloads that
 * consume it (spec.target.rolloutRestart, and Reloader-annotated ones when the operator acts
 * as Reloader) by patching a pod-template annotation whose value is unique per rotation.
 *
 * Why it is shaped like this (anchors.md §(a) "Restart workloads", "Restart-storm protection"):
 * - The annotation value is "<secretName>@<revision>", not a timestamp: two rotations within
 *   one second must still differ (VSO PR #1229), and re-applying the same value after a crash
 *   is a no-op for the API server, so it cannot start a second rollout.
 * - What was restarted is persisted (status.lastRestartedRevision), so an operator restart or
 *   a leader change never restarts anything again (VSO #285, Reloader #1089).
 * - Debounce is a pure decision on persisted times ("due at lastRotationTime + debounce") plus
 *   a requeue, not a timer: a burst of rotations restarts each workload once, with the latest
 *   revision (VSO #644, Reloader #508).
 */

export const RESTART_ANNOTATION = `${GROUP}/secret-revision`;
/** stakater Reloader's annotations, honoured when the operator acts as Reloader */
export const RELOADER_SECRET_RELOAD = 'secret.reloader.stakater.com/reload';
export const RELOADER_AUTO = 'reloader.stakater.com/auto';
export const RELOADER_SECRET_AUTO = 'secret.reloader.stakater.com/auto';

export type WorkloadKind = 'Deployment' | 'StatefulSet' | 'DaemonSet';
const PLURAL: Record<WorkloadKind, string> = { Deployment: 'deployments', StatefulSet: 'statefulsets', DaemonSet: 'daemonsets' };
/** a failed restart is retried after this long (the patch is idempotent, so retrying all is safe) */
const RETRY_MS = 30_000;

export interface RolloutSettings {
  /** a burst of rotations within this window restarts a workload once */
  debounceMs: number;
  /** also restart workloads carrying stakater Reloader annotations for the Secret */
  actAsReloader: boolean;
}
export const DEFAULT_ROLLOUT: RolloutSettings = { debounceMs: 10_000, actAsReloader: false };

// ---------------------------------------------------------------------------------------
// The decision (pure)

export interface RestartInput {
  /** workloads are listed in spec.target.rolloutRestart, or the operator acts as Reloader */
  hasTargets: boolean;
  /** status.revision when the reconcile began */
  revisionBefore: number | undefined;
  /** status.revision now */
  revision: number | undefined;
  lastRestartedRevision: number | undefined;
  lastRotationTime: string | undefined;
  now: Date;
  debounceMs: number;
  /** restart without debounce (the provider killed the previous credential at once) */
  immediate: boolean;
}

export type RestartDecision =
  /** nothing to restart; `record` (if set) is the revision to store as the baseline */
  | { action: 'None'; record?: number }
  /** no targets: drop the bookkeeping, so adding targets later does not restart for old revisions */
  | { action: 'Forget' }
  | { action: 'Wait'; revision: number; waitMs: number; record?: number }
  | { action: 'Restart'; revision: number };

/**
 * Whether to restart now, later, or not at all.
 *
 * The first time there are targets and no lastRestartedRevision (targets just added, or an
 * operator upgrade), the workloads are assumed to run the current revision: recording it as a
 * baseline, rather than restarting, keeps an upgrade from restarting every workload at once.
 * Only when this very reconcile wrote the new revision is the previous one the baseline. The
 * first credential (no previous revision) restarts nothing: a pod cannot have started with a
 * credential that did not exist, and the kubelet retries a missing Secret on its own.
 */
export function decideRestart(i: RestartInput): RestartDecision {
  if (!i.hasTargets) return i.lastRestartedRevision === undefined ? { action: 'None' } : { action: 'Forget' };
  const revision = i.revision ?? 0;
  let last = i.lastRestartedRevision;
  let record: number | undefined;
  if (last === undefined || last > revision) {
    const before = i.revisionBefore ?? 0;
    last = last === undefined && before > 0 && revision > before ? before : revision;
    record = last;
  }
  if (revision <= last) return record === undefined ? { action: 'None' } : { action: 'None', record };
  if (i.immediate) return { action: 'Restart', revision };
  const rotatedAt = i.lastRotationTime ? Date.parse(i.lastRotationTime) : Number.NaN;
  const dueAt = Number.isNaN(rotatedAt) ? i.now.getTime() : rotatedAt + i.debounceMs;
  const waitMs = dueAt - i.now.getTime();
  if (waitMs <= 0) return { action: 'Restart', revision };
  return { action: 'Wait', revision, waitMs, ...(record !== undefined ? { record } : {}) };
}

// ---------------------------------------------------------------------------------------
// Finding the workloads

export interface WorkloadRef {
  kind: WorkloadKind;
  name: string;
}

interface PodSpecLike {
  containers?: ContainerLike[];
  initContainers?: ContainerLike[];
  ephemeralContainers?: ContainerLike[];
  volumes?: Array<{ secret?: { secretName?: string }; projected?: { sources?: Array<{ secret?: { name?: string } }> } }>;
}
interface ContainerLike {
  env?: Array<{ valueFrom?: { secretKeyRef?: { name?: string } } }>;
  envFrom?: Array<{ secretRef?: { name?: string } }>;
}
type Workload = KubeObject & { spec?: { template?: { metadata?: { annotations?: Record<string, string> }; spec?: PodSpecLike } } };

/** Does the pod template read this Secret (env, envFrom, a secret or projected volume)? */
export function referencesSecret(podSpec: PodSpecLike | undefined, secretName: string): boolean {
  if (!podSpec) return false;
  const containers = [...(podSpec.containers ?? []), ...(podSpec.initContainers ?? []), ...(podSpec.ephemeralContainers ?? [])];
  for (const c of containers) {
    if (c.env?.some((e) => e.valueFrom?.secretKeyRef?.name === secretName)) return true;
    if (c.envFrom?.some((e) => e.secretRef?.name === secretName)) return true;
  }
  return (podSpec.volumes ?? []).some(
    (v) => v.secret?.secretName === secretName || (v.projected?.sources ?? []).some((s) => s.secret?.name === secretName),
  );
}

/**
 * Reloader's rules for a Secret (stakater/Reloader README): `secret.reloader.stakater.com/reload`
 * lists Secret names (comma separated); `reloader.stakater.com/auto` or
 * `secret.reloader.stakater.com/auto` = "true" means every Secret the pod template references.
 * The annotations are read on the workload and on its pod template.
 */
export function reloaderWants(workload: Workload, secretName: string): boolean {
  const annotations = { ...workload.spec?.template?.metadata?.annotations, ...workload.metadata?.annotations };
  const listed = annotations[RELOADER_SECRET_RELOAD];
  if (listed?.split(',').some((s) => s.trim() === secretName)) return true;
  const auto = annotations[RELOADER_AUTO] === 'true' || annotations[RELOADER_SECRET_AUTO] === 'true';
  return auto && referencesSecret(workload.spec?.template?.spec, secretName);
}

function workloadPath(namespace: string, kind: WorkloadKind, name?: string): string {
  return `/apis/apps/v1/namespaces/${encodeURIComponent(namespace)}/${PLURAL[kind]}${name ? `/${encodeURIComponent(name)}` : ''}`;
}

/** Listed targets, then (acting as Reloader) annotated workloads of the namespace, without duplicates. */
async function collectTargets(client: KubeClient, namespace: string, secretName: string, listed: WorkloadRef[], actAsReloader: boolean): Promise<WorkloadRef[]> {
  const out = new Map<string, WorkloadRef>();
  for (const t of listed) out.set(`${t.kind}/${t.name}`, t);
  if (actAsReloader) {
    // Listed only when a restart is due, so the operator never caches every workload of the cluster.
    for (const kind of Object.keys(PLURAL) as WorkloadKind[]) {
      const list = await client.list<Workload>(workloadPath(namespace, kind));
      for (const w of list.items) {
        const name = w.metadata?.name;
        if (name && reloaderWants(w, secretName)) out.set(`${kind}/${name}`, { kind, name });
      }
    }
  }
  return [...out.values()];
}

// ---------------------------------------------------------------------------------------
// The hook the shared skeleton calls after every reconcile of a kind

export interface RolloutStatus {
  revision?: number;
  lastRotationTime?: string;
  lastRestartedRevision?: number;
  [key: string]: unknown;
}

export interface RolloutContext {
  client: KubeClient;
  events: EventRecorder;
  settings: RolloutSettings;
  log: Logger;
  now: Date;
  /** the resource (events are recorded on it) */
  resource: KubeObject & { metadata: { name: string; namespace: string } };
  secretName: string;
  listed: WorkloadRef[];
  revisionBefore: number | undefined;
  /** the status draft; lastRestartedRevision is updated in place */
  status: RolloutStatus;
  immediate: boolean;
}

export interface RolloutResult {
  /** RolloutRestarted, when there was something to report */
  condition?: ConditionInput;
  /** true = drop a stale RolloutRestarted condition */
  removeCondition?: boolean;
  requeueAfterMs?: number;
}

/**
 * Decides and, when due, restarts. Never throws: a workload that is missing or cannot be
 * patched is reported in the RolloutRestarted condition and must not fail the rotation.
 */
export async function rolloutAfterReconcile(c: RolloutContext): Promise<RolloutResult> {
  const decision = decideRestart({
    hasTargets: c.listed.length > 0 || c.settings.actAsReloader,
    revisionBefore: c.revisionBefore,
    revision: c.status.revision,
    lastRestartedRevision: c.status.lastRestartedRevision,
    lastRotationTime: c.status.lastRotationTime,
    now: c.now,
    debounceMs: c.settings.debounceMs,
    immediate: c.immediate,
  });
  switch (decision.action) {
    case 'None':
      if (decision.record !== undefined) c.status.lastRestartedRevision = decision.record;
      return {};
    case 'Forget':
      delete c.status.lastRestartedRevision;
      return { removeCondition: true };
    case 'Wait':
      if (decision.record !== undefined) c.status.lastRestartedRevision = decision.record;
      c.log.debug({ revision: decision.revision, waitMs: decision.waitMs }, 'rollout restart debounced');
      return { requeueAfterMs: Math.max(decision.waitMs, 100) };
    case 'Restart':
      return restart(c, decision.revision);
  }
}

async function restart(c: RolloutContext, revision: number): Promise<RolloutResult> {
  const { namespace } = c.resource.metadata;
  const value = `${c.secretName}@${revision}`;
  let targets: WorkloadRef[];
  try {
    targets = await collectTargets(c.client, namespace, c.secretName, c.listed, c.settings.actAsReloader);
  } catch (e) {
    const why = e instanceof KubeApiError ? `${e.status} ${e.reason}` : 'unexpected error';
    const message = `cannot list workloads in namespace ${namespace} to find Reloader-annotated ones (${why}); will retry`;
    c.log.warn({ err: e instanceof Error ? e.message : String(e) }, 'rollout restart: listing workloads failed');
    c.events.record(c.resource, 'Warning', 'RolloutRestartFailed', message);
    return { condition: { type: 'RolloutRestarted', status: 'False', reason: 'RestartFailed', message }, requeueAfterMs: RETRY_MS };
  }
  if (targets.length === 0) {
    // Acting as Reloader and nothing in the namespace asks for this Secret.
    c.status.lastRestartedRevision = revision;
    return {};
  }

  const restarted: string[] = [];
  const missing: string[] = [];
  const failed: string[] = [];
  const refused: string[] = [];
  const listed = new Set(c.listed.map((t) => `${t.kind}/${t.name}`));
  // A merge patch of one pod-template annotation: the API server rolls the workload as
  // `kubectl rollout restart` does; the same value again changes nothing.
  const body = { spec: { template: { metadata: { annotations: { [RESTART_ANNOTATION]: value } } } } };
  for (const t of targets) {
    const label = `${t.kind}/${t.name}`;
    try {
      const path = workloadPath(namespace, t.kind, t.name);
      let guarded: object = body;
      if (listed.has(label)) {
        // Whoever may create a token resource could otherwise restart any workload of the
        // namespace, over and over: a listed workload is restarted only if its pod template
        // uses the Secret, and the patch is guarded by the version that was checked.
        const w = await c.client.get<Workload>(path);
        if (!referencesSecret(w.spec?.template?.spec, c.secretName)) {
          refused.push(label);
          continue;
        }
        guarded = { metadata: { resourceVersion: w.metadata?.resourceVersion }, ...body };
      }
      const patched = await c.client.patch<KubeObject>(path, guarded, 'merge');
      restarted.push(label);
      c.events.record(
        { ...patched, apiVersion: patched.apiVersion ?? 'apps/v1', kind: patched.kind ?? t.kind },
        'Normal',
        'RolloutRestart',
        `restarted by token-operator: Secret ${c.secretName} has revision ${revision} (${String(c.resource.kind)} ${c.resource.metadata.name})`,
      );
    } catch (e) {
      if (e instanceof KubeApiError && e.notFound) missing.push(label);
      else failed.push(`${label} (${e instanceof KubeApiError ? `${e.status} ${e.reason}` : 'unexpected error'})`);
    }
  }
  c.log.info({ revision, restarted, missing, failed, refused }, 'rollout restart');
  const done = restarted.length ? `restarted ${restarted.join(', ')} for Secret ${c.secretName} revision ${revision}` : '';
  if (restarted.length) c.events.record(c.resource, 'Normal', 'RolloutRestart', done);
  const notConsumers = refused.length
    ? `not restarted: ${refused.join(', ')} ${refused.length === 1 ? 'does' : 'do'} not use Secret ${c.secretName} (no secret or projected volume, envFrom or env valueFrom refers to it); remove ${refused.length === 1 ? 'it' : 'them'} from spec.target.rolloutRestart or mount the Secret`
    : '';
  if (refused.length) c.events.record(c.resource, 'Warning', 'RolloutRestartRefused', notConsumers);

  if (failed.length) {
    // Not recorded as restarted: the next attempt patches every target again (idempotent).
    const message = [`could not restart ${failed.join(', ')}; will retry`, done, notConsumers].filter(Boolean).join('; ');
    c.events.record(c.resource, 'Warning', 'RolloutRestartFailed', message);
    return { condition: { type: 'RolloutRestarted', status: 'False', reason: 'RestartFailed', message }, requeueAfterMs: RETRY_MS };
  }
  c.status.lastRestartedRevision = revision;
  if (refused.length) {
    const message = [notConsumers, missing.length ? `${missing.join(', ')} not found in namespace ${namespace}` : '', done].filter(Boolean).join('; ');
    return { condition: { type: 'RolloutRestarted', status: 'False', reason: 'NotASecretConsumer', message } };
  }
  if (missing.length) {
    // A workload created later starts with the new Secret anyway: nothing to retry.
    const message = [`${missing.join(', ')} not found in namespace ${namespace}`, done].filter(Boolean).join('; ');
    c.events.record(c.resource, 'Warning', 'RolloutRestartFailed', message);
    return { condition: { type: 'RolloutRestarted', status: 'False', reason: 'WorkloadNotFound', message } };
  }
  return { condition: { type: 'RolloutRestarted', status: 'True', reason: 'Restarted', message: done } };
}
