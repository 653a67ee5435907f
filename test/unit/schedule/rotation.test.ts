import { describe, expect, it } from 'vitest';
import {
  DEFAULT_JITTER_PERCENT,
  DEFAULT_ROTATE_BEFORE_PERCENT,
  MAX_JITTER_MS,
  nextRotationTime,
  unitHash,
  type RotationPolicy,
} from '../../../src/schedule/rotation.js';

const H = 3_600_000;
const D = 24 * H;
const issued = new Date('2026-11-22T10:00:00Z');
const in90d = new Date(issued.getTime() + 90 * D);
const NO_JITTER: RotationPolicy = { jitterPercent: 0 };

/** ms before expiry at which the rotation falls */
const leadOf = (p: RotationPolicy | undefined, lifetimeMs: number, seed = 'uid/1') =>
  issued.getTime() + lifetimeMs - nextRotationTime(p, issued, new Date(issued.getTime() + lifetimeMs), seed).getTime();

describe('nextRotationTime', () => {
  describe('lead time', () => {
    it('rotateBefore renews that long before expiry', () => {
      expect(leadOf({ ...NO_JITTER, rotateBefore: '720h' }, 90 * D)).toBe(30 * D);
      expect(leadOf({ ...NO_JITTER, rotateBefore: '90s' }, 10 * 60_000)).toBe(90_000);
    });

    it('rotateBeforePercent renews when that share of the lifetime is left', () => {
      expect(leadOf({ ...NO_JITTER, rotateBeforePercent: 50 }, 90 * D)).toBe(45 * D);
      expect(leadOf({ ...NO_JITTER, rotateBeforePercent: 10 }, 10 * H)).toBe(H);
    });

    it('defaults to 33% of the lifetime', () => {
      expect(DEFAULT_ROTATE_BEFORE_PERCENT).toBe(33);
      expect(leadOf(NO_JITTER, 100 * H)).toBe(33 * H);
      expect(leadOf({ jitterPercent: 0, schedule: undefined }, 300_000)).toBe(99_000);
    });

    it('rotateBefore wins over the default percent', () => {
      expect(leadOf({ ...NO_JITTER, rotateBefore: '1h' }, 100 * H)).toBe(H);
    });

    it('caps the lead at 90% of the lifetime, so a too-long rotateBefore cannot rotate forever', () => {
      // a 5-minute GNAP token with rotateBefore 720h: rotate after 30s, not at once
      expect(leadOf({ ...NO_JITTER, rotateBefore: '720h' }, 5 * 60_000)).toBe(270_000);
      expect(leadOf({ ...NO_JITTER, rotateBeforePercent: 99 }, 100 * H)).toBe(90 * H);
    });

    it('never rotates before issue, even for an expired or zero-lifetime credential', () => {
      expect(nextRotationTime(undefined, issued, issued, 's').getTime()).toBe(issued.getTime());
      const expiredBefore = new Date(issued.getTime() - H);
      expect(nextRotationTime({ rotateBefore: '1h' }, issued, expiredBefore, 's').getTime()).toBe(issued.getTime());
    });
  });

  describe('jitter', () => {
    it('is stable for a seed: a restart never moves the rotation', () => {
      const a = nextRotationTime(undefined, issued, in90d, 'uid-1/3');
      const b = nextRotationTime(undefined, issued, in90d, 'uid-1/3');
      expect(a.getTime()).toBe(b.getTime());
      expect(unitHash('uid-1/3')).toBe(unitHash('uid-1/3'));
    });

    it('differs between resources and revisions', () => {
      const times = new Set(['a/1', 'a/2', 'b/1', 'c/1', 'd/1'].map((s) => nextRotationTime(undefined, issued, in90d, s).getTime()));
      expect(times.size).toBe(5);
    });

    it('stays within min(5% of the lifetime, 1h) by default, only ever earlier', () => {
      expect(DEFAULT_JITTER_PERCENT).toBe(5);
      expect(MAX_JITTER_MS).toBe(H);
      for (const lifetime of [5 * 60_000, 10 * H, 20 * H, 90 * D]) {
        const base = leadOf({ ...NO_JITTER, rotateBeforePercent: 33 }, lifetime);
        const bound = Math.min(0.05 * lifetime, H);
        let widest = 0;
        for (let i = 0; i < 300; i++) {
          const jitter = leadOf({ rotateBeforePercent: 33 }, lifetime, `seed-${i}`) - base;
          expect(jitter).toBeGreaterThanOrEqual(0);
          expect(jitter).toBeLessThanOrEqual(bound);
          widest = Math.max(widest, jitter);
        }
        // and it really spreads: 300 seeds use most of the window
        expect(widest).toBeGreaterThan(bound * 0.9);
      }
    });

    it('jitterPercent scales the window, still capped at 1h', () => {
      const base = leadOf({ ...NO_JITTER, rotateBefore: '1h' }, 10 * H);
      for (let i = 0; i < 100; i++) {
        const j = leadOf({ rotateBefore: '1h', jitterPercent: 2 }, 10 * H, `s${i}`) - base;
        expect(j).toBeLessThanOrEqual(0.02 * 10 * H);
        const wide = leadOf({ rotateBefore: '1h', jitterPercent: 50 }, 90 * D, `s${i}`) - leadOf({ ...NO_JITTER, rotateBefore: '1h' }, 90 * D);
        expect(wide).toBeLessThanOrEqual(H);
      }
    });

    it('unitHash lies in [0, 1)', () => {
      for (let i = 0; i < 1000; i++) {
        const u = unitHash(`k${i}`);
        expect(u).toBeGreaterThanOrEqual(0);
        expect(u).toBeLessThan(1);
      }
    });
  });

  describe('cron window', () => {
    // due (without a window) 2027-01-21T10:00:00Z, a Thursday
    const p = (schedule: string): RotationPolicy => ({ ...NO_JITTER, rotateBefore: '720h', schedule });
    const due = new Date(in90d.getTime() - 30 * D);

    it('pushes a due rotation to the next slot', () => {
      expect(due.toISOString()).toBe('2027-01-21T10:00:00.000Z');
      expect(nextRotationTime(p('0 3 * * 1'), issued, in90d, 's').toISOString()).toBe('2027-01-25T03:00:00.000Z');
      expect(nextRotationTime(p('0 11 * * *'), issued, in90d, 's').toISOString()).toBe('2027-01-21T11:00:00.000Z');
    });

    it('keeps a due time that is itself a slot', () => {
      expect(nextRotationTime(p('0 10 * * *'), issued, in90d, 's').toISOString()).toBe('2027-01-21T10:00:00.000Z');
    });

    it('never pushes it earlier', () => {
      for (const s of ['0 3 * * *', '*/7 * * * *', '0 0 1 * *', '30 0 9 * * 1-5']) {
        expect(nextRotationTime(p(s), issued, in90d, 's').getTime()).toBeGreaterThanOrEqual(due.getTime());
      }
    });

    it('never pushes it past the expiry: without a slot in time, rotate when due', () => {
      // a 2-hour token due at 01:20 with a window only at 03:00 → the window is ignored
      const exp = new Date('2026-11-23T02:00:00Z');
      const iss = new Date('2026-11-23T00:00:00Z');
      const t = nextRotationTime({ ...NO_JITTER, rotateBefore: '40m', schedule: '0 3 * * *' }, iss, exp, 's');
      expect(t.toISOString()).toBe('2026-11-23T01:20:00.000Z');
      // a window that opens exactly at expiry is too late as well
      const t2 = nextRotationTime({ ...NO_JITTER, rotateBefore: '40m', schedule: '0 2 * * *' }, iss, exp, 's');
      expect(t2.toISOString()).toBe('2026-11-23T01:20:00.000Z');
      // one that opens before expiry is used
      const t3 = nextRotationTime({ ...NO_JITTER, rotateBefore: '40m', schedule: '59 1 * * *' }, iss, exp, 's');
      expect(t3.toISOString()).toBe('2026-11-23T01:59:00.000Z');
    });

    it('applies the window after the jitter', () => {
      for (let i = 0; i < 50; i++) {
        const t = nextRotationTime({ rotateBefore: '720h', schedule: '0 3 * * 1' }, issued, in90d, `s${i}`);
        expect(t.getUTCDay()).toBe(1);
        expect(t.getUTCHours()).toBe(3);
        expect(t.getTime()).toBeLessThan(in90d.getTime());
      }
    });
  });
});

describe('a cron window that never opens', () => {
  it('falls back to the due time instead of failing or letting the credential expire', async () => {
    const { nextRotationTime } = await import('../../../src/schedule/rotation.js');
    const issued = new Date('2026-01-01T00:00:00Z');
    const expires = new Date('2026-01-31T00:00:00Z');
    const plain = nextRotationTime({ rotateBefore: '240h', jitterPercent: 0 }, issued, expires, 'seed');
    const never = nextRotationTime({ rotateBefore: '240h', jitterPercent: 0, schedule: '0 0 31 2 *' }, issued, expires, 'seed');
    expect(never.toISOString()).toBe(plain.toISOString());
  });
});
