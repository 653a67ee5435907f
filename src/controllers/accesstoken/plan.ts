import { ROTATE_ANNOTATION, type AccessToken, type AccessTokenStatus } from '../../api/index.js';
import { nextRotationTime } from '../../schedule/rotation.js';
import type { SecretState } from '../shared/secret-state.js';

export type GrantType = 'oidc' | 'gnap';

export type RefreshReason =
  | 'FirstIssue' //        nothing issued yet: take the seed and renew it at once (this validates it)
  | 'Recover' //           a call was sent but its result never stored (crash, lost reply): try the same credential once
  | 'GrantTypeChanged' //  the spec switched between oidc and gnap
  | 'SecretLost' //        the target Secret is gone
  | 'CredentialRevoked' // a liveness check found the credential dead at the provider (status.credentialRevokedTime)
  | 'RotateRequested' //   a new token-operator.io/rotate value
  | 'SpecChanged' //       the credential was refused, and the spec changed since: try again
  | 'RotationDue' //       the access token's rotation time has come
  | 'KeepAlive' //         no rotation due, but an offline token must be used now and then
  | 'NewSeed'; //          (executor) refused before, and a person has since pasted a new seed

export type AccessTokenPlan =
  | { action: 'Suspended' }
  | { action: 'InvalidSpec'; message: string }
  /** the credential was refused for good: no provider call until the seed, the spec or a rotate request changes */
  | { action: 'AwaitNewSeed'; refusal: string }
  | { action: 'Refresh'; grantType: GrantType; reason: RefreshReason; recovering: boolean; rotateRequest?: string }
  | { action: 'Wait'; nextRotation: Date };

/**
 * Keycloak drops offline sessions unused for 30 days (Offline Session Idle), whatever the
 * access token's lifetime: refresh at least weekly so a quiet token never lapses
 * (../../../../shared/research/providers.md §2.3 and §2.8 gotcha 3).
 */
export const OFFLINE_KEEPALIVE_MS = 7 * 86_400_000;

export function grantTypeOf(res: AccessToken): GrantType | undefined {
  if (res.spec.oidc && !res.spec.gnap) return 'oidc';
  if (res.spec.gnap && !res.spec.oidc) return 'gnap';
  return undefined;
}

/**
 * When to renew next, from status alone: the rotation policy applied to the access token's
 * lifetime; for oidc no later than the same policy applied to the refresh token's own
 * lifetime (an online session's idle timeout can be the shorter one), and no later than a
 * week after the last refresh (offline keep-alive). `keepAlive` says the cap decided.
 */
export function nextRenewal(res: AccessToken, status: AccessTokenStatus): { at: Date; keepAlive: boolean } | undefined {
  if (!status.expirationTime) return undefined;
  const expires = new Date(status.expirationTime);
  const issued = new Date(status.lastRotationTime ?? status.expirationTime);
  const seed = `${res.metadata.uid}/${status.revision ?? 0}`;
  let at = nextRotationTime(res.spec.rotation, issued, expires, seed);
  if (status.grantType !== 'oidc') return { at, keepAlive: false };
  if (status.refreshTokenExpirationTime) {
    const refreshDue = nextRotationTime(res.spec.rotation, issued, new Date(status.refreshTokenExpirationTime), seed);
    if (refreshDue < at) at = refreshDue;
  }
  const keepAlive = new Date(issued.getTime() + OFFLINE_KEEPALIVE_MS);
  return keepAlive < at ? { at: keepAlive, keepAlive: true } : { at, keepAlive: false };
}

/**
 * Every decision for an AccessToken, from the resource, its Secret and the time alone
 * (cert-manager style: small named checks, first match wins).
 *
 * - suspend → Suspended; neither or both of oidc/gnap → InvalidSpec (admission should stop that).
 * - A refusal is recorded (credentialRefused) → AwaitNewSeed, unless the spec changed or a
 *   new rotate request asks to retry. The executor polls the seed Secret for a new value.
 * - pendingRefreshSince is set (a call was sent, its answer never reached the Secret; the
 *   executor has already adopted a Secret written before a crash, which clears it)
 *   → Refresh, recovering: present the same credential once more.
 * - Nothing issued, variant switched, Secret gone, found dead by a liveness check, rotate
 *   requested → Refresh (a refresh refused for good then waits for a person, as above).
 * - The next renewal time reached → Refresh (RotationDue, or KeepAlive for offline tokens).
 * - Otherwise Wait until then.
 */
export function planAccessToken(res: AccessToken, secret: SecretState, now: Date): AccessTokenPlan {
  const status = res.status ?? {};
  if (res.spec.suspend) return { action: 'Suspended' };
  const grantType = grantTypeOf(res);
  if (!grantType) return { action: 'InvalidSpec', message: 'spec: set exactly one of oidc and gnap' };

  const rotateRequest = res.metadata.annotations?.[ROTATE_ANNOTATION];
  const requested = rotateRequest !== undefined && rotateRequest !== status.lastHandledRotateRequest;
  const refresh = (reason: RefreshReason, recovering = false): AccessTokenPlan => ({
    action: 'Refresh',
    grantType,
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
  if (status.grantType !== grantType) return refresh('GrantTypeChanged');
  if (!secret.exists) return refresh('SecretLost');
  if (status.credentialRevokedTime) return refresh('CredentialRevoked');
  if (requested) return refresh('RotateRequested');

  const next = nextRenewal(res, status)!; // expirationTime is set past the FirstIssue check
  if (next.at <= now) return refresh(next.keepAlive ? 'KeepAlive' : 'RotationDue');
  return { action: 'Wait', nextRotation: next.at };
}

export type CredentialSource = 'seed' | 'stored' | 'memory';

/**
 * Which credential to present, given what is at hand. The seed from the spec's Secret
 * references is only a starting point: once the operator has renewed it, the live
 * credential is the one it keeps in the target Secret (with rotation on, the seed is spent).
 *
 * - The seed's HMAC differs from the recorded one → a person pasted a new seed: use it.
 * - Otherwise the credential in the target Secret; failing that (the Secret was deleted)
 *   the one this process last wrote; failing that the seed (nothing else left to try).
 * - Nothing recorded yet but a stored credential exists (status lost) → trust the Secret:
 *   presenting a spent seed would, in Keycloak, end the live session too.
 */
export function chooseCredential(input: {
  seedHmac: string | undefined;
  recordedSeedHmac: string | undefined;
  hasStored: boolean;
  hasMemory: boolean;
}): CredentialSource | undefined {
  const { seedHmac, recordedSeedHmac } = input;
  if (seedHmac !== undefined && recordedSeedHmac !== undefined && seedHmac !== recordedSeedHmac) return 'seed';
  if (input.hasStored) return 'stored';
  if (input.hasMemory) return 'memory';
  if (seedHmac !== undefined) return 'seed';
  return undefined;
}

/**
 * Whether a failed provider call certainly changed nothing at the provider, so the
 * credential presented is still the live one. Only a definite 4xx answer (or a request
 * refused before it was sent) says so: a 5xx may come from a proxy after the server
 * committed, and a timeout or a crash tells nothing.
 */
export function failedWithoutEffect(e: { status?: number; kind?: string } | undefined): boolean {
  if (!e) return false;
  if (e.status !== undefined) return e.status >= 400 && e.status < 500;
  return e.kind === 'Invalid';
}
