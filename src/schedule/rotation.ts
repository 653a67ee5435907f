import { createHash } from 'node:crypto';
import { nextCronSlot } from './cron.js';
import { atLeast } from './duration.js';

export interface RotationPolicy {
  rotateBefore?: string;
  rotateBeforePercent?: number;
  schedule?: string;
  jitterPercent?: number;
}

export const DEFAULT_ROTATE_BEFORE_PERCENT = 33;
export const DEFAULT_JITTER_PERCENT = 5;
export const MAX_JITTER_MS = 3_600_000;
/** the floor admission applies to rotation.rotateBefore (src/api FLOORS.rotateBefore; a unit test keeps them equal) */
export const MIN_ROTATE_BEFORE = '10s';

/**
 * When to renew a credential issued at `issuedAt` that expires at `expiresAt`
 * (cert-manager's renewal-time rule): `rotateBefore` ahead of expiry, or when
 * `rotateBeforePercent` of the lifetime is left; minus a jitter that is stable per
 * resource and revision (a restart never moves it); then pushed to the next cron slot.
 * Never later than the expiry itself.
 */
export function nextRotationTime(
  p: RotationPolicy | undefined,
  issuedAt: Date,
  expiresAt: Date,
  jitterSeed: string,
): Date {
  const lifetime = Math.max(0, expiresAt.getTime() - issuedAt.getTime());
  let lead: number;
  if (p?.rotateBefore) lead = atLeast(p.rotateBefore, MIN_ROTATE_BEFORE);
  else lead = (lifetime * (p?.rotateBeforePercent ?? DEFAULT_ROTATE_BEFORE_PERCENT)) / 100;
  // A lead longer than the whole lifetime would rotate forever: cap it at 90% of the lifetime.
  lead = Math.min(lead, lifetime * 0.9);
  const jitterMax = Math.min((lifetime * (p?.jitterPercent ?? DEFAULT_JITTER_PERCENT)) / 100, MAX_JITTER_MS);
  const jitter = jitterMax * unitHash(jitterSeed);
  let due = new Date(Math.round(expiresAt.getTime() - lead - jitter));
  if (due < issuedAt) due = issuedAt;
  if (p?.schedule) {
    // A window that never opens before expiry (or an expression like "0 0 31 2 *" that never
    // matches) must not let the credential die: rotate at the due time instead.
    let slot: Date | undefined;
    try {
      slot = nextCronSlot(p.schedule, due);
    } catch {
      slot = undefined;
    }
    if (slot && slot < expiresAt) due = slot;
  }
  return due;
}

/** A number in [0, 1) derived from the seed: the same seed always gives the same jitter. */
export function unitHash(seed: string): number {
  return createHash('sha256').update(seed).digest().readUInt32BE(0) / 2 ** 32;
}
