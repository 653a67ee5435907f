import { CONDITION, REASON, ROTATE_ANNOTATION } from '../../api/index.js';
import { getCondition, setCondition, type Condition } from '../../runtime/conditions.js';
import type { KubeObject } from '../../runtime/kube-client.js';
import { dataHmac, readSecretState, secretHmac } from './secret-state.js';
import { readStateSecret, type StoredCredential } from './state-secret.js';
import { checkTargetTemplate, targetContent, templateChanged } from './target-content.js';
import { writeTarget } from './target-secret.js';
import type { AnyResource, KindContext, KindOutcome } from './kind.js';

/**
 * Drift repair: someone edited or deleted the target Secret. The operator writes back what it
 * wrote, from its state Secret (state-secret.ts): never a new token because of drift.
 *
 * Bound: a repair run counts repairs until 10 minutes pass without one; the 6th drift of a
 * run is not repaired (another controller keeps changing the Secret, and fighting it would
 * loop forever). SecretDrift=True/DriftRepairSuspended then holds the resource — no repair,
 * no rotation, no provider call, Ready left as it is — until a person acts: the Secret holds
 * the operator's data again, the spec changes, or a new token-operator.io/rotate value.
 */
export const DRIFT_WINDOW_MS = 10 * 60_000;
export const MAX_DRIFT_REPAIRS = 5;
export const DRIFT_CONDITION = CONDITION.SecretDrift;
export const SUSPENDED_REASON = REASON.DriftRepairSuspended;

export interface DriftInput {
  /** status.secretHMAC: what the operator wrote */
  recordedHmac: string | undefined;
  /** HMAC of the cached target Secret's data; undefined when the Secret is missing */
  actualHmac: string | undefined;
  /** status.driftRepairs / lastDriftRepairTime: the current repair run */
  repairs: number;
  lastRepair: Date | undefined;
  condition: Pick<Condition, 'status' | 'reason' | 'observedGeneration'> | undefined;
  generation: number | undefined;
  rotateRequested: boolean;
  now: Date;
}

export type DriftDecision =
  /** nothing recorded to compare with, or the Secret holds what was written */
  | { action: 'None' }
  /** the Secret holds what was written again, while SecretDrift still says True */
  | { action: 'Resolved' }
  /** rewrite it; `repairs` counts this one */
  | { action: 'Repair'; missing: boolean; repairs: number }
  /** the bound is reached now: stop repairing */
  | { action: 'Suspend'; missing: boolean; repairs: number }
  /** suspended before, and nobody has acted since */
  | { action: 'Hold' };

export function planDrift(i: DriftInput): DriftDecision {
  if (!i.recordedHmac) return { action: 'None' };
  const flagged = i.condition?.status === 'True';
  if (i.actualHmac === i.recordedHmac) return flagged ? { action: 'Resolved' } : { action: 'None' };
  const missing = i.actualHmac === undefined;
  const suspended = flagged && i.condition?.reason === SUSPENDED_REASON;
  if (suspended && i.condition?.observedGeneration === i.generation && !i.rotateRequested) return { action: 'Hold' };
  // A person lifted a suspension (spec change, rotate request): a new run starts.
  const inRun = !suspended && i.lastRepair !== undefined && i.now.getTime() - i.lastRepair.getTime() < DRIFT_WINDOW_MS;
  const before = inRun ? i.repairs : 0;
  if (before >= MAX_DRIFT_REPAIRS) return { action: 'Suspend', missing, repairs: before };
  return { action: 'Repair', missing, repairs: before + 1 };
}

type Target = AnyResource;

/**
 * The drift step of a kind's reconcile, after adoption and pending writes, before its plan.
 * Returns an outcome when the resource must hold (suspended); otherwise undefined, with
 * ctx.secret updated if it repaired. When the state Secret is gone too (or describes another
 * revision), it does nothing and the kind's own fallback applies (e.g. a new credential, RecoveredByRotation).
 *
 * The target Secret as spec.target.template shapes it is part of what was written: the template
 * is checked first (TemplateInvalid before any provider call), a repair renders it again, and a
 * Secret rendered from another template than the spec's is rewritten once from the state
 * Secret, like a repair but without counting as drift (a template change is a spec change).
 */
export async function repairDrift(res: Target, ctx: KindContext): Promise<KindOutcome | undefined> {
  if (res.spec.suspend) return undefined; // "the Secret is left as it is"
  checkTargetTemplate(res);
  const { status, env } = ctx;
  const secretName = res.spec.target.secretName;
  const generation = res.metadata.generation;
  const rotateRequest = res.metadata.annotations?.[ROTATE_ANNOTATION];
  const d = planDrift({
    recordedHmac: status.secretHMAC,
    actualHmac: ctx.secret.exists ? secretHmac(env.hmacKey, ctx.secret) : undefined,
    repairs: status.driftRepairs ?? 0,
    lastRepair: status.lastDriftRepairTime ? new Date(status.lastDriftRepairTime) : undefined,
    condition: getCondition(status.conditions, DRIFT_CONDITION),
    generation,
    rotateRequested: rotateRequest !== undefined && rotateRequest !== status.lastHandledRotateRequest,
    now: ctx.now,
  });
  const condition = (s: 'True' | 'False', reason: string, message: string) => {
    status.conditions = setCondition(status.conditions, { type: DRIFT_CONDITION, status: s, reason, message }, ctx.now, generation);
  };
  switch (d.action) {
    case 'None':
      return reshape(res, ctx);
    case 'Resolved':
      condition('False', REASON.InSync, `Secret "${secretName}" holds what the operator wrote`);
      return reshape(res, ctx);
    case 'Hold':
      return hold(ctx);
    case 'Suspend': {
      const message =
        `Secret "${secretName}" was ${d.missing ? 'deleted' : 'changed'} again after ${d.repairs} repairs within ${DRIFT_WINDOW_MS / 60_000} minutes: ` +
        'another controller keeps changing it, so the operator stopped repairing it (and rotating it). Stop the other writer, then ' +
        'change the spec or set the token-operator.io/rotate annotation to a new value to resume.';
      condition('True', SUSPENDED_REASON, message);
      ctx.emit('Warning', SUSPENDED_REASON, message);
      ctx.log.warn({ secret: secretName, repairs: d.repairs }, 'drift repair suspended');
      return hold(ctx);
    }
    case 'Repair': {
      const stored = await readStateSecret(env.client, res.metadata.namespace, res.metadata.uid);
      if (!stored || stored.revision !== (status.revision ?? 0)) {
        ctx.log.warn({ secret: secretName, stored: stored?.revision, revision: status.revision }, 'target Secret drifted and no state Secret holds this revision; cannot repair it');
        return undefined;
      }
      const written = await rewrite(res, ctx, stored);
      status.driftRepairs = d.repairs;
      status.lastDriftRepairTime = ctx.now.toISOString();
      const message =
        `Secret "${secretName}" was ${d.missing ? 'deleted' : 'changed'} outside the operator; revision ${stored.revision} was written back from its state Secret, ` +
        `no new token (repair ${d.repairs} of at most ${MAX_DRIFT_REPAIRS} within ${DRIFT_WINDOW_MS / 60_000} minutes)`;
      condition('False', REASON.DriftRepaired, message);
      ctx.emit('Warning', REASON.DriftRepaired, message);
      ctx.log.info({ secret: secretName, revision: stored.revision, repairs: d.repairs, missing: d.missing }, 'repaired a drifted target Secret');
      ctx.secret = readSecretState(written, res.metadata.uid);
      return undefined;
    }
  }
}

/**
 * Writes the operator's keys back (target-secret.ts), rendered from the stored credential with
 * the spec as it is now (target-content.ts): keys someone else added stay, and only keys the
 * operator wrote count for drift (ownership.ts), so they do not look like drift again. Records
 * the HMAC of what the Secret now holds.
 */
async function rewrite(res: Target, ctx: KindContext, stored: StoredCredential): Promise<KubeObject> {
  const content = targetContent(res, stored.data, stored.annotations);
  const written = await writeTarget(ctx.env, res, content, ctx.target);
  ctx.target = { secret: written };
  ctx.status.secretHMAC = dataHmac(ctx.env.hmacKey, content.data);
  return written;
}

/**
 * spec.target.template changed (added, edited or removed) since the Secret was written: render
 * the stored credential with it, once. Free when it did not: the digest is on the cached Secret.
 */
async function reshape(res: Target, ctx: KindContext): Promise<undefined> {
  const { status, env } = ctx;
  const secretName = res.spec.target.secretName;
  if (!ctx.secret.exists || !ctx.secret.owned || !status.secretHMAC || !templateChanged(res, ctx.target.secret?.metadata?.annotations)) return undefined;
  const stored = await readStateSecret(env.client, res.metadata.namespace, res.metadata.uid);
  if (!stored || stored.revision !== (status.revision ?? 0)) {
    // the next credential is rendered with the new template
    ctx.log.warn({ secret: secretName, stored: stored?.revision, revision: status.revision }, 'spec.target.template changed and no state Secret holds this revision; the next credential gets the new shape');
    return undefined;
  }
  ctx.secret = readSecretState(await rewrite(res, ctx, stored), res.metadata.uid);
  const message = `Secret "${secretName}" was written again with the changed spec.target.template from its state Secret (revision ${stored.revision}, no new credential)`;
  ctx.emit('Normal', REASON.TemplateApplied, message);
  ctx.log.info({ secret: secretName, revision: stored.revision }, 'applied a changed target template');
  return undefined;
}

/** Suspended: leave the Secret, the provider and Ready as they are. */
function hold(ctx: KindContext): KindOutcome {
  const ready = getCondition(ctx.status.conditions, CONDITION.Ready);
  return { ready: ready ? { status: ready.status, reason: ready.reason, message: ready.message } : { status: 'Unknown', reason: SUSPENDED_REASON, message: '' } };
}
