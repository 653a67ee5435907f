import { ROTATE_ANNOTATION, type DeltaShareToken } from '../../api/index.js';
import { getCondition } from '../../runtime/conditions.js';
import { nextRotationTime } from '../../schedule/rotation.js';
import type { SecretState } from '../shared/secret-state.js';

export type IssueReason = 'FirstIssue' | 'SecretLost' | 'CredentialRevoked' | 'RotateRequested' | 'RotationDue';

export type DdsPlan =
  | { action: 'Suspended' }
  | { action: 'Issue'; reason: IssueReason; rotate: boolean; rotateRequest?: string }
  | { action: 'RevokeAllAndReissue'; reason: IssueReason; rotateRequest?: string }
  | { action: 'WaitForCeiling'; reason: IssueReason; until: Date }
  | { action: 'Verify'; nextRotation: Date }
  | { action: 'Wait'; nextRotation: Date };

/**
 * Every decision for a DeltaShareToken, from the resource, its Secret and the time alone.
 *
 * - No credential yet → Issue (first activation; the executor uses an unconsumed link or rotates).
 * - Credential issued but the Secret is gone → Issue with rotation: the one-time link was
 *   consumed, so the only way back is a new token (providers.md §1.5).
 * - A liveness check found the credential dead (status.credentialRevokedTime) → rotate; the
 *   status's view of the two-token ceiling is stale then (PATCH 0 ends every token), so the
 *   executor decides it from the token list.
 * - Rotate-now annotation with a new value, or the rotation time reached → rotate.
 * - A rotation while the previous (ROTATED) token is still valid hits the two-token ceiling:
 *   wait for it to expire, or, only when the user opted in, PATCH 0 and reissue.
 * - Otherwise wait for the next rotation time.
 */
export function planDeltaShareToken(res: DeltaShareToken, secret: SecretState, now: Date): DdsPlan {
  const { spec } = res;
  const status = res.status ?? {};
  if (spec.suspend) return { action: 'Suspended' };

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
    const ready = getCondition(status.conditions, 'Ready');
    if (spec.verify !== false && ready?.reason === 'VerificationFailed') return { action: 'Verify', nextRotation: next };
    return { action: 'Wait', nextRotation: next };
  }

  // First issue with nothing known: the executor picks an unconsumed link if the account has one.
  const rotate = reason !== 'FirstIssue';
  if (reason === 'CredentialRevoked') return { action: 'Issue', reason, rotate, ...(requested ? { rotateRequest } : {}) };
  const rotatedUntil = status.rotatedTokenExpirationTime ? new Date(status.rotatedTokenExpirationTime) : undefined;
  if (rotate && rotatedUntil && rotatedUntil > now) {
    if (spec.onTokenCeiling === 'RevokeAllAndReissue') return { action: 'RevokeAllAndReissue', reason, ...(requested ? { rotateRequest } : {}) };
    return { action: 'WaitForCeiling', reason, until: rotatedUntil };
  }
  return { action: 'Issue', reason, rotate, ...(requested ? { rotateRequest } : {}) };
}
