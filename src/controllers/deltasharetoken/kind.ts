import { DELTA_SHARE_TOKEN, REASON, type DeltaShareToken, type DeltaShareTokenStatus } from '../../api/index.js';
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
          const requeueAfterMs = Math.max(1000, p.until.getTime() - now.getTime() + 1000);
          if (p.reason === 'CredentialRevoked') {
            // the credential in the Secret is dead: not Ready while the new one waits
            const message =
              `the provider no longer accepts the credential in the Secret, and a new token waits until the previous one expires at ${p.until.toISOString()}: ` +
              'DDS allows two live tokens (set onTokenCeiling: RevokeAllAndReissue to issue at once)';
            return { action: 'Hold', reason: REASON.CredentialRevoked, rotating: REASON.WaitingForTokenCeiling, message, ready: false, requeueAfterMs };
          }
          const message = `rotation (${p.reason}) waits until the previous token expires at ${p.until.toISOString()}: DDS allows two live tokens (set onTokenCeiling: RevokeAllAndReissue to force it, with downtime)`;
          return { action: 'Hold', reason: REASON.WaitingForTokenCeiling, message, ready: valid && view.secret.exists, requeueAfterMs };
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
      replacedUntil(status, issued.facts?.replacedUntil);
    },

    // a dead credential: the token list the check read says whether a live previous token still
    // holds a new one back (PATCH 0 ended every token; status's own view is stale then)
    revokedFacts(status, facts) {
      if ('replacedUntil' in facts) replacedUntil(status, facts.replacedUntil);
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

/** Until when the token the last one replaced still works (the two-token ceiling); none: absent. */
function replacedUntil(status: DeltaShareTokenStatus, until: string | null | undefined): void {
  if (until) status.rotatedTokenExpirationTime = until;
  else delete status.rotatedTokenExpirationTime;
}
