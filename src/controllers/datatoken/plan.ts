import { FLOORS, ROTATE_ANNOTATION, type DataToken } from '../../api/index.js';
import { nextCronSlot } from '../../schedule/cron.js';
import { atLeast } from '../../schedule/duration.js';
import { DEFAULT_JITTER_PERCENT, MAX_JITTER_MS, unitHash } from '../../schedule/rotation.js';
import type { SecretState } from '../shared/secret-state.js';

export const DEFAULT_REFRESH_INTERVAL = '24h';

/** Target Secret keys (API.md): source mode writes the token, tokenRef mode the data behind it. */
export const KEYS = { dataToken: 'data_token', context: 'context', data: 'data' } as const;

export type TokenizeReason = 'FirstIssue' | 'SourceChanged' | 'CredentialRevoked' | 'RotateRequested';
export type ResolveReason = 'FirstIssue' | 'TokenChanged' | 'CredentialRevoked' | 'SecretLost' | 'RotateRequested' | 'RotationDue';

export type DataTokenPlan =
  | { action: 'Suspended' }
  /** source mode: exchange the source data for a new data token */
  | { action: 'Tokenize'; reason: TokenizeReason; rotateRequest?: string }
  /** source mode: the Secret is gone or edited, but status still knows the token (a reference): write it back, no provider call */
  | { action: 'RestoreSecret'; reason: 'SecretLost' }
  /** tokenRef mode: download the data behind the referenced token */
  | { action: 'Resolve'; reason: ResolveReason; rotateRequest?: string }
  /** deletionPolicy Revoke: delete at Privicore the tokens this resource replaced */
  | { action: 'RemoveReplaced'; tokens: string[] }
  /** nothing to do; `next` = the next scheduled refresh (tokenRef mode; source tokens never expire) */
  | { action: 'Wait'; next?: Date };

/**
 * Every decision for a DataToken, from the resource, its Secret, the keyed HMAC of the
 * input it references (source data + context, or the referenced token; undefined when
 * not read) and the time alone.
 *
 * Source mode: no token yet → Tokenize; the input changed → Tokenize; a liveness check found
 * the token deleted at Privicore → Tokenize; rotate-now →
 * Tokenize; the Secret lost → write the known token back; replaced tokens left → remove
 * them (Revoke); else wait for the next input check.
 * tokenRef mode: no data yet, the token changed, the Secret lost, rotate-now, or the
 * refresh time reached → Resolve; else wait for the refresh time.
 */
export function planDataToken(res: DataToken, secret: SecretState, sourceHmac: string | undefined, now: Date): DataTokenPlan {
  const { spec } = res;
  const status = res.status ?? {};
  if (spec.suspend) return { action: 'Suspended' };

  const rotateRequest = res.metadata.annotations?.[ROTATE_ANNOTATION];
  const requested = rotateRequest !== undefined && rotateRequest !== status.lastHandledRotateRequest;
  const withRequest = requested ? { rotateRequest } : {};
  const revoke = spec.deletionPolicy === 'Revoke';
  const replaced = status.pendingRemovals ?? [];

  if (spec.source) {
    if (!status.tokenId) return { action: 'Tokenize', reason: 'FirstIssue', ...withRequest };
    if (sourceHmac !== status.sourceHMAC) return { action: 'Tokenize', reason: 'SourceChanged', ...withRequest };
    if (status.credentialRevokedTime) return { action: 'Tokenize', reason: 'CredentialRevoked', ...withRequest };
    if (requested) return { action: 'Tokenize', reason: 'RotateRequested', rotateRequest };
    if (!secret.exists || heldToken(secret) !== status.tokenId) return { action: 'RestoreSecret', reason: 'SecretLost' };
    if (revoke && replaced.length) return { action: 'RemoveReplaced', tokens: replaced };
    return { action: 'Wait' };
  }

  if (!status.tokenId || !status.lastRotationTime) return { action: 'Resolve', reason: 'FirstIssue', ...withRequest };
  if (sourceHmac !== status.sourceHMAC) return { action: 'Resolve', reason: 'TokenChanged', ...withRequest };
  if (status.credentialRevokedTime) return { action: 'Resolve', reason: 'CredentialRevoked', ...withRequest };
  if (requested) return { action: 'Resolve', reason: 'RotateRequested', rotateRequest };
  if (!secret.exists || (!secret.templated && secret.data[KEYS.data] === undefined)) return { action: 'Resolve', reason: 'SecretLost' };
  const next = nextRefreshTime(res, new Date(status.lastRotationTime), status.revision ?? 0);
  if (next <= now) return { action: 'Resolve', reason: 'RotationDue' };
  if (revoke && replaced.length) return { action: 'RemoveReplaced', tokens: replaced };
  return { action: 'Wait', next };
}

/**
 * The data token the Secret holds: its data_token key, or, when a template shaped the Secret
 * (its keys are then the template's), the token id the operator wrote beside it. Drift of the
 * templated keys themselves is drift repair's (drift.ts).
 */
function heldToken(secret: SecretState): string | undefined {
  return secret.templated ? secret.tokenId : secret.data[KEYS.dataToken];
}

/**
 * tokenRef mode: the data has no expiry, so `refreshInterval` after the last download
 * stands in for one. Minus a jitter stable per resource and revision (spreads many
 * refreshes; a restart never moves it), then pushed to the next cron slot if a window is set.
 */
export function nextRefreshTime(res: DataToken, lastRefresh: Date, revision: number): Date {
  const interval = atLeast(res.spec.refreshInterval ?? DEFAULT_REFRESH_INTERVAL, FLOORS.refreshInterval);
  const jitterMax = Math.min((interval * (res.spec.rotation?.jitterPercent ?? DEFAULT_JITTER_PERCENT)) / 100, MAX_JITTER_MS);
  const due = new Date(Math.round(lastRefresh.getTime() + interval - jitterMax * unitHash(`${res.metadata.uid}/${revision}`)));
  const schedule = res.spec.rotation?.schedule;
  return (schedule && nextCronSlot(schedule, due)) || due;
}
