import { describe, expect, it } from 'vitest';
import { FLOORS } from '../../../src/api/index.js';
import { LivenessTracker, livenessIntervalMs, nextCheckAt, planLiveness, type LivenessInput } from '../../../src/controllers/shared/liveness.js';

const MIN = 60_000;
const HOUR = 3_600_000;
const T0 = Date.parse('2026-11-23T10:00:00Z');

describe('livenessIntervalMs', () => {
  it('absent, "0" and "0s" mean the kind\'s default; enabled: false turns the checks off', () => {
    expect(livenessIntervalMs(undefined)).toBe(HOUR);
    expect(livenessIntervalMs({})).toBe(HOUR);
    expect(livenessIntervalMs({ interval: '0' })).toBe(HOUR);
    expect(livenessIntervalMs({ interval: '0s' }, '2h')).toBe(2 * HOUR);
    expect(livenessIntervalMs({ interval: '30m' })).toBe(30 * MIN);
    expect(livenessIntervalMs({ enabled: false, interval: '30m' })).toBeUndefined();
    expect(livenessIntervalMs({ enabled: true })).toBe(HOUR);
  });

  it('a value stored before the admission floor runs at the floor', () => {
    expect(FLOORS.livenessInterval).toBe('1m');
    expect(livenessIntervalMs({ interval: '5s' })).toBe(MIN);
  });
});

describe('nextCheckAt: a stable phase per resource', () => {
  it('is the first point of the phase strictly after the time given, at most one interval later', () => {
    for (const uid of ['a', 'b', 'c', 'd']) {
      const at = nextCheckAt(uid, HOUR, T0);
      expect(at).toBeGreaterThan(T0);
      expect(at).toBeLessThanOrEqual(T0 + HOUR);
      // the same phase: the point after that one is exactly an interval later
      expect(nextCheckAt(uid, HOUR, at)).toBe(at + HOUR);
      // and any time within the same slot gives the same point
      expect(nextCheckAt(uid, HOUR, at - 1)).toBe(at);
    }
  });

  it('spreads 10,000 resources created at the same instant evenly over the interval', () => {
    const buckets = new Array<number>(60).fill(0);
    for (let i = 0; i < 10_000; i++) {
      const at = nextCheckAt(`uid-${i}`, HOUR, T0);
      buckets[Math.floor((at - T0) / MIN)]! += 1;
    }
    // 166.7 per minute on average; a hash, not a herd: no minute gets twice its share
    expect(Math.max(...buckets)).toBeLessThan(250);
    expect(Math.min(...buckets)).toBeGreaterThan(90);
  });
});

describe('planLiveness', () => {
  const base: LivenessInput = { uid: 'u1', intervalMs: HOUR, lastProvenMs: T0, nowMs: T0, ready: true, suspended: false, revoked: false };

  it('waits for the phase point after the credential was last proven, then checks', () => {
    const at = nextCheckAt('u1', HOUR, T0);
    expect(planLiveness(base)).toEqual({ action: 'Wait', atMs: at });
    expect(planLiveness({ ...base, nowMs: at - 1 })).toEqual({ action: 'Wait', atMs: at });
    expect(planLiveness({ ...base, nowMs: at })).toEqual({ action: 'Check' });
    expect(planLiveness({ ...base, nowMs: at + 5 * HOUR })).toEqual({ action: 'Check' });
  });

  it('a credential renewed more often than the interval is never checked: the renewal proves more', () => {
    // renewed every 5 minutes: whatever the phase, the next renewal comes before the check
    for (let now = T0; now < T0 + 3 * HOUR; now += MIN) {
      const lastRenewal = T0 + Math.floor((now - T0) / (5 * MIN)) * 5 * MIN;
      expect(planLiveness({ ...base, lastProvenMs: lastRenewal, nowMs: now, nextRenewalMs: lastRenewal + 5 * MIN })).toEqual({ action: 'Skip' });
    }
    // a renewal months away changes nothing
    const at = nextCheckAt('u1', HOUR, T0);
    expect(planLiveness({ ...base, nowMs: at, nextRenewalMs: T0 + 60 * 24 * HOUR })).toEqual({ action: 'Check' });
    // expired: the renewal is due now and proves more
    expect(planLiveness({ ...base, nowMs: at, expiresAtMs: at - 1 })).toEqual({ action: 'Skip' });
  });

  it('skips when off, suspended, not Ready, or already found dead', () => {
    const due = { ...base, nowMs: T0 + 2 * HOUR };
    expect(planLiveness(due)).toEqual({ action: 'Check' });
    expect(planLiveness({ ...due, intervalMs: undefined })).toEqual({ action: 'Skip' });
    expect(planLiveness({ ...due, suspended: true })).toEqual({ action: 'Skip' });
    expect(planLiveness({ ...due, ready: false })).toEqual({ action: 'Skip' });
    expect(planLiveness({ ...due, revoked: true })).toEqual({ action: 'Skip' });
  });
});

describe('LivenessTracker', () => {
  it('last proven: the latest of this process start, its last check, and the last issue', () => {
    const t = new LivenessTracker(T0);
    expect(t.lastProven('u', {})).toBe(T0);
    expect(t.lastProven('u', { lastRotationTime: new Date(T0 - HOUR).toISOString() })).toBe(T0);
    expect(t.lastProven('u', { lastRotationTime: new Date(T0 + MIN).toISOString() })).toBe(T0 + MIN);
    t.record('u', T0 + 2 * MIN);
    expect(t.lastProven('u', { lastRotationTime: new Date(T0 + MIN).toISOString() })).toBe(T0 + 2 * MIN);
    t.forget('u');
    expect(t.lastProven('u', {})).toBe(T0);
  });
});
