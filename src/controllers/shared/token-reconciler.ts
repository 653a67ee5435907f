import type { Logger } from 'pino';
import { CONDITION, FINALIZER, GROUP_VERSION, REASON } from '../../api/index.js';
import type { AnyCredentialProvider } from '../../providers/registry.js';
import { sanitize } from '../../providers/errors.js';
import { getCondition, removeCondition, setCondition } from '../../runtime/conditions.js';
import type { ReconcileFn, ReconcileResult } from '../../runtime/controller.js';
import { addFinalizer } from '../../runtime/finalizers.js';
import { splitKey, type ObjectCache } from '../../runtime/informer.js';
import { KubeApiError, resourcePath, type KubeObject } from '../../runtime/kube-client.js';
import { patchStatus, patchStatusIfPresent } from '../../runtime/status-writer.js';
import { RetryAfterHolds, backoffWait, nextAttemptDelay } from '../../schedule/retry.js';
import { adoptFromSecret } from './adopt.js';
import { CredentialProtocol, type Bound } from './credential.js';
import { repairDrift } from './drift.js';
import { adviceFor, classify, ReconcileError } from './failures.js';
import { finalize } from './finalize.js';
import { InputError, SecretReader, readInputs } from './inputs.js';
import type { AnyResource, KindContext, KindOutcome, OperatorEnv, Plan, PlanView, TokenKind } from './kind.js';
import { DEFAULT_ROLLOUT, rolloutAfterReconcile } from './rollout.js';
import { dataHmac, readSecretState } from './secret-state.js';
import { judge, observeTarget } from './target-secret.js';
import { credentialFields } from './target-content.js';
import { LivenessTracker, livenessStep } from './liveness.js';

/** Requeue for a refused target Secret: it is the user's, unwatched, so look again now and then. */
const TARGET_RECHECK_MS = 60_000;

/**
 * The story every kind shares, in one order (ARCHITECTURE "a reconciler is a short story"):
 * load → finalizer → back-off gate → may it write its Secret → adopt what a crash left → a
 * credential in hand goes first → drift → suspend → the kind's plan → act → status → rollout.
 * A kind brings its plan and its provider calls (kind.ts); nothing here names a kind or a vendor.
 */
export function tokenReconciler<R extends AnyResource>(
  kind: TokenKind<R>,
  providers: Record<string, AnyCredentialProvider>,
  informer: ObjectCache<KubeObject>,
  env: OperatorEnv,
): ReconcileFn {
  const typed = { ...GROUP_VERSION, plural: kind.plural };
  env.metrics.registerKind(kind.kind);
  const protocol = new CredentialProtocol(kind);
  const holds = new RetryAfterHolds();
  // when each credential was last proven alive by this process (a passing check writes nothing)
  const liveness = new LivenessTracker(env.clock.now().getTime());
  const forget = (res: R) => {
    protocol.forget(res.metadata.uid);
    holds.forget(res.metadata.uid);
    liveness.forget(res.metadata.uid);
    env.metrics.forgetToken(kind.kind, res.metadata.namespace, res.metadata.name);
  };
  // Without a finalizer (Retain) the resource vanishes without a last reconcile: drop what is held for it here.
  informer.on((event, obj) => {
    if (event === 'delete') forget(obj as unknown as R);
  });

  /** The provider the spec's one provider block selects (admission allows exactly one). */
  function bind(res: R): Bound {
    const spec = res.spec as unknown as Record<string, unknown>;
    const set = Object.keys(providers).filter((f) => spec[f] !== undefined);
    if (set.length !== 1) throw new InputError('InvalidSpec', `spec: set exactly one provider block: ${Object.keys(providers).join(', ')}`);
    const field = set[0]!;
    return { field, block: spec[field], provider: providers[field]! };
  }

  return async (key: string, log: Logger): Promise<ReconcileResult> => {
    const { namespace, name } = splitKey(key);
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
        if (reason === REASON.Issued || reason === REASON.Rotated) env.metrics.rotations.inc({ kind: kind.kind, result: reason.toLowerCase() });
      },
      writeStatusNow: async () => {
        // the client writes the answer through to the cache: its watch echo is known as ours
        const written = await patchStatus(env.client, path, res.status, ctx.status);
        if (written) res.status = structuredClone(written.status) as R['status'];
      },
    };

    if (res.metadata.deletionTimestamp) return finalize({ kind, env, protocol, bind, forget }, res, path, ctx);

    // Every resource has work on delete: revoking (Revoke), and handing its target Secret back —
    // the owner reference off before garbage collection would delete the Secret (Retain), the
    // claim off a Secret it merged into or created as an orphan.
    if (!res.metadata.finalizers?.includes(FINALIZER)) await addFinalizer(env.client, path, res as unknown as KubeObject, FINALIZER);

    const generation = res.metadata.generation;
    const revisionBefore = res.status?.revision;
    const transient = getCondition(res.status?.conditions, CONDITION.Stalled)?.status !== 'True';
    const gate = Math.max(holds.wait(res.metadata.uid, generation, now.getTime()) ?? 0, backoffWait(res.status, generation, transient, now) ?? 0);
    if (gate > 0) {
      log.debug({ waitMs: gate }, 'backing off');
      return { requeueAfterMs: gate };
    }

    let outcome: KindOutcome;
    let bound: Bound | undefined;
    try {
      // Before any provider call: a credential that could not be written must not be minted.
      const target = judge(env, res, secretObj);
      if (target.action === 'Refuse') {
        outcome = refusedTarget(target.reason, target.message);
      } else {
        bound = bind(res);
        outcome = await protocolSteps(res, ctx, bound);
        // a new credential is in the Secret: whatever a liveness check found dead was replaced
        if (ctx.status.revision !== revisionBefore) delete ctx.status.credentialRevokedTime;
        const check = protocol.livenessCheck(res, ctx, bound);
        if (check) outcome = await livenessStep(kind, check, liveness, res, ctx, outcome, revisionBefore);
      }
      delete ctx.status.failedAttempts;
      delete ctx.status.lastFailureTime;
      ctx.status.conditions = setCondition(ctx.status.conditions, { type: CONDITION.Ready, ...outcome.ready }, now, generation);
      ctx.status.conditions = setCondition(ctx.status.conditions, { type: CONDITION.Stalled, status: 'False', reason: outcome.ready.reason, message: '' }, now, generation);
      for (const c of outcome.conditions ?? []) ctx.status.conditions = setCondition(ctx.status.conditions, c, now, generation);
      for (const ev of outcome.events ?? []) ctx.emit(ev.type, ev.reason, ev.message);
    } catch (e) {
      if (e instanceof KubeApiError && e.conflict) throw e; // stale cache: the queue retries with fresh state
      const f = classify(e, bound && adviceFor(bound.provider, bound.block, bound.field));
      const attempts = (ctx.status.failedAttempts ?? 0) + 1;
      ctx.status.failedAttempts = attempts;
      ctx.status.lastFailureTime = now.toISOString();
      ctx.status.conditions = setCondition(ctx.status.conditions, { type: CONDITION.Ready, status: 'False', reason: f.reason, message: f.message }, now, generation);
      ctx.status.conditions = setCondition(
        ctx.status.conditions,
        { type: CONDITION.Stalled, status: f.transient ? 'False' : 'True', reason: f.reason, message: f.transient ? '' : f.message },
        now,
        generation,
      );
      env.events.record(res as unknown as KubeObject, 'Warning', f.reason, f.message);
      env.metrics.rotations.inc({ kind: kind.kind, result: 'failed' });
      log.warn({ reason: f.reason, detail: f.message, attempts }, 'reconcile failed');
      // status only says "see operator logs" for these: give the logs the (sanitized) cause
      if (f.reason === REASON.InternalError) log.error({ err: e instanceof Error ? `${e.name}: ${sanitize(e.message)}` : 'non-error thrown' }, 'unexpected reconcile error');
      if (f.retryAfterMs) holds.hold(res.metadata.uid, now.getTime() + f.retryAfterMs, generation);
      // A failure after the Secret write (e.g. verification) still leaves a new credential in
      // the Secret; the back-off gate would hold a debounced restart back, so restart at once.
      outcome = { ready: { status: 'False', reason: f.reason, message: f.message }, requeueAfterMs: nextAttemptDelay(attempts, f.transient, f.retryAfterMs), restartImmediately: true };
    }
    outcome = await rollout(res, ctx, outcome, revisionBefore);
    ctx.status.observedGeneration = generation;
    await patchStatusIfPresent(env.client, path, res.status, ctx.status);
    env.metrics.observeToken(kind.kind, namespace, name, {
      ...(ctx.status.expirationTime ? { expiration: ctx.status.expirationTime } : {}),
      ...(ctx.status.nextRotationTime ? { nextRotation: ctx.status.nextRotationTime } : {}),
      ...(ctx.status.lastRotationTime ? { issued: ctx.status.lastRotationTime } : {}),
      ready: getCondition(ctx.status.conditions, CONDITION.Ready)?.status ?? 'Unknown',
      stalled: getCondition(ctx.status.conditions, CONDITION.Stalled)?.status === 'True',
      suspended: res.spec.suspend === true,
    });
    return outcome.requeueAfterMs !== undefined ? { requeueAfterMs: outcome.requeueAfterMs } : {};
  };

  /** Adopt → a credential in hand → drift → suspend → plan → act. */
  async function protocolSteps(res: R, ctx: KindContext, b: Bound): Promise<KindOutcome> {
    adopt(res, ctx, b);
    // A credential the provider handed out but that did not reach the Secret yet goes first,
    // before any plan, suspended or not: it may be the only live one.
    const waiting = protocol.writeUnwritten(res, ctx, b);
    if (waiting) return waiting;
    // An edited or deleted Secret is written back from the state Secret: never a new credential
    // because of drift (a rotation without overlap would kill the token every consumer holds).
    const held = await repairDrift(res, ctx);
    if (held) return held;
    if (res.spec.suspend) return suspended(ctx);

    const view: PlanView = { secret: ctx.secret, provider: b.field, traits: b.provider.traits };
    if (kind.planInputs) {
      const reader = new SecretReader(ctx.env.client, res.metadata.namespace, ctx.env.maxInputSecretBytes);
      view.inputs = await readInputs(reader, kind.planInputs.refs(res), '');
      view.inputHmac = kind.planInputs.hmac(res, view.inputs, (d) => dataHmac(ctx.env.hmacKey, d));
    }
    const plan = kind.plan({ ...res, status: ctx.status } as R, view, ctx.now);
    ctx.log.debug({ action: plan.action, ...('reason' in plan ? { reason: plan.reason } : {}) }, 'planned');
    switch (plan.action) {
      case 'Wait':
        return protocol.ready(res, ctx, b);
      case 'Issue': {
        const issued = await protocol.issue(res, ctx, b, plan);
        if (issued.ready.status !== 'True') return issued;
        // What the new credential replaced is cleaned up at once, not at the next look: plan again.
        const next = kind.plan({ ...res, status: ctx.status } as R, { ...view, secret: ctx.secret }, ctx.now);
        if (next.action !== 'RevokeReplaced') return issued;
        const cleaned = await revokeReplaced(res, ctx, b, next);
        return { ...issued, events: [...(issued.events ?? []), ...(cleaned.events ?? [])], requeueAfterMs: cleaned.requeueAfterMs ?? issued.requeueAfterMs };
      }
      case 'Restore':
        return protocol.restore(res, ctx, b, plan);
      case 'Verify':
        // the credential's own fields: a templated target's keys are the template's
        await protocol.verify(res, ctx, b, (await credentialFields(ctx.env.client, res.metadata.namespace, res.metadata.uid, ctx.secret)) ?? {});
        return protocol.ready(res, ctx, b, REASON.Issued);
      case 'RevokeReplaced':
        return revokeReplaced(res, ctx, b, plan);
      case 'AwaitNewSeed':
        return protocol.awaitNewSeed(res, ctx, b, plan.refusal);
      case 'Hold':
        return {
          ready: { status: plan.ready ? 'True' : 'False', reason: plan.reason, message: plan.message },
          conditions: [{ type: CONDITION.Rotating, status: 'True', reason: plan.rotating ?? plan.reason, message: plan.message }],
          requeueAfterMs: plan.requeueAfterMs,
        };
      case 'Refuse':
        throw new ReconcileError(plan.reason, plan.message, plan.transient);
    }
  }

  /** Revokes what this resource replaced; on success the plan's `done` status applies. */
  async function revokeReplaced(res: R, ctx: KindContext, b: Bound, plan: Extract<Plan, { action: 'RevokeReplaced' }>): Promise<KindOutcome> {
    await protocol.revokeReplaced(res, ctx, b, plan.params);
    for (const [k, v] of Object.entries(plan.done)) {
      if (v === undefined) delete ctx.status[k];
      else ctx.status[k] = v;
    }
    return { ...protocol.ready(res, ctx, b), events: [{ type: 'Normal', reason: REASON.ReplacedTokenDeleted, message: plan.message }] };
  }

  /** The Secret is written before the status: after a crash in between, take the facts from the Secret. */
  function adopt(res: R, ctx: KindContext, b: Bound): void {
    const annotations = ctx.target.secret?.metadata?.annotations ?? {};
    const before = adoptFromSecret(ctx.status, ctx.secret, annotations, kind.mirror, ctx.env.hmacKey);
    if (!before) return;
    kind.adopted?.(res, ctx.status as R['status'] & typeof ctx.status, before, b.field);
    ctx.log.info({ revision: ctx.status.revision }, 'adopted a Secret written before the status (crash or failed status write)');
  }
}

/**
 * Suspended: no provider call; the Secret is left as it is. Ready stays True while the credential
 * written last is there and has not expired.
 */
function suspended(ctx: KindContext): KindOutcome {
  const exp = ctx.status.expirationTime;
  const valid = !!ctx.status.revision && ctx.secret.exists && (exp === undefined || Date.parse(exp) > ctx.now.getTime());
  return { ready: { status: valid ? 'True' : 'False', reason: REASON.Suspended, message: 'spec.suspend is true: no provider calls; the Secret is left as it is' } };
}

/** The target Secret is not this resource's to write: Stalled until a person acts; looked at again now and then. */
function refusedTarget(reason: string, message: string): KindOutcome {
  return {
    ready: { status: 'False', reason, message },
    conditions: [{ type: CONDITION.Stalled, status: 'True', reason, message }],
    events: [{ type: 'Warning', reason, message }],
    requeueAfterMs: TARGET_RECHECK_MS,
  };
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
  if (r.removeCondition && getCondition(ctx.status.conditions, CONDITION.RolloutRestarted)) ctx.status.conditions = removeCondition(ctx.status.conditions, CONDITION.RolloutRestarted);
  if (r.condition) ctx.status.conditions = setCondition(ctx.status.conditions, r.condition, ctx.now, res.metadata.generation);
  if (r.requeueAfterMs === undefined) return outcome;
  const requeueAfterMs = outcome.requeueAfterMs === undefined ? r.requeueAfterMs : Math.min(outcome.requeueAfterMs, r.requeueAfterMs);
  return { ...outcome, requeueAfterMs };
}
