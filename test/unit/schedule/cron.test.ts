import { validate } from 'node-cron';
import { describe, expect, it } from 'vitest';
import { CRON_PATTERN } from '../../../src/api/common.js';
import { cronProblem, nextCronSlot } from '../../../src/schedule/cron.js';

const at = (iso: string) => new Date(iso);
const next = (expr: string, from: string, horizonDays?: number) => nextCronSlot(expr, at(from), horizonDays)?.toISOString();

describe('nextCronSlot', () => {
  it('finds the next minute slot, in UTC', () => {
    expect(next('0 3 * * *', '2026-11-23T02:59:59Z')).toBe('2026-11-23T03:00:00.000Z');
    expect(next('0 3 * * *', '2026-11-23T03:00:01Z')).toBe('2026-11-24T03:00:00.000Z');
    expect(next('*/15 * * * *', '2026-11-23T10:16:00Z')).toBe('2026-11-23T10:30:00.000Z');
    expect(next('59 23 31 12 *', '2026-11-23T00:00:00Z')).toBe('2026-12-31T23:59:00.000Z');
  });

  it('counts a slot exactly at `from` as due', () => {
    expect(next('0 3 * * *', '2026-11-23T03:00:00Z')).toBe('2026-11-23T03:00:00.000Z');
  });

  it('never answers a slot before `from`, even within the same second', () => {
    const from = at('2026-11-23T03:00:00.500Z');
    const slot = nextCronSlot('0 3 * * *', from)!;
    expect(slot.getTime()).toBeGreaterThanOrEqual(from.getTime());
    expect(slot.toISOString()).toBe('2026-11-24T03:00:00.000Z');
    // with seconds: the next second-slot after a fractional start
    expect(next('* * * * * *', '2026-11-23T03:00:00.001Z')).toBe('2026-11-23T03:00:01.000Z');
  });

  it('reads day-of-week by number (0 and 7 are Sunday) and by name', () => {
    // 2026-11-23 is a Monday
    expect(next('0 3 * * 1', '2026-11-23T04:00:00Z')).toBe('2026-11-30T03:00:00.000Z');
    expect(next('0 3 * * mon', '2026-11-23T04:00:00Z')).toBe('2026-11-30T03:00:00.000Z');
    expect(next('0 0 * * 0', '2026-11-23T00:00:00Z')).toBe('2026-11-29T00:00:00.000Z');
    expect(next('0 0 * * 7', '2026-11-23T00:00:00Z')).toBe('2026-11-29T00:00:00.000Z');
    expect(next('0 0 * * SAT,SUN', '2026-11-23T00:00:00Z')).toBe('2026-11-28T00:00:00.000Z');
    expect(next('0 9 * * MON-FRI', '2026-11-27T10:00:00Z')).toBe('2026-11-30T09:00:00.000Z'); // Fri after 9 → Mon
  });

  it('restricts by month', () => {
    expect(next('0 0 1 jan *', '2026-11-23T00:00:00Z')).toBe('2027-01-01T00:00:00.000Z');
    expect(next('0 0 * 2 *', '2026-11-23T00:00:00Z')).toBe('2027-02-01T00:00:00.000Z');
  });

  describe('day-of-month and day-of-week (standard cron OR rule)', () => {
    it('when both are restricted, either one matching is enough', () => {
      // "the 1st, or any Monday": from Tue 2026-11-24, Monday the 30th comes before the 1st
      expect(next('0 0 1 * 1', '2026-11-24T00:00:00Z')).toBe('2026-11-30T00:00:00.000Z');
      // and right after that Monday, the 1st (a Tuesday) matches by day of month alone
      expect(next('0 0 1 * 1', '2026-11-30T00:00:01Z')).toBe('2026-12-01T00:00:00.000Z');
      // "the 13th, or a Friday": Fri 2026-11-06 first, then Fri 13th
      expect(next('0 0 13 * 5', '2026-11-01T00:00:00Z')).toBe('2026-11-06T00:00:00.000Z');
      expect(next('0 0 13 * 5', '2026-11-07T00:00:00Z')).toBe('2026-11-13T00:00:00.000Z');
    });

    it('when only one is restricted, only that one counts', () => {
      expect(next('0 0 1 * *', '2026-11-24T00:00:00Z')).toBe('2026-12-01T00:00:00.000Z');
      expect(next('0 0 * * 1', '2026-11-24T00:00:00Z')).toBe('2026-11-30T00:00:00.000Z');
      expect(next('0 0 ? * 1', '2026-11-24T00:00:00Z')).toBe('2026-11-30T00:00:00.000Z');
      expect(next('0 0 15 * ?', '2026-11-24T00:00:00Z')).toBe('2026-12-15T00:00:00.000Z');
    });
  });

  it('supports a leading seconds field (6 fields)', () => {
    expect(next('30 */5 * * * *', '2026-11-23T10:02:00Z')).toBe('2026-11-23T10:05:30.000Z');
    expect(next('30 */5 * * * *', '2026-11-23T10:00:15Z')).toBe('2026-11-23T10:00:30.000Z');
    expect(next('15,45 0 3 * * *', '2026-11-23T03:00:20Z')).toBe('2026-11-23T03:00:45.000Z');
    expect(next('0 0 3 * * *', '2026-11-23T03:00:00Z')).toBe('2026-11-23T03:00:00.000Z');
  });

  it('gives up past the horizon', () => {
    // Feb 29 next falls in 2028: beyond 400 days from March 2026
    expect(next('0 0 29 2 *', '2026-03-01T00:00:00Z')).toBeUndefined();
    expect(next('0 0 29 2 *', '2026-03-01T00:00:00Z', 1200)).toBe('2028-02-29T00:00:00.000Z');
    expect(next('0 3 * * *', '2026-11-23T04:00:00Z', 0)).toBeUndefined();
    expect(next('0 3 * * *', '2026-11-23T04:00:00Z', 1)).toBe('2026-11-24T03:00:00.000Z');
  });

  it('tolerates surrounding and repeated spaces', () => {
    expect(next('  0  3 * *   1 ', '2026-11-23T04:00:00Z')).toBe('2026-11-30T03:00:00.000Z');
  });

  it('throws on an expression node-cron cannot parse', () => {
    expect(() => nextCronSlot('61 * * * *', at('2026-11-23T00:00:00Z'))).toThrow();
    expect(() => nextCronSlot('0 0 31 2 *', at('2026-11-23T00:00:00Z'))).toThrow();
  });
});

describe('cronProblem', () => {
  it('is undefined for expressions nextCronSlot evaluates', () => {
    for (const e of ['0 3 * * 1', '*/5 * * * *', '30 0 3 ? JAN-jun mon-FRI', '0 0 1,15 * *']) expect(cronProblem(e)).toBeUndefined();
  });

  it('names the bad field', () => {
    expect(cronProblem('61 * * * *')).toMatch(/minute/);
    expect(cronProblem('0 24 * * *')).toMatch(/hour/);
    expect(cronProblem('0 0 * * * * *')).toMatch(/fields/);
  });

  it('refuses node-cron extensions that nextCronSlot does not evaluate (L, W, #)', () => {
    for (const e of ['0 3 L * *', '0 3 15W * *', '0 3 * * 1#2', '0 3 * * 5L']) expect(cronProblem(e), e).toMatch(/not supported/);
  });
});

/**
 * The admission pattern (src/api/common.ts) and the schedule code must agree: whatever the
 * API server lets through, node-cron parses and nextCronSlot finds a slot for; whatever it
 * refuses is something we would have mis-scheduled or thrown on.
 */
describe('the CRD cron pattern agrees with the scheduler', () => {
  const accepted = [
    '0 3 * * 1',
    '*/15 * * * *',
    '0 9 * * MON-FRI',
    '0 0 1 jan *',
    '0 0 1,15 * *',
    '5-10/2 * * * *',
    '00 03 * * *',
    '0 0 ? * 1',
    '0 0 15 * ?',
    '0 0 * * 7',
    '0 0 * * 0-7',
    '30 */5 * * * *',
    '30 0 3 ? JAN-jun mon-FRI',
    '0 22 * * sun,SAT',
    '*/90 * * * *',
    '0 0 1 */3 *',
  ];
  const refused = [
    '',
    '* * * *',
    '0 0 3 * * 1 2026',
    '61 * * * *',
    '0 24 * * *',
    '0 0 0 * *',
    '0 0 32 * *',
    '0 0 * 13 *',
    '0 0 * 0 *',
    '0 0 * * 8',
    '*/0 * * * *',
    '5/15 * * * *',
    '? * * * *',
    '0 3 L * *',
    '0 3 15W * *',
    '0 3 * * 1#2',
    '0 3 * * 5L',
    '@daily',
    '0 3 * * monday',
    '0\t3 * * *',
    'foo bar baz qux quux',
    '0 3 * * 1;',
  ];

  it.each(accepted)('accepts %j, and node-cron + nextCronSlot handle it', (e) => {
    expect(CRON_PATTERN.test(e)).toBe(true);
    expect(validate(e)).toBe(true);
    expect(cronProblem(e)).toBeUndefined();
    expect(nextCronSlot(e, at('2026-11-23T00:00:00Z'))).toBeInstanceOf(Date);
  });

  it.each(refused)('refuses %j', (e) => {
    expect(CRON_PATTERN.test(e)).toBe(false);
  });
});
