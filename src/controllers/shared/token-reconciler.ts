import type { Logger } from 'pino';
import { DEFAULT_REVOKE_TIMEOUT, FINALIZER, FLOORS, SKIP_REVOKE_ANNOTATION, type Resource } from '../../api/index.js';
import { parseDuration } from '../../schedule/duration.js';
import type { Clock } from '../../schedule/clock.js';
import { backoffDelay } from '../../schedule/backoff.js';
import { getCondition, removeCondition, setCondition, type Condition, type ConditionInput } from '../../runtime/conditions.js';
import type { EventRecorder, EventType } from '../../runtime/events.js';
import { crashPoint } from '../../runtime/crash-points.js';
import { addFinalizer, removeFinalizer } from '../../runtime/finalizers.js';
import type { ObjectCache } from '../../runtime/informer.js';
import { KubeApiError, resourcePath, type KubeClient, type KubeObject } from '../../runtime/kube-client.js';
import type { ReconcileFn, ReconcileResult } from '../../runtime/controller.js';
import type { OperatorMetrics } from '../../runtime/metrics.js';
import { patchStatus } from '../../runtime/status-writer.js';
import { sanitize } from '../../providers/errors.js';
import { classify } from './failures.js';
import { InputError } from './inputs.js';
import type { CreationPolicy } from './ownership.js';
import type { ResourceIndex } from './resource-index.js';
import { DEFAULT_ROLLOUT, rolloutAfterReconcile, type RolloutSettings, type WorkloadRef } from './rollout.js';
import { readSecretState, type SecretState } from './secret-state.js';
import { deleteStateSecret } from './state-secret.js';
import { judge, observeTarget, releaseTarget } from './target-secret.js';
import { LivenessTracker, livenessStep } from './liveness.js';
import type { Liveness } from '../../providers/liveness.js';

export interface CommonStatus {
  observedGeneration?: number;
  conditions?: Condition[];
  expirationTime?: string;
  nextRotationTime?: string;
  lastRotationTime?: string;
  failedAttempts?: number;
  lastFailureTime?: string;
  lastHandledRotateRequest?: string;
  revision?: number;
  /** the Secret revision the rolloutRestart workloads were last restarted for (see rollout.ts) */
  lastRestartedRevision?: number;
  /** keyed HMAC of the target Secret data the operator wrote (drift detection) */
  secretHMAC?: string;
  /** drift repairs in the current run, and when the last one was (drift.ts) */
  driftRepairs?: number;
  lastDriftRepairTime?: string;
  [key: string]: unknown;
}

export type AnyResource = Resource<
  {
    suspend?: boolean;
    deletionPolicy?: 'Revoke' | 'Retain';
    revokeTimeout?: string;
    target: {
      secretName: string;
      creationPolicy?: CreationPolicy;
      labels?: Record<string, string>;
      annotations?: Record<string, string>;
      rolloutRestart?: WorkloadRef[];
    };
  },
  CommonStatus
>;

export interface OperatorEnv {
  client: KubeClient;
  clock: Clock;
  events: EventRecorder;
  metrics: OperatorMetrics;
  secrets: ObjectCache<KubeObject>;
  allowInsecureHttp: boolean;
  /** the largest input Secret read (inputs.ts SecretReader); its default when absent */
  maxInputSecretBytes?: number;
  /** key for the Secret-data HMAC in status (per installation) */
  hmacKey: Buffer;
  /** rollout restarts of consuming workloads (debounce, Reloader mode); defaults when absent */
  rollout?: RolloutSettings;
  /** every kind's token resources: who claims a Secret, who reads one (ownership.ts) */
  resources: ResourceIndex;
}

/** What a kind's reconcile reports back; the shared skeleton turns it into conditions and status. */
export interface KindOutcome {
  ready: Omit<ConditionInput, 'type'>;
  /** extra kind-specific conditions (Rotating, RolloutRestarted, …) */
  conditions?: ConditionInput[];
  requeueAfterMs?: number;
  events?: Array<{ type: EventType; reason: string; message: string }>;
  /**
   * The provider killed the previous credential the moment it issued the new one (GNAP): restart
   * the consuming workloads right after the Secret write, without the debounce.
   */
  restartImmediately?: boolean;
}

export interface KindContext {
  env: OperatorEnv;
  log: Logger;
  now: Date;
  /** what the operator wrote into the target Secret, as far as it is this resource's (ownership.ts) */
  secret: SecretState;
  /** the target Secret object as last seen (undefined: absent); every write updates it */
  target: { secret: KubeObject | undefined };
  /** the status being built; mutate it as progress is made, so a later failure keeps it */
  status: CommonStatus;
  /** records an event on the resource now (and counts issued/rotated credentials) */
  emit(type: EventType, reason: string, message: string): void;
  /**
   * Writes the status built so far now, not at the end of the reconcile: for marks that must be on
   * the API server before a provider call. The final write then diffs against what this one left,
   * and the cache holds it, so its watch echo is known as ours and queues no other reconcile.
   */
  writeStatusNow(): Promise<void>;
}

export interface TokenKind<R extends AnyResource> {
  kind: string;
  plural: string;
  reconcile(res: R, ctx: KindContext): Promise<KindOutcome>;
  /** revoke at the provider (deletionPolicy Revoke); must throw if it did not succeed */
  revoke(res: R, ctx: KindContext): Promise<void>;
  /** called when the resource is gone for good (drop caches) */
  forget?(res: R): void;
  /**
   * Liveness (spec.liveness, liveness.ts): proves at the provider, with its cheapest read, that the
   * credential in the target Secret still works (`data`: its fields by their default key names,
   * whatever spec.target.template made of them). Never renews: a check must not spend what it checks.
   */
  verify?(res: R, ctx: KindContext, data: Record<string, string>): Promise<Liveness>;
  /** the interval when spec.liveness.interval is "0" or absent (default 1h) */
  livenessDefault?: string;
  /**
   * When a revoke is abandoned (deletion must not hang): what may still be valid at the
   * provider and how a person ends it there. No secret values.
   */
  stillValid(res: R): string;
}

/** Requeue for a refused target Secret: it is the user's, unwatched, so look again now and then. */
const TARGET_RECHECK_MS = 60_000;

const GROUP_VERSION = { group: 'token-operator.io', version: 'v1alpha1' };

/**
 * The story every kind shares: load → finalizer → (kind: plan → act) → persist status.
 * Persisted back-off gates provider calls; failures become Ready=False with a reason,
 * and Stalled=True when only a human can fix them. The last good Secret is never touched
 * on a failure path: kinds write the Secret only with a credential in hand.
 */
export function tokenReconciler<R extends AnyResource>(kind: TokenKind<R>, informer: ObjectCache<KubeObject>, env: OperatorEnv): ReconcileFn {
  const typed = { ...GROUP_VERSION, plural: kind.plural };
  env.metrics.registerKind(kind.kind);
  // The provider's Retry-After, by uid: the persisted back-off alone would let a wake-up (our own
  // status write, a resync) call again after the back-off tier's delay, before Retry-After.
  // In memory only: a restart forgets it, and a spec change clears it like the back-off.
  const retryNotBefore = new Map<string, { until: number; generation: number | undefined }>();
  // when each credential was last proven alive by this process (a passing check writes nothing)
  const liveness = new LivenessTracker(env.clock.now().getTime());
  // Without a finalizer (Retain) the resource vanishes without a last reconcile: drop what is held for it here.
  informer.on((event, obj) => {
    if (event !== 'delete') return;
    const gone = obj as unknown as R;
    kind.forget?.(gone);
    retryNotBefore.delete(gone.metadata.uid);
    liveness.forget(gone.metadata.uid);
    env.metrics.forgetToken(kind.kind, gone.metadata.namespace, gone.metadata.name);
  });
  return async (key: string, log: Logger): Promise<ReconcileResult> => {
    const slash = key.indexOf('/');
    const namespace = key.slice(0, slash);
    const name = key.slice(slash + 1);
    const res = informer.get(namespace, name) as unknown as R | undefined;
    if (!res) {
      env.metrics.forgetToken(kind.kind, namespace, name);
      return {};
    }
    const path = resourcePath(typed, namespace, name);
    const now = env.clock.now();
    // The operator's cache holds the Secrets it labels; anything else (absent, or a person's
    // Secret of that name) is read once, to judge whether this resource may write it.
    const secretObj = await observeTarget(env, res);
    const ctx: KindContext = {
      env,
      log,
      now,
      secret: readSecretState(secretObj, res.metadata.uid),
      target: { secret: secretObj },
      status: structuredClone(res.status ?? {}),
      emit: (type, reason, message) => {
        env.events.record(res as unknown as KubeObject, type, reason, message);
        if (reason === 'Issued' || reason === 'Rotated') env.metrics.rotations.inc({ kind: kind.kind, result: reason.toLowerCase() });
      },
      writeStatusNow: async () => {
        const written = await patchStatus(env.client, path, res.status, ctx.status);
        if (!written) return;
        res.status = structuredClone(written.status) as R['status'];
        informer.upsert(written);
      },
    };

    if (res.metadata.deletionTimestamp) return finalize(kind, res, path, ctx);

    // Every resource has work on delete: revoking (Revoke), and handing its target Secret back —
    // the owner reference off before garbage collection would delete the Secret (Retain), the
    // claim off a Secret it merged into or created as an orphan — so the next resource naming
    // the Secret meets a person's Secret, not a stale claim.
    if (!res.metadata.finalizers?.includes(FINALIZER)) {
      const updated = await addFinalizer(env.client, path, res as unknown as KubeObject, FINALIZER);
      if (updated) informer.upsert(updated);
    }

    const generation = res.metadata.generation;
    const revisionBefore = res.status?.revision;
    const hold = retryNotBefore.get(res.metadata.uid);
    if (hold && (hold.generation !== res.metadata.generation || hold.until <= now.getTime())) retryNotBefore.delete(res.metadata.uid);
    const gate = retryNotBefore.has(res.metadata.uid) ? Math.max(hold!.until - now.getTime(), backoffGate(res, now) ?? 0) : backoffGate(res, now);
    if (gate !== undefined) {
      log.debug({ waitMs: gate }, 'backing off');
      return { requeueAfterMs: gate };
    }

    let outcome: KindOutcome;
    try {
      // Before any provider call: a credential that could not be written must not be minted.
      const target = judge(env, res, secretObj);
      outcome = target.action === 'Refuse' ? refusedTarget(target.reason, target.message) : await kind.reconcile(res, ctx);
      // a new credential is in the Secret: whatever a liveness check found dead was replaced
      if (ctx.status.revision !== revisionBefore) delete ctx.status.credentialRevokedTime;
      if (target.action !== 'Refuse') outcome = await livenessStep(kind, liveness, res, ctx, outcome, revisionBefore);
      delete ctx.status.failedAttempts;
      delete ctx.status.lastFailureTime;
      ctx.status.conditions = setCondition(ctx.status.conditions, { type: 'Ready', ...outcome.ready }, now, generation);
      ctx.status.conditions = setCondition(ctx.status.conditions, { type: 'Stalled', status: 'False', reason: outcome.ready.reason, message: '' }, now, generation);
      for (const c of outcome.conditions ?? []) ctx.status.conditions = setCondition(ctx.status.conditions, c, now, generation);
      for (const ev of outcome.events ?? []) ctx.emit(ev.type, ev.reason, ev.message);
    } catch (e) {
      if (e instanceof KubeApiError && e.conflict) throw e; // stale cache: the queue retries with fresh state
      const f = classify(e);
      const attempts = (ctx.status.failedAttempts ?? 0) + 1;
      ctx.status.failedAttempts = attempts;
      ctx.status.lastFailureTime = now.toISOString();
      ctx.status.conditions = setCondition(ctx.status.conditions, { type: 'Ready', status: 'False', reason: f.reason, message: f.message }, now, generation);
      ctx.status.conditions = setCondition(
        ctx.status.conditions,
        { type: 'Stalled', status: f.transient ? 'False' : 'True', reason: f.reason, message: f.transient ? '' : f.message },
        now,
        generation,
      );
      env.events.record(res as unknown as KubeObject, 'Warning', f.reason, f.message);
      env.metrics.rotations.inc({ kind: kind.kind, result: 'failed' });
      log.warn({ reason: f.reason, detail: f.message, attempts }, 'reconcile failed');
      // status only says "see operator logs" for these: give the logs the (sanitized) cause
      if (f.reason === 'InternalError') log.error({ err: e instanceof Error ? `${e.name}: ${sanitize(e.message)}` : 'non-error thrown' }, 'unexpected reconcile error');
      const delay = Math.max(backoffDelay(attempts, f.transient), f.retryAfterMs ?? 0);
      if (f.retryAfterMs) retryNotBefore.set(res.metadata.uid, { until: now.getTime() + f.retryAfterMs, generation });
      outcome = { ready: { status: 'False', reason: f.reason, message: f.message }, requeueAfterMs: delay };
      // A failure after the Secret write (e.g. verification) still leaves a new credential in
      // the Secret; the back-off gate would hold a debounced restart back, so restart at once.
      outcome.restartImmediately = true;
    }
    outcome = await rollout(res, ctx, outcome, revisionBefore);
    ctx.status.observedGeneration = generation;
    const written = await writeStatus(env, path, res.status, ctx.status);
    if (written) informer.upsert(written);
    env.metrics.observeToken(kind.kind, namespace, name, {
      ...(ctx.status.expirationTime ? { expiration: ctx.status.expirationTime } : {}),
      ...(ctx.status.nextRotationTime ? { nextRotation: ctx.status.nextRotationTime } : {}),
      ...(ctx.status.lastRotationTime ? { issued: ctx.status.lastRotationTime } : {}),
      ready: getCondition(ctx.status.conditions, 'Ready')?.status ?? 'Unknown',
      stalled: getCondition(ctx.status.conditions, 'Stalled')?.status === 'True',
      suspended: res.spec.suspend === true,
    });
    return outcome.requeueAfterMs !== undefined ? { requeueAfterMs: outcome.requeueAfterMs } : {};
  };

  async function finalize(kindDef: TokenKind<R>, res: R, path: string, ctx: KindContext): Promise<ReconcileResult> {
    if (!res.metadata.finalizers?.includes(FINALIZER)) return {};
    if (revokes(res)) {
      const held = await revokeOrAbandon(kindDef, res, path, ctx);
      if (held) return held;
      // the credential is dead (or abandoned, and said so): the Secret holding it goes
      await releaseTarget(env, res, 'delete');
    } else {
      // Retain: the Secret stays, handed back (no owner reference: garbage collection keeps it)
      await releaseTarget(env, res, 'retain');
    }
    // the operator's own copy goes in both cases (garbage collection would, later)
    await deleteStateSecret(env.client, res.metadata.namespace, res.metadata.uid);
    const released = await removeFinalizer(env.client, path, res as unknown as KubeObject, FINALIZER);
    if (released) informer.upsert(released);
    kindDef.forget?.(res);
    retryNotBefore.delete(res.metadata.uid);
    liveness.forget(res.metadata.uid);
    env.metrics.forgetToken(kindDef.kind, res.metadata.namespace, res.metadata.name);
    return {};
  }

  /**
   * Revokes at the provider, or gives up when that cannot succeed, so deletion never hangs
   * (ARCHITECTURE rule 10): the skip-revoke annotation, suspend, a namespace being deleted, an
   * input Secret already gone, or failures for longer than spec.revokeTimeout. Giving up says
   * what may still be valid (Warning event RevokeAbandoned, metric). Returns a requeue while the
   * finalizer must stay (a failure within the timeout).
   */
  async function revokeOrAbandon(kindDef: TokenKind<R>, res: R, path: string, ctx: KindContext): Promise<ReconcileResult | undefined> {
    const abandon = (reason: AbandonReason, why: string): undefined => {
      const message = `revoke abandoned: ${why}. ${kindDef.stillValid(res)}`;
      env.events.record(res as unknown as KubeObject, 'Warning', 'RevokeAbandoned', message);
      env.metrics.revokeAbandoned.inc({ kind: kindDef.kind, reason });
      ctx.log.warn({ reason }, 'revoke abandoned; releasing the resource');
      return undefined;
    };
    if (res.metadata.annotations?.[SKIP_REVOKE_ANNOTATION] === 'true') return abandon('SkipRevoke', `the ${SKIP_REVOKE_ANNOTATION} annotation is set`);
    if (res.spec.suspend) return abandon('Suspended', 'spec.suspend is true, so the provider is not called');
    if (await namespaceTerminating(env, res.metadata.namespace)) return abandon('NamespaceTerminating', `namespace ${res.metadata.namespace} is being deleted`);
    try {
      await kindDef.revoke(res, ctx);
      // The provider has revoked; the finalizer is still on: a crash here must not strand deletion.
      crashPoint('finalize:after-revoke');
      env.events.record(res as unknown as KubeObject, 'Normal', 'Revoked', 'credential revoked at the provider');
      return undefined;
    } catch (e) {
      const f = classify(e);
      if (e instanceof InputError && (e.reason === 'SecretNotFound' || e.reason === 'SecretKeyMissing')) return abandon('InputGone', f.message);
      const timeoutMs = Math.max(parseDuration(FLOORS.revokeTimeout), parseDuration(res.spec.revokeTimeout ?? DEFAULT_REVOKE_TIMEOUT));
      const since = Date.parse(res.metadata.deletionTimestamp ?? '') || ctx.now.getTime();
      const left = since + timeoutMs - ctx.now.getTime();
      if (left <= 0) return abandon('RevokeTimeout', `revoking kept failing for ${res.spec.revokeTimeout ?? DEFAULT_REVOKE_TIMEOUT} (spec.revokeTimeout); last: ${f.message}`);
      // Keep the finalizer: deleting the resource must not orphan a live credential.
      const attempts = (ctx.status.failedAttempts ?? 0) + 1;
      ctx.status.failedAttempts = attempts;
      ctx.status.lastFailureTime = ctx.now.toISOString();
      const message = `${f.message} (retrying; the resource is released anyway ${Math.ceil(left / 1000)}s from now, spec.revokeTimeout)`;
      ctx.status.conditions = setCondition(ctx.status.conditions, { type: 'Ready', status: 'False', reason: 'RevokeFailed', message }, ctx.now, res.metadata.generation);
      env.events.record(res as unknown as KubeObject, 'Warning', 'RevokeFailed', f.message);
      // cached, so its watch echo is known as ours: the retry waits for the back-off, not for the echo
      const written = await writeStatus(env, path, res.status, ctx.status).catch(() => undefined);
      if (written) informer.upsert(written);
      const delay = Math.max(backoffDelay(attempts, f.transient), f.retryAfterMs ?? 0);
      return { requeueAfterMs: Math.max(1000, Math.min(delay, left + 1000)) };
    }
  }
}

type AbandonReason = 'SkipRevoke' | 'Suspended' | 'NamespaceTerminating' | 'InputGone' | 'RevokeTimeout';

/**
 * Is the namespace being deleted? Then revoking cannot be relied on (its Secrets go in any
 * order) and must not hold the namespace. Unknown (no permission to read namespaces, e.g. a
 * namespaced install) counts as no: the other bounds still apply.
 */
async function namespaceTerminating(env: OperatorEnv, namespace: string): Promise<boolean> {
  try {
    const ns = await env.client.find<KubeObject & { status?: { phase?: string } }>(`/api/v1/namespaces/${encodeURIComponent(namespace)}`);
    return !!ns && (ns.metadata?.deletionTimestamp !== undefined || ns.status?.phase === 'Terminating');
  } catch {
    return false;
  }
}

/** The target Secret is not this resource's to write: Stalled until a person acts; looked at again now and then. */
function refusedTarget(reason: string, message: string): KindOutcome {
  return {
    ready: { status: 'False', reason, message },
    conditions: [{ type: 'Stalled', status: 'True', reason, message }],
    events: [{ type: 'Warning', reason, message }],
    requeueAfterMs: TARGET_RECHECK_MS,
  };
}

function revokes(res: AnyResource): boolean {
  return (res.spec.deletionPolicy ?? 'Retain') === 'Revoke';
}

/**
 * While a failure's back-off runs, do nothing, unless the user changed the spec. (A pending
 * rotate request is not a reason to skip it: the failure may have been that very request.)
 */
function backoffGate(res: AnyResource, now: Date): number | undefined {
  const s = res.status;
  if (!s?.failedAttempts || !s.lastFailureTime) return undefined;
  if (s.observedGeneration !== res.metadata.generation) return undefined;
  const transient = getCondition(s.conditions, 'Stalled')?.status !== 'True';
  const until = Date.parse(s.lastFailureTime) + backoffDelay(s.failedAttempts, transient);
  const wait = until - now.getTime();
  return wait > 0 ? wait : undefined;
}

/** After every reconcile: restart the consuming workloads if the Secret got a new revision (rollout.ts). */
async function rollout(res: AnyResource, ctx: KindContext, outcome: KindOutcome, revisionBefore: number | undefined): Promise<KindOutcome> {
  const r = await rolloutAfterReconcile({
    client: ctx.env.client,
    events: ctx.env.events,
    settings: ctx.env.rollout ?? DEFAULT_ROLLOUT,
    log: ctx.log,
    now: ctx.now,
    resource: res as unknown as Parameters<typeof rolloutAfterReconcile>[0]['resource'],
    secretName: res.spec.target.secretName,
    listed: res.spec.target.rolloutRestart ?? [],
    revisionBefore,
    status: ctx.status,
    immediate: outcome.restartImmediately === true,
  });
  if (r.removeCondition && getCondition(ctx.status.conditions, 'RolloutRestarted')) ctx.status.conditions = removeCondition(ctx.status.conditions, 'RolloutRestarted');
  if (r.condition) ctx.status.conditions = setCondition(ctx.status.conditions, r.condition, ctx.now, res.metadata.generation);
  if (r.requeueAfterMs === undefined) return outcome;
  const requeueAfterMs = outcome.requeueAfterMs === undefined ? r.requeueAfterMs : Math.min(outcome.requeueAfterMs, r.requeueAfterMs);
  return { ...outcome, requeueAfterMs };
}

async function writeStatus(env: OperatorEnv, path: string, current: CommonStatus | undefined, next: CommonStatus): Promise<KubeObject | undefined> {
  try {
    return await patchStatus(env.client, path, current, next);
  } catch (e) {
    if (e instanceof KubeApiError && e.notFound) return undefined;
    throw e;
  }
}
