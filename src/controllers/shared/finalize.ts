import { CONDITION, DEFAULT_REVOKE_TIMEOUT, FINALIZER, FLOORS, REASON, SKIP_REVOKE_ANNOTATION } from '../../api/index.js';
import { setCondition } from '../../runtime/conditions.js';
import type { ReconcileResult } from '../../runtime/controller.js';
import { crashPoint } from '../../runtime/crash-points.js';
import { removeFinalizer } from '../../runtime/finalizers.js';
import type { KubeObject } from '../../runtime/kube-client.js';
import { patchStatusIfPresent } from '../../runtime/status-writer.js';
import { parseDuration } from '../../schedule/duration.js';
import { nextAttemptDelay } from '../../schedule/retry.js';
import type { Bound, CredentialProtocol } from './credential.js';
import { classify } from './failures.js';
import { InputError } from './inputs.js';
import type { AnyResource, KindContext, OperatorEnv, TokenKind } from './kind.js';
import { deleteStateSecret } from './state-secret.js';
import { releaseTarget } from './target-secret.js';

/** What deleting a resource needs from its kind's skeleton. */
export interface Finalizing<R extends AnyResource> {
  kind: TokenKind<R>;
  env: OperatorEnv;
  protocol: CredentialProtocol<R>;
  /** the provider the spec selects (throws when none) */
  bind(res: R): Bound;
  /** drops what is held in memory for the resource */
  forget(res: R): void;
}

/**
 * A resource being deleted: revoke (deletionPolicy Revoke) or hand the Secret back (Retain), drop
 * the state Secret, then release the finalizer. Never on an error path: the finalizer stays until
 * the revoke succeeded or was abandoned (and said so).
 */
export async function finalize<R extends AnyResource>(f: Finalizing<R>, res: R, path: string, ctx: KindContext): Promise<ReconcileResult> {
  const { env } = f;
  if (!res.metadata.finalizers?.includes(FINALIZER)) return {};
  if (revokes(res)) {
    const held = await revokeOrAbandon(f, res, path, ctx);
    if (held) return held;
    // the credential is dead (or abandoned, and said so): the Secret holding it goes
    await releaseTarget(env, res, 'delete');
  } else {
    // Retain: the Secret stays, handed back (no owner reference: garbage collection keeps it)
    await releaseTarget(env, res, 'retain');
  }
  // the operator's own copy goes in both cases (garbage collection would, later)
  await deleteStateSecret(env.client, res.metadata.namespace, res.metadata.uid);
  await removeFinalizer(env.client, path, res as unknown as KubeObject, FINALIZER);
  f.forget(res);
  return {};
}

/**
 * Revokes at the provider, or gives up when that cannot succeed, so deletion never hangs
 * (ARCHITECTURE rule 10): the skip-revoke annotation, suspend, a namespace being deleted, an
 * input Secret already gone, or failures for longer than spec.revokeTimeout. Giving up says
 * what may still be valid (Warning event RevokeAbandoned, metric). Returns a requeue while the
 * finalizer must stay (a failure within the timeout).
 */
async function revokeOrAbandon<R extends AnyResource>(f: Finalizing<R>, res: R, path: string, ctx: KindContext): Promise<ReconcileResult | undefined> {
  const { env, protocol, kind } = f;
  let b: Bound;
  try {
    b = f.bind(res);
  } catch {
    ctx.log.info('no provider block: nothing to revoke');
    return undefined;
  }
  const abandon = (reason: AbandonReason, why: string): undefined => {
    const message = `revoke abandoned: ${why}. ${protocol.stillValid(res, b)}`;
    env.events.record(res as unknown as KubeObject, 'Warning', REASON.RevokeAbandoned, message);
    env.metrics.revokeAbandoned.inc({ kind: kind.kind, reason });
    ctx.log.warn({ reason }, 'revoke abandoned; releasing the resource');
    return undefined;
  };
  if (res.metadata.annotations?.[SKIP_REVOKE_ANNOTATION] === 'true') return abandon('SkipRevoke', `the ${SKIP_REVOKE_ANNOTATION} annotation is set`);
  if (res.spec.suspend) return abandon('Suspended', 'spec.suspend is true, so the provider is not called');
  if (await namespaceTerminating(env, res.metadata.namespace)) return abandon('NamespaceTerminating', `namespace ${res.metadata.namespace} is being deleted`);
  try {
    await protocol.revoke(res, ctx, b);
    // The provider has revoked; the finalizer is still on: a crash here must not strand deletion.
    crashPoint('finalize:after-revoke');
    env.events.record(res as unknown as KubeObject, 'Normal', REASON.Revoked, 'credential revoked at the provider');
    return undefined;
  } catch (e) {
    const failure = classify(e);
    if (e instanceof InputError && (e.reason === 'SecretNotFound' || e.reason === 'SecretKeyMissing')) return abandon('InputGone', failure.message);
    const timeoutMs = Math.max(parseDuration(FLOORS.revokeTimeout), parseDuration(res.spec.revokeTimeout ?? DEFAULT_REVOKE_TIMEOUT));
    const since = Date.parse(res.metadata.deletionTimestamp ?? '') || ctx.now.getTime();
    const left = since + timeoutMs - ctx.now.getTime();
    if (left <= 0) return abandon('RevokeTimeout', `revoking kept failing for ${res.spec.revokeTimeout ?? DEFAULT_REVOKE_TIMEOUT} (spec.revokeTimeout); last: ${failure.message}`);
    // Keep the finalizer: deleting the resource must not orphan a live credential.
    const attempts = (ctx.status.failedAttempts ?? 0) + 1;
    ctx.status.failedAttempts = attempts;
    ctx.status.lastFailureTime = ctx.now.toISOString();
    const message = `${failure.message} (retrying; the resource is released anyway ${Math.ceil(left / 1000)}s from now, spec.revokeTimeout)`;
    ctx.status.conditions = setCondition(ctx.status.conditions, { type: CONDITION.Ready, status: 'False', reason: REASON.RevokeFailed, message }, ctx.now, res.metadata.generation);
    env.events.record(res as unknown as KubeObject, 'Warning', REASON.RevokeFailed, failure.message);
    // written through to the cache, so its watch echo is known as ours: the retry waits for the back-off, not for the echo
    await patchStatusIfPresent(env.client, path, res.status, ctx.status).catch(() => undefined);
    return { requeueAfterMs: Math.max(1000, Math.min(nextAttemptDelay(attempts, failure.transient, failure.retryAfterMs), left + 1000)) };
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


function revokes(res: AnyResource): boolean {
  return (res.spec.deletionPolicy ?? 'Retain') === 'Revoke';
}

