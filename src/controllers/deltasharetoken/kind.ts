import { DELTA_SHARE_TOKEN, REASON, type DeltaShareToken } from '../../api/index.js';
import type { ShareTokenIssue } from '../../providers/contracts.js';
import { parseDuration } from '../../schedule/duration.js';
import { nextRotationTime } from '../../schedule/rotation.js';
import type { Plan, TokenKind } from '../shared/kind.js';
import { DEFAULT_MIN_OVERLAP_SECONDS, DEFAULT_OVERLAP, planDeltaShareToken } from './plan.js';

/**
 * DeltaShareToken: a Delta Sharing profile from a share-token provider (Zalando DDS), rotated
 * with an overlap in which the replaced token keeps working. Its plan (plan.ts) decides; this
 * says what the decisions mean to the skeleton and what status it keeps.
 */
export function deltaShareTokenKind(settings: { minOverlapSeconds?: number } = {}): TokenKind<DeltaShareToken, ShareTokenIssue> {
  const minOverlapSeconds = settings.minOverlapSeconds ?? DEFAULT_MIN_OVERLAP_SECONDS;
  return {
    kind: DELTA_SHARE_TOKEN.kind,
    plural: DELTA_SHARE_TOKEN.plural,

    plan(res, view, now): Plan<ShareTokenIssue> {
      const status = res.status ?? {};
      const p = planDeltaShareToken(res, view.secret, now, minOverlapSeconds);
      const valid = status.expirationTime !== undefined && Date.parse(status.expirationTime) > now.getTime();
      switch (p.action) {
        case 'OverlapTooShort':
          return { action: 'Refuse', reason: REASON.OverlapTooShort, message: p.message, transient: false };
        case 'Wait':
          return { action: 'Wait' };
        case 'Verify':
          return { action: 'Verify' };
        case 'WaitForCeiling': {
          const message = `rotation (${p.reason}) waits until the previous token expires at ${p.until.toISOString()}: DDS allows two live tokens (set onTokenCeiling: RevokeAllAndReissue to force it, with downtime)`;
          return { action: 'Hold', reason: REASON.WaitingForTokenCeiling, message, ready: valid && view.secret.exists, requeueAfterMs: Math.max(1000, p.until.getTime() - now.getTime() + 1000) };
        }
        case 'Issue':
        case 'RevokeAllAndReissue': {
          const params: ShareTokenIssue = {
            rotate: p.action === 'RevokeAllAndReissue' || p.rotate,
            revokeAllFirst: p.action === 'RevokeAllAndReissue',
            overlapSeconds: Math.round(parseDuration(res.spec.overlap ?? DEFAULT_OVERLAP) / 1000),
            // a link this resource downloaded is never downloaded again, even while DDS still lists it
            downloaded: status.tokenId ? [status.tokenId] : [],
          };
          // The one-time profile behind the old link cannot be downloaded again: say why we rotated.
          const recovery =
            p.reason === 'SecretLost'
              ? {
                  reason: REASON.RecoveredByRotation,
                  message: `the target Secret was missing and the activation link can be used only once, so a new token was issued (revision ${(status.revision ?? 0) + 1})`,
                }
              : undefined;
          return { action: 'Issue', reason: p.reason, params, ...(p.rotateRequest !== undefined ? { rotateRequest: p.rotateRequest } : {}), ...(recovery ? { recovery } : {}) };
        }
      }
    },

    record(_res, status, issued) {
      if (!issued.tokenId) status.tokenId = `revision-${(status.revision ?? 0) + 1}`;
      const until = issued.facts?.replacedUntil;
      if (until) status.rotatedTokenExpirationTime = until;
      else delete status.rotatedTokenExpirationTime;
    },

    mirror: { rotatedTokenExpirationTime: 'token-operator.io/replaced-until' },

    schedule(res, status, now) {
      const next = status.expirationTime
        ? nextRotationTime(res.spec.rotation, new Date(status.lastRotationTime ?? status.expirationTime), new Date(status.expirationTime), `${res.metadata.uid}/${status.revision ?? 0}`)
        : now;
      return {
        next,
        message: `credential valid until ${status.expirationTime}; next rotation ${next.toISOString()}`,
        requeueAfterMs: Math.max(1000, next.getTime() - now.getTime()),
      };
    },

    verifies: (res) => res.spec.verify !== false,
  };
}
