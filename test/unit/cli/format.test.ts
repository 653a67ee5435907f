import { describe, expect, it } from 'vitest';
import { explainText, relative, shortDuration, statusTable, type TokenRow } from '../../../src/cli/format.js';

const now = new Date('2026-11-23T10:00:00Z');
const H = 3_600_000;
const D = 24 * H;
const at = (ms: number) => new Date(now.getTime() + ms).toISOString();

describe('shortDuration / relative', () => {
  it('reads like kubectl ages', () => {
    expect(shortDuration(40_000)).toBe('40s');
    expect(shortDuration(12 * 60_000)).toBe('12m');
    expect(shortDuration(5 * H)).toBe('5h');
    expect(shortDuration(5 * H + 30 * 60_000)).toBe('5h30m');
    expect(shortDuration(2 * D + 4 * H)).toBe('2d4h');
    expect(shortDuration(89 * D + 3 * H)).toBe('89d');
  });
  it('says in/ago, and "-" for nothing', () => {
    expect(relative(at(29 * D), now)).toBe('in 29d');
    expect(relative(at(-3 * H), now)).toBe('3h ago');
    expect(relative(undefined, now)).toBe('-');
    expect(relative('not a date', now)).toBe('-');
  });
});

describe('statusTable', () => {
  const rows: TokenRow[] = [
    {
      kind: 'DeltaShareToken',
      namespace: 'analytics',
      name: 'zalando-dds',
      generation: 2,
      status: {
        observedGeneration: 2,
        expirationTime: at(89 * D),
        nextRotationTime: at(59 * D),
        conditions: [{ type: 'Ready', status: 'True', reason: 'Issued' }],
      },
    },
    {
      kind: 'AccessToken',
      namespace: 'payments',
      name: 'ilp',
      generation: 3,
      status: { observedGeneration: 2, conditions: [{ type: 'Ready', status: 'False', reason: 'ProviderUnauthorized', message: 'x' }] },
    },
    { kind: 'DataToken', namespace: 'analytics', name: 'new' },
    { kind: 'DataToken', namespace: 'analytics', name: 'paused', suspended: true, status: { nextRotationTime: at(D), conditions: [{ type: 'Ready', status: 'True', reason: 'Issued' }] } },
  ];

  it('prints one aligned, sorted line per token', () => {
    expect(statusTable(rows, now)).toBe(
      [
        'KIND              NAMESPACE   NAME          READY     REASON                 EXPIRES   NEXT-ROTATION',
        'AccessToken       payments    ilp           False*    ProviderUnauthorized   -         -',
        'DataToken         analytics   new           Unknown   Pending                -         -',
        'DataToken         analytics   paused        True      Issued (suspended)     -         -',
        'DeltaShareToken   analytics   zalando-dds   True      Issued                 in 89d    in 59d',
      ].join('\n'),
    );
  });

  it('says so when there is nothing', () => {
    expect(statusTable([], now)).toBe('No token resources found.');
  });

  it('marks resources being deleted', () => {
    expect(statusTable([{ ...rows[0]!, deleting: true }], now)).toContain('Deleting');
  });
});

describe('explainText', () => {
  const row: TokenRow = {
    kind: 'DeltaShareToken',
    namespace: 'analytics',
    name: 'zalando-dds',
    generation: 4,
    rotateRequest: '2026-11-23T09:00:00Z',
    status: {
      observedGeneration: 3,
      expirationTime: at(2 * D),
      nextRotationTime: at(-H),
      lastRotationTime: at(-88 * D),
      failedAttempts: 3,
      lastFailureTime: at(-10 * 60_000),
      lastHandledRotateRequest: 'older',
      conditions: [
        { type: 'Ready', status: 'False', reason: 'ProviderUnavailable', message: 'DDS answered 503 three times', lastTransitionTime: at(-2 * H) },
        { type: 'Stalled', status: 'False', reason: 'ProviderUnavailable', message: '', lastTransitionTime: at(-2 * H) },
      ],
    },
  };

  it('shows Ready, times, failures, a pending rotate request, stale generation, conditions and warnings (newest first)', () => {
    const text = explainText(
      row,
      [
        { type: 'Normal', reason: 'Issued', message: 'Secret zalando-dds-share revision 1', lastTimestamp: at(-88 * D) },
        { type: 'Warning', reason: 'ProviderUnavailable', message: 'older failure', count: 2, lastTimestamp: at(-D) },
        { type: 'Warning', reason: 'ProviderUnavailable', message: 'DDS answered 503', count: 3, lastTimestamp: at(-10 * 60_000) },
      ],
      now,
    );
    expect(text).toContain('DeltaShareToken analytics/zalando-dds');
    expect(text).toContain('Ready:          False (ProviderUnavailable)');
    expect(text).toContain('Message:        DDS answered 503 three times');
    expect(text).toContain(`Expires:        ${at(2 * D)} (in 2d)`);
    expect(text).toContain('Next rotation:  ' + at(-H) + ' (1h ago)');
    expect(text).toContain('Failures:       3 in a row, last');
    expect(text).toContain('Rotate request: 2026-11-23T09:00:00Z (pending)');
    expect(text).toContain('status describes generation 3; the spec is at 4');
    expect(text).toMatch(/ {2}Stalled +False +ProviderUnavailable +2h ago/);
    expect(text).not.toContain('Issued'); // only warnings are listed
    const warnings = text.slice(text.indexOf('Recent warnings:'));
    expect(warnings.indexOf('DDS answered 503')).toBeLessThan(warnings.indexOf('older failure'));
    expect(warnings).toMatch(/10m ago +3 +ProviderUnavailable +DDS answered 503/);
  });

  it('handles a resource the operator has not seen yet', () => {
    const text = explainText({ kind: 'DataToken', namespace: 'a', name: 'b' }, [], now);
    expect(text).toContain('Ready:          Unknown');
    expect(text).toContain('(none yet: the operator has not reconciled this resource)');
    expect(text).toContain('Recent warnings:\n  (none)');
  });
});
