import { describe, expect, it } from 'vitest';
import { ProviderError, isProviderError, kindForStatus, parseRetryAfter, sanitize } from '../../../src/providers/errors.js';

const JWT =
  'eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c';

describe('sanitize', () => {
  it('replaces JWTs and other long opaque runs', () => {
    const out = sanitize(`invalid_grant: token ${JWT} is expired`);
    expect(out).toBe('invalid_grant: token [redacted] is expired');
    expect(sanitize('bearer dapiAbCdEf0123456789abcdefXYZ rejected')).toBe('bearer [redacted] rejected');
    expect(sanitize('key c2VjcmV0LXZhbHVlLXRoYXQtaXMtbG9uZw== refused')).toBe('key [redacted] refused');
  });

  it('keeps a bare host name, however long, but not a token shaped almost like one', () => {
    expect(sanitize('activate: egress to api-sandbox.merchants.zalando.com:443 refused')).toBe('activate: egress to api-sandbox.merchants.zalando.com:443 refused');
    expect(sanitize('token abcdefghijklmnopqrstuvwxyz0123456789 and abc.defghijklmnopqrstuvwxyz.a1b2c3 and Api.Example-Corp.Internal.Com')).toBe('token [redacted] and [redacted] and [redacted]');
  });

  it('keeps short words, codes and numbers', () => {
    const text = 'rotate-tokens: HTTP 409 (TwoTokenCeiling) after 3 attempts';
    expect(sanitize(text)).toBe(text);
  });

  it('strips URL query strings and fragments', () => {
    expect(sanitize('GET https://a.example/t?token=abc&x=1 failed')).toBe('GET https://a.example/t?… failed');
    // long hosts and paths count as opaque runs (an activation link carries its token in the path)
    const long = sanitize('GET https://api-sandbox.merchants.zalando.com/activate/abc?token=abc failed');
    expect(long).not.toContain('token=abc');
    expect(long).not.toContain('/activate/abc');
    expect(sanitize('redirect to https://idp.example/cb#access_token=abc')).toBe('redirect to https://idp.example/cb?…');
    expect(sanitize('see http://localhost:8080/x?code=1')).toBe('see http://localhost:8080/x?…');
  });

  it('strips userinfo from URLs', () => {
    expect(sanitize('connect https://user:hunter2@api.example.com/x failed')).toBe('connect https://api.example.com/x failed');
    expect(sanitize('https://user:p%40ss@host/')).toBe('https://host/');
    expect(sanitize('https://token@host')).toBe('https://host');
  });

  it('strips userinfo whose password holds a raw "@"', () => {
    const out = sanitize('https://user:p@ss@host.example/x');
    expect(out).toBe('https://host.example/x');
    expect(out).not.toContain('ss@');
  });

  it('strips userinfo from non-http URLs too', () => {
    expect(sanitize('dial postgres://app:hunter2@db:5432/x')).toBe('dial postgres://db:5432/x');
  });

  it('handles all three in one message', () => {
    const out = sanitize(`POST https://u:pw@a.example/t?refresh_token=r1 said ${JWT}`);
    expect(out).not.toMatch(/pw|r1|eyJ/);
  });

  it('caps the length at 512', () => {
    expect(sanitize('word '.repeat(500)).length).toBe(512);
  });
});

describe('ProviderError', () => {
  it('sanitizes its message and keeps only short vendor codes', () => {
    const e = new ProviderError('Invalid', `refresh: HTTP 400 (${JWT})`, { provider: 'oidc', call: 'refresh', status: 400, code: 'invalid_grant' });
    expect(e.message).toBe('refresh: HTTP 4xx ([redacted])');
    expect(e.code).toBe('invalid_grant');
    expect(new ProviderError('Invalid', 'x', { provider: 'p', call: 'c', code: JWT }).code).toBe('unrecognized');
    expect(new ProviderError('Invalid', 'x', { provider: 'p', call: 'c', code: 'has space' }).code).toBe('unrecognized');
    expect(isProviderError(e)).toBe(true);
    expect(isProviderError(new Error('x'))).toBe(false);
  });

  it('calls Retryable, RateLimited and BadResponse transient, the rest not', () => {
    const t = (kind: ConstructorParameters<typeof ProviderError>[0]) => new ProviderError(kind, 'm', { provider: 'p', call: 'c' }).transient;
    expect(['Retryable', 'RateLimited', 'BadResponse'].map((k) => t(k as never))).toEqual([true, true, true]);
    expect(['Unauthorized', 'Invalid', 'NotFound', 'Conflict'].map((k) => t(k as never))).toEqual([false, false, false, false]);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-11-23T10:00:00Z');

  it('reads delta-seconds', () => {
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter(' 7 ', now)).toBe(7_000);
    expect(parseRetryAfter('0', now)).toBe(0);
  });

  it('reads fractional seconds, rounding up, rather than mistaking them for a date', () => {
    expect(parseRetryAfter('1.5', now)).toBe(1_500);
    expect(parseRetryAfter('0.0001', now)).toBe(1);
  });

  it('reads an HTTP-date', () => {
    expect(parseRetryAfter('Mon, 23 Nov 2026 10:01:30 GMT', now)).toBe(90_000);
  });

  it('answers 0 for a date in the past', () => {
    expect(parseRetryAfter('Mon, 23 Nov 2026 09:00:00 GMT', now)).toBe(0);
  });

  it('ignores what it cannot read', () => {
    for (const v of [null, undefined, '', '   ', 'soon', '-5', '10s', '1e3', 'NaN']) expect(parseRetryAfter(v, now), String(v)).toBeUndefined();
  });
});

describe('kindForStatus', () => {
  it.each([
    [400, 'Invalid'],
    [401, 'Unauthorized'],
    [403, 'Unauthorized'],
    [404, 'NotFound'],
    [405, 'Invalid'],
    [408, 'Retryable'],
    [409, 'Conflict'],
    [410, 'NotFound'],
    [422, 'Invalid'],
    [429, 'RateLimited'],
    [500, 'Retryable'],
    [502, 'Retryable'],
    [503, 'Retryable'],
    [504, 'Retryable'],
  ])('%d → %s', (status, kind) => {
    expect(kindForStatus(status)).toBe(kind);
  });
});
