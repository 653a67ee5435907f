import { describe, expect, it } from 'vitest';
import { getCondition, isTrue, removeCondition, setCondition, type Condition } from '../../../src/runtime/conditions.js';

const t0 = new Date('2026-11-23T10:00:00Z');
const t1 = new Date('2026-11-23T11:00:00Z');
const t2 = new Date('2026-11-23T12:00:00Z');

describe('setCondition', () => {
  it('adds a new condition stamped now, with the generation', () => {
    const list = setCondition(undefined, { type: 'Ready', status: 'True', reason: 'Issued', message: 'ok' }, t0, 3);
    expect(list).toEqual([{ type: 'Ready', status: 'True', reason: 'Issued', message: 'ok', lastTransitionTime: t0.toISOString(), observedGeneration: 3 }]);
  });

  it('keeps lastTransitionTime when only reason, message or generation change', () => {
    let list = setCondition(undefined, { type: 'Ready', status: 'False', reason: 'ProviderUnavailable', message: 'a' }, t0, 1);
    list = setCondition(list, { type: 'Ready', status: 'False', reason: 'ProviderRateLimited', message: 'b' }, t1, 2);
    expect(getCondition(list, 'Ready')).toMatchObject({ reason: 'ProviderRateLimited', message: 'b', observedGeneration: 2, lastTransitionTime: t0.toISOString() });
  });

  it('moves lastTransitionTime on every status flip', () => {
    let list = setCondition(undefined, { type: 'Ready', status: 'Unknown', reason: 'Reconciling', message: '' }, t0, 1);
    list = setCondition(list, { type: 'Ready', status: 'True', reason: 'Issued', message: '' }, t1, 1);
    expect(getCondition(list, 'Ready')?.lastTransitionTime).toBe(t1.toISOString());
    list = setCondition(list, { type: 'Ready', status: 'True', reason: 'Rotated', message: '' }, t2, 1);
    expect(getCondition(list, 'Ready')?.lastTransitionTime).toBe(t1.toISOString());
    list = setCondition(list, { type: 'Ready', status: 'False', reason: 'ProviderUnauthorized', message: '' }, t2, 1);
    expect(getCondition(list, 'Ready')?.lastTransitionTime).toBe(t2.toISOString());
  });

  it('replaces in place, keeps the order and the other conditions, and does not mutate its input', () => {
    const before: Condition[] = [
      { type: 'Ready', status: 'True', reason: 'Issued', message: '', lastTransitionTime: t0.toISOString() },
      { type: 'Stalled', status: 'False', reason: 'Issued', message: '', lastTransitionTime: t0.toISOString() },
    ];
    const snapshot = structuredClone(before);
    const after = setCondition(before, { type: 'Ready', status: 'False', reason: 'X', message: 'y' }, t1, 2);
    expect(before).toEqual(snapshot);
    expect(after.map((c) => c.type)).toEqual(['Ready', 'Stalled']);
    expect(after[1]).toBe(before[1]);
  });

  it('leaves observedGeneration out when the generation is unknown', () => {
    const list = setCondition(undefined, { type: 'Ready', status: 'True', reason: 'Issued', message: '' }, t0, undefined);
    expect(list[0]).not.toHaveProperty('observedGeneration');
  });

  it('is idempotent: setting the same input twice gives equal lists', () => {
    const input = { type: 'Ready', status: 'True', reason: 'Issued', message: 'ok' } as const;
    const a = setCondition(undefined, input, t0, 1);
    const b = setCondition(a, input, t2, 1);
    expect(b).toEqual(a);
  });
});

describe('getCondition, isTrue, removeCondition', () => {
  const list = setCondition(
    setCondition(undefined, { type: 'Ready', status: 'True', reason: 'Issued', message: '' }, t0, 1),
    { type: 'Stalled', status: 'False', reason: 'Issued', message: '' },
    t0,
    1,
  );

  it('finds by type', () => {
    expect(getCondition(list, 'Stalled')?.status).toBe('False');
    expect(getCondition(list, 'Nope')).toBeUndefined();
    expect(getCondition(undefined, 'Ready')).toBeUndefined();
  });

  it('isTrue only for status True', () => {
    expect(isTrue(list, 'Ready')).toBe(true);
    expect(isTrue(list, 'Stalled')).toBe(false);
    expect(isTrue(list, 'Missing')).toBe(false);
    expect(isTrue(undefined, 'Ready')).toBe(false);
  });

  it('removes by type', () => {
    expect(removeCondition(list, 'Stalled').map((c) => c.type)).toEqual(['Ready']);
    expect(removeCondition(undefined, 'Ready')).toEqual([]);
    expect(list).toHaveLength(2);
  });
});
