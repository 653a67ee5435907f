import { ROTATE_ANNOTATION, type AccessToken, type AccessTokenStatus } from '../../api/index.js';
import { nextRotationTime } from '../../schedule/rotation.js';
import type { SecretState } from '../shared/secret-state.js';

export type RefreshReason =
  | 'FirstIssue' //        nothing issued yet: take the seed and renew it at once (this validates it)
  | 'Recover' //           a call was sent but its result never stored (crash, lost reply): try the same credential once
  | 'GrantTypeChanged' //  the spec switched to another provider block
  | 'SecretLost' //        the target Secret is gone
  | 'CredentialRevoked' // a liveness check found the credential dead at the provider (status.credentialRevokedTime)
  | 'RotateRequested' //   a new token-operator.io/rotate value
  | 'SpecChanged' //       the credential was refused, and the spec changed since: try again
  | 'RotationDue' //       the access token's rotation time has come
  | 'KeepAlive' //         no rotation due, but an offline token must be used now and then
  | 'NewSeed'; //          (skeleton) refused before, and a person has since pasted a new seed

export type AccessTokenPlan =
  /** the credential was refused for good: no provider call until the seed, the spec or a rotate request changes */
  | { action: 'AwaitNewSeed'; refusal: string }
  | { action: 'Refresh'; reason: RefreshReason; recovering: boolean; rotateRequest?: string }
  | { action: 'Wait'; nextRotation: Date };

/**
 * When to renew next, from status alone: the rotation policy applied to the access token's
 * lifetime; no later than the same policy applied to the refresh token's own lifetime when
 * the provider said one (an online session's idle timeout can be the shorter one), and no
 * later than `keepAliveMs` after the last renewal when the provider needs that (an offline
 * session lapses unused). `keepAlive` says the cap decided.
 */
export function nextRenewal(res: AccessToken, status: AccessTokenStatus, keepAliveMs?: number): { at: Date; keepAlive: boolean } | undefined {
  if (!status.expirationTime) return undefined;
  const expires = new Date(status.expirationTime);
  const issued = new Date(status.lastRotationTime ?? status.expirationTime);
  const seed = `${res.metadata.uid}/${status.revision ?? 0}`;
  let at = nextRotationTime(res.spec.rotation, issued, expires, seed);
  if (status.refreshTokenExpirationTime) {
    const refreshDue = nextRotationTime(res.spec.rotation, issued, new Date(status.refreshTokenExpirationTime), seed);
    if (refreshDue < at) at = refreshDue;
  }
  if (keepAliveMs === undefined) return { at, keepAlive: false };
  const keepAlive = new Date(issued.getTime() + keepAliveMs);
  return keepAlive < at ? { at: keepAlive, keepAlive: true } : { at, keepAlive: false };
}

/**
 * Every decision for an AccessToken, from the resource, its Secret and the time alone
 * (cert-manager style: small named checks, first match wins).
 *
 * - A refusal is recorded (credentialRefused) → AwaitNewSeed, unless the spec changed or a
 *   new rotate request asks to retry. The skeleton polls the seed Secret for a new value.
 * - pendingRefreshSince is set (a call was sent, its answer never reached the Secret; the
 *   skeleton has already adopted a Secret written before a crash, which clears it)
 *   → Refresh, recovering: present the same credential once more.
 * - Nothing issued, another provider block, Secret gone, found dead by a liveness check, rotate
 *   requested → Refresh (a refresh refused for good then waits for a person, as above).
 * - The next renewal time reached → Refresh (RotationDue, or KeepAlive for offline tokens).
 * - Otherwise Wait until then.
 */
export function planAccessToken(res: AccessToken, secret: SecretState, now: Date, provider: string, keepAliveMs?: number): AccessTokenPlan {
  const status = res.status ?? {};

  const rotateRequest = res.metadata.annotations?.[ROTATE_ANNOTATION];
  const requested = rotateRequest !== undefined && rotateRequest !== status.lastHandledRotateRequest;
  const refresh = (reason: RefreshReason, recovering = false): AccessTokenPlan => ({
    action: 'Refresh',
    reason,
    recovering,
    ...(requested ? { rotateRequest } : {}),
  });

  if (status.credentialRefused) {
    const specChanged = status.observedGeneration !== undefined && status.observedGeneration !== res.metadata.generation;
    if (requested) return refresh('RotateRequested');
    if (specChanged) return refresh('SpecChanged');
    return { action: 'AwaitNewSeed', refusal: status.credentialRefused };
  }
  if (status.pendingRefreshSince) return refresh('Recover', true);
  if (!status.revision || !status.expirationTime) return refresh('FirstIssue');
  if (status.grantType !== provider) return refresh('GrantTypeChanged');
  if (!secret.exists) return refresh('SecretLost');
  if (status.credentialRevokedTime) return refresh('CredentialRevoked');
  if (requested) return refresh('RotateRequested');

  const next = nextRenewal(res, status, keepAliveMs)!; // expirationTime is set past the FirstIssue check
  if (next.at <= now) return refresh(next.keepAlive ? 'KeepAlive' : 'RotationDue');
  return { action: 'Wait', nextRotation: next.at };
}
