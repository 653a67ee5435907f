import { describe, expect, it } from 'vitest';
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE, labelValue, secretData, secretLabels } from '../../../src/runtime/secret-writer.js';

// Kubernetes' label-value rule: at most 63 characters, empty or alphanumeric at both ends, -_. inside.
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const valid = (v: string) => v.length <= 63 && LABEL_VALUE.test(v);

describe('labelValue', () => {
  it('keeps valid values as they are', () => {
    for (const v of ['datachain', 'a', 'zalando-dds', 'report_key.v2', 'x'.repeat(63), 'A1']) expect(labelValue(v)).toBe(v);
  });

  it.each([
    ['a 64-character name', 'x'.repeat(64)],
    ['a 253-character name', `${'a'.repeat(60)}.${'b'.repeat(60)}.${'c'.repeat(60)}.${'d'.repeat(70)}`],
    ['a name ending in a dash at the cut', `${'a'.repeat(51)}-----${'b'.repeat(20)}`],
    ['a name ending in a dot at the cut', `${'a'.repeat(51)}.${'b'.repeat(20)}`],
    ['a leading dot', '.hidden'],
    ['a leading dash', '-x'],
    ['a trailing dot', 'x.'],
    ['slashes and colons', 'ns/name:with/odd'],
    ['spaces', 'hello world'],
    ['unicode', 'zürich-daten-ü'],
    ['an emoji', 'token-🔑'],
    ['only odd characters', '///'],
    ['only dashes, long', '-'.repeat(100)],
  ])('turns %s into a valid label value', (_what, name) => {
    const v = labelValue(name);
    expect(valid(v), `${JSON.stringify(v)} (${v.length})`).toBe(true);
    expect(v.length).toBeGreaterThan(0);
  });

  it('is stable, and keeps long names apart by a hash', () => {
    const a = `${'a'.repeat(70)}-one`;
    const b = `${'a'.repeat(70)}-two`;
    expect(labelValue(a)).toBe(labelValue(a));
    expect(labelValue(a)).not.toBe(labelValue(b));
    expect(labelValue(a).startsWith('a'.repeat(40))).toBe(true); // still readable
  });

  it('gives valid values for arbitrary input', () => {
    const alphabet = 'abcXYZ019-_./: ü';
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let i = 0; i < 2_000; i++) {
      const len = 1 + Math.floor(rnd() * 120);
      const s = Array.from({ length: len }, () => alphabet[Math.floor(rnd() * alphabet.length)]).join('');
      const v = labelValue(s);
      expect(valid(v), `${JSON.stringify(s)} → ${JSON.stringify(v)}`).toBe(true);
    }
  });
});

describe('secretLabels', () => {
  it('sets the ownership labels, which extra labels cannot override', () => {
    const labels = secretLabels('AccessToken', 'x'.repeat(80), {
      team: 'a',
      [MANAGED_BY_LABEL]: 'someone-else',
      'token-operator.io/owner-kind': 'Spoof',
    });
    expect(labels.team).toBe('a');
    expect(labels[MANAGED_BY_LABEL]).toBe(MANAGED_BY_VALUE);
    expect(labels['token-operator.io/owner-kind']).toBe('AccessToken');
    expect(valid(labels['token-operator.io/owner-name']!)).toBe(true);
  });
});

describe('secretData', () => {
  it('decodes base64 data, and is empty for a missing Secret', () => {
    const enc = (s: string) => Buffer.from(s).toString('base64');
    expect(secretData({ data: { a: enc('x'), b: enc('ü\n') } })).toEqual({ a: 'x', b: 'ü\n' });
    expect(secretData(undefined)).toEqual({});
    expect(secretData({})).toEqual({});
  });
});
