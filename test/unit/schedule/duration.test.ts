import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from '../../../src/schedule/duration.js';

describe('parseDuration', () => {
  it.each([
    ['90s', 90_000],
    ['15m', 900_000],
    ['12h', 43_200_000],
    ['720h', 2_592_000_000],
    ['1h30m', 5_400_000],
    ['1h0m30s', 3_630_000],
    ['500ms', 500],
    ['1m5s', 65_000],
    ['1.5h', 5_400_000],
    ['0.5s', 500],
    ['2s250ms', 2_250],
    ['0s', 0],
  ])('%s = %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', 'h', '1', '30d', '1w', '-1h', '+1h', '1h ', ' 1h', '1 h', '1h30', 'PT1H', '1H', '1.h', '.5h', '1h-30m', '1e3s', 'abc'])(
    'refuses %j',
    (text) => {
      expect(() => parseDuration(text)).toThrow(/invalid duration/);
    },
  );

  it('rounds fractional milliseconds', () => {
    expect(parseDuration('1.5ms')).toBe(2);
    expect(parseDuration('0.25ms')).toBe(0);
  });
});

describe('formatDuration', () => {
  it.each([
    [3_600_000, '1h'],
    [2_592_000_000, '720h'],
    [5_400_000, '90m'],
    [90_000, '90s'],
    [1_500, '1500ms'],
  ])('%d ms = %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it('round-trips through parseDuration', () => {
    for (const ms of [1, 999, 1000, 61_000, 3_599_000, 3_600_000, 86_400_000, 7_776_000_000]) expect(parseDuration(formatDuration(ms))).toBe(ms);
  });
});
