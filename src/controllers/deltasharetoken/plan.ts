import { CONDITION, REASON, ROTATE_ANNOTATION, type DeltaShareToken } from '../../api/index.js';
import { getCondition } from '../../runtime/conditions.js';
import { parseDuration } from '../../schedule/duration.js';
import { nextRotationTime } from '../../schedule/rotation.js';
import type { SecretState } from '../shared/secret-state.js';

export type IssueReason = 'FirstIssue' | 'SecretLost' | 'CredentialRevoked' | 'RotateRequested' | 'RotationDue';

export const DEFAULT_OVERLAP = '1h';
/** The operator's floor for spec.overlap (config minOverlapSeconds); the CRD itself refuses < 2m. */
export const DEFAULT_MIN_OVERLAP_SECONDS = 120;

export type DdsPlan =
  | { action: 'OverlapTooShort'; message: string }
  | { action: 'Issue'; reason: IssueReason; rotate: boolean; rotateRequest?: string }
  | { action: 'RevokeAllAndReissue'; reason: IssueReason; rotateRequest?: string }
  | { action: 'WaitForCeiling'; reason: IssueReason; until: Date }
  | { action: 'Verify'; nextRotation: Date }
  | { action: 'Wait'; nextRotation: Date };

/**
 * Every decision for a DeltaShareToken, from the resource, its Secret and the time alone.
 *
 * - An overlap shorter than the operator's floor → OverlapTooShort, before any provider call:
 *   too short an overlap kills the previous token before consumers can have the new one.
 * - No credential yet → Issue (first activation; the executor uses an unconsumed link or rotates).
 * - Credential issued but the Secret is gone → Issue with rotation: the one-time link was
 *   consumed, so the only way back is a new token (docs/providers.md "Databricks activation").
 * - A liveness check found the credential dead (status.credentialRevokedTime) → rotate. The
 *   check read the token list then (PATCH 0 ends every token), so status's view of the
 *   two-token ceiling is fresh: a live previous token still holds the new one back.
 * - Rotate-now annotation with a new value, or the rotation time reached → rotate.
 * - A rotation while the previous (ROTATED) token is still valid hits the two-token ceiling:
 *   wait for it to expire, or, only when the user opted in, PATCH 0 and reissue.
 * - Otherwise wait for the next rotation time.
 */
export function planDeltaShareToken(res: DeltaShareToken, secret: SecretState, now: Date, minOverlapSeconds = DEFAULT_MIN_OVERLAP_SECONDS): DdsPlan {
  const { spec } = res;
  const status = res.status ?? {};
  const overlap = spec.overlap ?? DEFAULT_OVERLAP;
  if (parseDuration(overlap) < minOverlapSeconds * 1000) {
    return {
      action: 'OverlapTooShort',
      message:
        `spec.overlap ${overlap}${spec.overlap ? '' : ' (the default)'} is shorter than the minimum of ${minOverlapSeconds}s this operator accepts: ` +
        'pods see a new Secret only after the kubelet syncs it (about a minute plus its cache TTL), and restarted workloads need time to roll; raise spec.overlap',
    };
  }

  const rotateRequest = res.metadata.annotations?.[ROTATE_ANNOTATION];
  const requested = rotateRequest !== undefined && rotateRequest !== status.lastHandledRotateRequest;

  let reason: IssueReason | undefined;
  if (!status.tokenId || !status.expirationTime) reason = secret.exists && secret.owned ? 'SecretLost' : 'FirstIssue';
  else if (!secret.exists) reason = 'SecretLost';
  else if (status.credentialRevokedTime) reason = 'CredentialRevoked';
  else if (requested) reason = 'RotateRequested';

  const next = status.expirationTime
    ? nextRotationTime(
        spec.rotation,
        new Date(status.lastRotationTime ?? status.expirationTime),
        new Date(status.expirationTime),
        `${res.metadata.uid}/${status.revision ?? 0}`,
      )
    : now;
  if (!reason && next <= now) reason = 'RotationDue';

  if (!reason) {
    const ready = getCondition(status.conditions, CONDITION.Ready);
    if (spec.verify !== false && ready?.reason === REASON.VerificationFailed) return { action: 'Verify', nextRotation: next };
    return { action: 'Wait', nextRotation: next };
  }

  // First issue with nothing known: the executor picks an unconsumed link if the account has one.
  const rotate = reason !== 'FirstIssue';
  const rotatedUntil = status.rotatedTokenExpirationTime ? new Date(status.rotatedTokenExpirationTime) : undefined;
  if (rotate && rotatedUntil && rotatedUntil > now) {
    if (spec.onTokenCeiling === 'RevokeAllAndReissue') return { action: 'RevokeAllAndReissue', reason, ...(requested ? { rotateRequest } : {}) };
    return { action: 'WaitForCeiling', reason, until: rotatedUntil };
  }
  return { action: 'Issue', reason, rotate, ...(requested ? { rotateRequest } : {}) };
}
