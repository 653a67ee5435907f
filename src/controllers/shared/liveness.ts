import { AsyncLocalStorage } from 'node:async_hooks';
import { FLOORS } from '../../api/index.js';
import { unknown, type Liveness } from '../../providers/liveness.js';
import { atLeast, parseDuration } from '../../schedule/duration.js';
import { unitHash } from '../../schedule/rotation.js';
import { classify } from './failures.js';
import { readStateSecret } from './state-secret.js';
import type { AnyResource, CommonStatus, KindContext, KindOutcome } from './token-reconciler.js';

/**
 * Liveness checks (spec.liveness, docs/liveness.md): between renewals, prove at the provider that
 * the credential in the target Secret still works, so a credential revoked out of band (every
 * DDS token PATCHed to 0 by another tool, a Keycloak session ended by an admin, a Privicore data
 * token deleted) is replaced before the workloads notice, not at the next rotation months later.
 *
 * Cost: one cheap provider read per resource per interval, and nothing else. A check that finds
 * the credential alive writes nothing (when it ran lives in memory only), so steady state stays
 * at zero API writes; a no-op resync between two checks makes no provider call.
 *
 * When: each resource has a phase of its own within the interval (a stable hash of its uid), and
 * is checked at the first phase point after the credential was last proven alive, i.e. after the
 * last check by this process, the last issue or renewal (a fresh credential is alive by
 * construction), or this process's start, whichever is latest. So a credential that dies is
 * found within one interval, 10,000 tokens created at once still spread their checks evenly over
 * the interval, and a restart causes no burst. A check is skipped when the scheduled renewal
 * comes before the phase point after it: the renewal proves more (or fails and says why), and
 * comes within two intervals; so a credential renewed more often than the interval (a 5-minute
 * access token) costs no checks at all.
 */

export const DEFAULT_LIVENESS_INTERVAL = '1h';

const inCheck = new AsyncLocalStorage<true>();
/** Whether the current call runs inside a liveness check: its provider calls are counted apart (operator.ts). */
export function duringLivenessCheck(): boolean {
  return inCheck.getStore() === true;
}
/** the Ready reason (and event) while a credential found dead is being replaced */
export const CREDENTIAL_REVOKED = 'CredentialRevoked';

export interface LivenessSettings {
  enabled?: boolean;
  interval?: string;
}

/** The interval in ms, or undefined when the checks are off. "0"/absent: the kind's default. */
export function livenessIntervalMs(spec: LivenessSettings | undefined, kindDefault = DEFAULT_LIVENESS_INTERVAL): number | undefined {
  if (spec?.enabled === false) return undefined;
  const text = spec?.interval;
  if (text === undefined || text === '0' || parseDuration(text) === 0) return parseDuration(kindDefault);
  return atLeast(text, FLOORS.livenessInterval);
}

/** The first point of the resource's own phase after `sinceMs`. */
export function nextCheckAt(uid: string, intervalMs: number, sinceMs: number): number {
  const phase = unitHash(`${uid}/liveness`) * intervalMs;
  return phase + (Math.floor((sinceMs - phase) / intervalMs) + 1) * intervalMs;
}

export type LivenessPlan = { action: 'Skip' } | { action: 'Wait'; atMs: number } | { action: 'Check' };

export interface LivenessInput {
  uid: string;
  /** undefined: the checks are off */
  intervalMs: number | undefined;
  /** when the credential was last known to work */
  lastProvenMs: number;
  nowMs: number;
  /** the reconcile left Ready=True: a failing or waiting resource is being dealt with already */
  ready: boolean;
  suspended: boolean;
  /** a check already found it dead: the re-issue is under way */
  revoked: boolean;
  /** status.expirationTime: an expired credential is due for renewal, which proves more */
  expiresAtMs?: number;
  /** status.nextRotationTime: a renewal due before the check (or the phase point after it) makes the check moot */
  nextRenewalMs?: number;
}

export function planLiveness(i: LivenessInput): LivenessPlan {
  if (i.intervalMs === undefined || i.suspended || !i.ready || i.revoked) return { action: 'Skip' };
  if (i.expiresAtMs !== undefined && i.expiresAtMs <= i.nowMs) return { action: 'Skip' };
  const at = nextCheckAt(i.uid, i.intervalMs, i.lastProvenMs);
  // a renewal before the phase point after the check: the check is moot (the renewal proves more,
  // or fails and says why, and a dead credential is still found within one interval of the check)
  if (i.nextRenewalMs !== undefined && i.nextRenewalMs <= nextCheckAt(i.uid, i.intervalMs, Math.max(at, i.nowMs))) return { action: 'Skip' };
  return at <= i.nowMs ? { action: 'Check' } : { action: 'Wait', atMs: at };
}

/** When each resource was last checked by this process (in memory: a check that passes writes nothing). */
export class LivenessTracker {
  private readonly checked = new Map<string, number>();

  constructor(private readonly startedAtMs: number) {}

  lastProven(uid: string, status: CommonStatus): number {
    const issued = status.lastRotationTime ? Date.parse(status.lastRotationTime) : Number.NaN;
    return Math.max(this.checked.get(uid) ?? this.startedAtMs, Number.isNaN(issued) ? 0 : issued);
  }

  record(uid: string, atMs: number): void {
    this.checked.set(uid, atMs);
  }

  forget(uid: string): void {
    this.checked.delete(uid);
  }
}

export interface LivenessKind<R> {
  kind: string;
  /** the kind's default interval, when spec.liveness.interval is "0" or absent */
  livenessDefault?: string;
  /** `data`: the credential's fields by their default key names (what the provider issued) */
  verify?(res: R, ctx: KindContext, data: Record<string, string>): Promise<Liveness>;
}

/**
 * The credential as issued, by its default key names: the target Secret's keys, unless
 * spec.target.template reshaped them; then the operator's state Secret copy of the same revision
 * (one GET, only for templated targets).
 */
async function issuedData(res: AnyResource, ctx: KindContext): Promise<Record<string, string>> {
  if (!(res.spec.target as { template?: unknown }).template) return ctx.secret.data;
  const stored = await readStateSecret(ctx.env.client, res.metadata.namespace, res.metadata.uid);
  return stored && stored.revision === (ctx.status.revision ?? 0) ? stored.data : {};
}

/**
 * The skeleton's liveness step, after a kind's reconcile: checks when due, and turns a dead
 * credential into Ready=False/CredentialRevoked with a Warning event and the metric, marking
 * status.credentialRevokedTime so that the next reconcile (at once) issues a new credential
 * through the kind's normal path (its plan reads the mark).
 */
export async function livenessStep<R extends AnyResource>(
  kind: LivenessKind<R>,
  tracker: LivenessTracker,
  res: R,
  ctx: KindContext,
  outcome: KindOutcome,
  revisionBefore: number | undefined,
): Promise<KindOutcome> {
  if (!kind.verify) return outcome;
  const uid = res.metadata.uid;
  const nowMs = ctx.now.getTime();
  const intervalMs = livenessIntervalMs((res.spec as { liveness?: LivenessSettings }).liveness, kind.livenessDefault);
  // a credential issued in this very reconcile is alive by construction
  if (ctx.status.revision !== revisionBefore) tracker.record(uid, nowMs);
  const expires = ctx.status.expirationTime ? Date.parse(ctx.status.expirationTime) : Number.NaN;
  const renewal = ctx.status.nextRotationTime ? Date.parse(ctx.status.nextRotationTime) : Number.NaN;
  const plan = planLiveness({
    uid,
    intervalMs,
    lastProvenMs: tracker.lastProven(uid, ctx.status),
    nowMs,
    ready: outcome.ready.status === 'True',
    suspended: res.spec.suspend === true,
    revoked: ctx.status.credentialRevokedTime !== undefined,
    ...(Number.isNaN(expires) ? {} : { expiresAtMs: expires }),
    ...(Number.isNaN(renewal) ? {} : { nextRenewalMs: renewal }),
  });
  if (plan.action === 'Skip') return outcome;
  if (plan.action === 'Wait') return requeueBy(outcome, plan.atMs - nowMs);

  // an input that cannot be read (a Secret gone) proves nothing about the credential: the renewal will say
  const verify = kind.verify.bind(kind);
  const result = await inCheck
    .run(true, async () => verify(res, ctx, await issuedData(res, ctx)))
    .catch((e: unknown) => unknown(classify(e).message));
  tracker.record(uid, nowMs);
  ctx.env.metrics.livenessChecks.inc({ kind: kind.kind, result: result.state });
  const next = requeueBy(outcome, nextCheckAt(uid, intervalMs!, nowMs) - nowMs);
  if (result.state === 'alive') {
    ctx.log.debug('liveness check: the credential works');
    return next;
  }
  if (result.state === 'unknown') {
    // proves nothing either way: the next check comes at the next phase point, as usual
    ctx.log.info({ said: result.said }, 'liveness check inconclusive');
    return next;
  }
  ctx.status.credentialRevokedTime = ctx.now.toISOString();
  ctx.env.metrics.credentialRevoked.inc({ kind: kind.kind });
  const message = `the provider no longer accepts the credential in Secret "${res.spec.target.secretName}": ${result.said}. A new one is being issued.`;
  ctx.log.warn({ said: result.said }, 'liveness check: the credential is dead at the provider; issuing a new one');
  return {
    ready: { status: 'False', reason: CREDENTIAL_REVOKED, message },
    conditions: [...(outcome.conditions ?? []).filter((c) => c.type !== 'Rotating'), { type: 'Rotating', status: 'True', reason: CREDENTIAL_REVOKED, message: '' }],
    events: [...(outcome.events ?? []), { type: 'Warning', reason: CREDENTIAL_REVOKED, message }],
    // the re-issue runs in the next reconcile, at once: its plan sees credentialRevokedTime
    requeueAfterMs: 0,
  };
}

function requeueBy(outcome: KindOutcome, ms: number): KindOutcome {
  const wait = Math.max(1000, ms);
  return { ...outcome, requeueAfterMs: outcome.requeueAfterMs === undefined ? wait : Math.min(outcome.requeueAfterMs, wait) };
}
