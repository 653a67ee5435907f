import { describe, expect, it } from 'vitest';
import type { AccessToken, AccessTokenSpec, AccessTokenStatus } from '../../../src/api/index.js';
import {
  OFFLINE_KEEPALIVE_MS,
  chooseCredential,
  failedWithoutEffect,
  grantTypeOf,
  nextRenewal,
  planAccessToken,
} from '../../../src/controllers/accesstoken/plan.js';
import type { SecretState } from '../../../src/controllers/shared/secret-state.js';

const NOW = new Date('2026-11-23T10:00:00Z');
const MIN = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
const at = (ms: number) => new Date(NOW.getTime() + ms).toISOString();

const OIDC: Partial<AccessTokenSpec> = {
  oidc: {
    tokenUrl: 'https://dc.example.fr/auth/realms/dc-realm/protocol/openid-connect/token',
    clientId: 'pydc',
    refreshTokenSecretRef: { name: 'seed', key: 'refresh_token' },
  },
};
const GNAP: Partial<AccessTokenSpec> = {
  gnap: {
    walletAddressUrl: 'https://ilp.example/alice',
    keyId: 'k1',
    privateKeySecretRef: { name: 'key', key: 'private.pem' },
    accessTokenSecretRef: { name: 'grant', key: 'access_token' },
    manageUrlSecretRef: { name: 'grant', key: 'manage_url' },
  },
};

function at_(spec: Partial<AccessTokenSpec>, status?: AccessTokenStatus, meta: { annotations?: Record<string, string>; generation?: number } = {}): AccessToken {
  return {
    apiVersion: 'token-operator.io/v1alpha1',
    kind: 'AccessToken',
    metadata: { name: 'datachain', namespace: 'analytics', uid: 'uid-1', generation: meta.generation ?? 1, ...(meta.annotations ? { annotations: meta.annotations } : {}) },
    spec: { target: { secretName: 'out' }, ...spec } as AccessTokenSpec,
    ...(status ? { status } : {}),
  };
}

const none: SecretState = { exists: false, owned: false, revision: 0, data: {} };
const oidcSecret: SecretState = { exists: true, owned: true, revision: 3, data: { access_token: 'a', token_type: 'Bearer', expires_at: at(MIN), refresh_token: 'r' } };
const gnapSecret: SecretState = { exists: true, owned: true, revision: 3, data: { access_token: 'a', manage_url: 'https://as/token/1', expires_at: at(MIN), access: '[]' } };

/** an oidc token refreshed 40 s ago, a 300 s access token, an offline refresh token */
const oidcLive: AccessTokenStatus = {
  grantType: 'oidc',
  revision: 3,
  observedGeneration: 1,
  lastRotationTime: at(-40_000),
  expirationTime: at(260_000),
  seedHMAC: 'hmac-sha256:seed',
};
/** a gnap token rotated a minute ago, 10 minute lifetime */
const gnapLive: AccessTokenStatus = { grantType: 'gnap', revision: 3, observedGeneration: 1, lastRotationTime: at(-MIN), expirationTime: at(9 * MIN) };

describe('planAccessToken: gates', () => {
  it('Suspended wins over everything (even a refusal, a crash marker or a rotate request)', () => {
    const s: AccessTokenStatus = { ...oidcLive, credentialRefused: 'SessionNotActive', pendingRefreshSince: at(-MIN) };
    expect(planAccessToken(at_({ ...OIDC, suspend: true }, s, { annotations: { 'token-operator.io/rotate': 'x' } }), oidcSecret, NOW)).toEqual({ action: 'Suspended' });
  });

  it('InvalidSpec with neither or both variants (admission normally refuses it)', () => {
    expect(planAccessToken(at_({}), none, NOW)).toMatchObject({ action: 'InvalidSpec', message: expect.stringContaining('exactly one of oidc and gnap') });
    expect(planAccessToken(at_({ ...OIDC, ...GNAP }), none, NOW)).toMatchObject({ action: 'InvalidSpec' });
    expect(grantTypeOf(at_(OIDC))).toBe('oidc');
    expect(grantTypeOf(at_(GNAP))).toBe('gnap');
  });
});

describe('planAccessToken: a refused credential', () => {
  const refused: AccessTokenStatus = { ...oidcLive, credentialRefused: 'RefreshTokenExpired' };

  it('AwaitNewSeed: no provider call while nothing changed', () => {
    expect(planAccessToken(at_(OIDC, refused), oidcSecret, NOW)).toEqual({ action: 'AwaitNewSeed', refusal: 'RefreshTokenExpired' });
    // not even when the access token's rotation time passed long ago
    expect(planAccessToken(at_(OIDC, refused), oidcSecret, new Date(NOW.getTime() + 30 * DAY))).toMatchObject({ action: 'AwaitNewSeed' });
  });

  it('a new rotate request retries once, and is marked handled', () => {
    expect(planAccessToken(at_(OIDC, refused, { annotations: { 'token-operator.io/rotate': 'retry-1' } }), oidcSecret, NOW)).toEqual({
      action: 'Refresh',
      grantType: 'oidc',
      reason: 'RotateRequested',
      recovering: false,
      rotateRequest: 'retry-1',
    });
    const handled = { ...refused, lastHandledRotateRequest: 'retry-1' };
    expect(planAccessToken(at_(OIDC, handled, { annotations: { 'token-operator.io/rotate': 'retry-1' } }), oidcSecret, NOW)).toMatchObject({ action: 'AwaitNewSeed' });
  });

  it('a spec change (e.g. a fixed clientId) retries', () => {
    expect(planAccessToken(at_(OIDC, refused, { generation: 2 }), oidcSecret, NOW)).toEqual({ action: 'Refresh', grantType: 'oidc', reason: 'SpecChanged', recovering: false });
  });

  it('the same for gnap', () => {
    expect(planAccessToken(at_(GNAP, { ...gnapLive, credentialRefused: 'TokenLost' }), gnapSecret, NOW)).toEqual({ action: 'AwaitNewSeed', refusal: 'TokenLost' });
  });
});

describe('planAccessToken: a credential found dead by a liveness check', () => {
  const dead = (s: AccessTokenStatus): AccessTokenStatus => ({ ...s, credentialRevokedTime: at(-MIN) });

  it('refreshes (oidc) or rotates (gnap) at once: a refusal then waits for a person as usual', () => {
    expect(planAccessToken(at_(OIDC, dead(oidcLive)), oidcSecret, NOW)).toEqual({ action: 'Refresh', grantType: 'oidc', reason: 'CredentialRevoked', recovering: false });
    expect(planAccessToken(at_(GNAP, dead(gnapLive)), gnapSecret, NOW)).toMatchObject({ action: 'Refresh', grantType: 'gnap', reason: 'CredentialRevoked' });
    expect(planAccessToken(at_(OIDC, { ...dead(oidcLive), credentialRefused: 'SessionNotActive' }), oidcSecret, NOW)).toEqual({ action: 'AwaitNewSeed', refusal: 'SessionNotActive' });
  });

  it('a crash recovery comes first (present the same credential once more)', () => {
    expect(planAccessToken(at_(OIDC, { ...dead(oidcLive), pendingRefreshSince: at(-MIN) }), oidcSecret, NOW)).toMatchObject({ reason: 'Recover', recovering: true });
  });
});

describe('planAccessToken: crash recovery', () => {
  it('Refresh Recover (recovering) while the crash marker is set: a call was sent, its answer never stored', () => {
    const s = { ...oidcLive, pendingRefreshSince: at(-MIN) };
    expect(planAccessToken(at_(OIDC, s), oidcSecret, NOW)).toEqual({ action: 'Refresh', grantType: 'oidc', reason: 'Recover', recovering: true });
    expect(planAccessToken(at_(GNAP, { ...gnapLive, pendingRefreshSince: at(-MIN) }), gnapSecret, NOW)).toMatchObject({ reason: 'Recover', recovering: true });
  });

  it('also on the very first issue, and with a rotate request riding along', () => {
    const s: AccessTokenStatus = { pendingRefreshSince: at(-MIN) };
    expect(planAccessToken(at_(OIDC, s, { annotations: { 'token-operator.io/rotate': 'r' } }), none, NOW)).toEqual({
      action: 'Refresh',
      grantType: 'oidc',
      reason: 'Recover',
      recovering: true,
      rotateRequest: 'r',
    });
  });
});

describe('planAccessToken: renew', () => {
  it('FirstIssue when nothing was issued yet (the seed is refreshed at once, which validates it)', () => {
    expect(planAccessToken(at_(OIDC), none, NOW)).toEqual({ action: 'Refresh', grantType: 'oidc', reason: 'FirstIssue', recovering: false });
    expect(planAccessToken(at_(GNAP, { observedGeneration: 1 }), none, NOW)).toEqual({ action: 'Refresh', grantType: 'gnap', reason: 'FirstIssue', recovering: false });
  });

  it('a first issue also satisfies a pending rotate request', () => {
    expect(planAccessToken(at_(OIDC, undefined, { annotations: { 'token-operator.io/rotate': 'r1' } }), none, NOW)).toMatchObject({ reason: 'FirstIssue', rotateRequest: 'r1' });
  });

  it('GrantTypeChanged when the spec switched variant', () => {
    expect(planAccessToken(at_(GNAP, oidcLive), oidcSecret, NOW)).toEqual({ action: 'Refresh', grantType: 'gnap', reason: 'GrantTypeChanged', recovering: false });
  });

  it('SecretLost when the target Secret is gone', () => {
    expect(planAccessToken(at_(OIDC, oidcLive), none, NOW)).toMatchObject({ action: 'Refresh', reason: 'SecretLost' });
  });

  it('RotateRequested for a new annotation value, not for the one already handled', () => {
    expect(planAccessToken(at_(OIDC, oidcLive, { annotations: { 'token-operator.io/rotate': 'now' } }), oidcSecret, NOW)).toEqual({
      action: 'Refresh',
      grantType: 'oidc',
      reason: 'RotateRequested',
      recovering: false,
      rotateRequest: 'now',
    });
    const handled = { ...oidcLive, lastHandledRotateRequest: 'now' };
    expect(planAccessToken(at_(OIDC, handled, { annotations: { 'token-operator.io/rotate': 'now' } }), oidcSecret, NOW)).toMatchObject({ action: 'Wait' });
  });

  it('RotationDue at 67% of the access token lifetime (default rotateBeforePercent 33, minus jitter)', () => {
    // issued at -40 s, expires at +260 s: 300 s lifetime, due 99 s before expiry, jitter ≤ 15 s
    const plan = planAccessToken(at_(OIDC, oidcLive), oidcSecret, NOW);
    expect(plan.action).toBe('Wait');
    const next = (plan as { nextRotation: Date }).nextRotation.getTime();
    expect(next).toBeLessThanOrEqual(NOW.getTime() + 161_000);
    expect(next).toBeGreaterThanOrEqual(NOW.getTime() + 161_000 - 15_000);
    expect(planAccessToken(at_(OIDC, oidcLive), oidcSecret, new Date(next))).toEqual({ action: 'Refresh', grantType: 'oidc', reason: 'RotationDue', recovering: false });
    expect(planAccessToken(at_(OIDC, oidcLive), oidcSecret, new Date(next - 1))).toMatchObject({ action: 'Wait' });
  });

  it('RotationDue when already expired (the operator was down)', () => {
    expect(planAccessToken(at_(GNAP, gnapLive), gnapSecret, new Date(NOW.getTime() + HOUR))).toMatchObject({ reason: 'RotationDue' });
  });

  it('gnap: 10 minute tokens are rotated with about a third of their life left', () => {
    const plan = planAccessToken(at_(GNAP, gnapLive), gnapSecret, NOW) as { action: string; nextRotation: Date };
    expect(plan.action).toBe('Wait');
    // lifetime 600 s → due 198 s before expiry (+9 min), jitter ≤ 30 s
    const due = NOW.getTime() + 9 * MIN - 198_000;
    expect(plan.nextRotation.getTime()).toBeLessThanOrEqual(due);
    expect(plan.nextRotation.getTime()).toBeGreaterThanOrEqual(due - 30_000);
  });

  it('rotateBefore, schedule and jitterPercent come from spec.rotation', () => {
    const spec = { ...GNAP, rotation: { rotateBefore: '2m', jitterPercent: 0 } };
    expect(planAccessToken(at_(spec, gnapLive), gnapSecret, NOW)).toEqual({ action: 'Wait', nextRotation: new Date(NOW.getTime() + 7 * MIN) });
    // a cron window whose next slot (10:10) comes after expiry (10:09) is ignored: never later than expiry
    const cron = { ...GNAP, rotation: { rotateBefore: '2m', jitterPercent: 0, schedule: '*/5 * * * *' } };
    expect(planAccessToken(at_(cron, gnapLive), gnapSecret, NOW)).toEqual({ action: 'Wait', nextRotation: new Date('2026-11-23T10:07:00Z') });
  });

  it('a cron slot before expiry delays a due rotation to that slot', () => {
    const long: AccessTokenStatus = { ...oidcLive, lastRotationTime: NOW.toISOString(), expirationTime: at(10 * HOUR) };
    const spec = { ...OIDC, rotation: { rotateBefore: '2h', jitterPercent: 0, schedule: '0 3 * * *' } };
    // due 18:00, next 03:00 slot is after expiry (20:00) → stays 18:00
    expect(planAccessToken(at_(spec, long), oidcSecret, NOW)).toEqual({ action: 'Wait', nextRotation: new Date('2026-11-23T18:00:00Z') });
    const hourly = { ...OIDC, rotation: { rotateBefore: '2h', jitterPercent: 0, schedule: '30 * * * *' } };
    expect(planAccessToken(at_(hourly, long), oidcSecret, NOW)).toEqual({ action: 'Wait', nextRotation: new Date('2026-11-23T18:30:00Z') });
  });
});

describe('nextRenewal: oidc refresh-token lifetimes', () => {
  it('KeepAlive: an offline token is refreshed weekly even when the access token lives a month', () => {
    const s: AccessTokenStatus = { ...oidcLive, lastRotationTime: NOW.toISOString(), expirationTime: at(30 * DAY) };
    expect(nextRenewal(at_(OIDC, s), s)).toEqual({ at: new Date(NOW.getTime() + OFFLINE_KEEPALIVE_MS), keepAlive: true });
    expect(planAccessToken(at_(OIDC, s), oidcSecret, new Date(NOW.getTime() + 7 * DAY))).toEqual({ action: 'Refresh', grantType: 'oidc', reason: 'KeepAlive', recovering: false });
    expect(planAccessToken(at_(OIDC, s), oidcSecret, new Date(NOW.getTime() + 7 * DAY - 1))).toMatchObject({ action: 'Wait' });
  });

  it('not for gnap (no offline sessions there)', () => {
    const s: AccessTokenStatus = { ...gnapLive, lastRotationTime: NOW.toISOString(), expirationTime: at(30 * DAY) };
    expect(nextRenewal(at_(GNAP, s), s)?.keepAlive).toBe(false);
  });

  it('a refresh token that lapses before the access token decides (online session idle timeout)', () => {
    const s: AccessTokenStatus = {
      ...oidcLive,
      lastRotationTime: NOW.toISOString(),
      expirationTime: at(HOUR),
      refreshTokenExpirationTime: at(30 * MIN),
    };
    const spec = { ...OIDC, rotation: { rotateBeforePercent: 50, jitterPercent: 0 } };
    expect(nextRenewal(at_(spec, s), s)).toEqual({ at: new Date(NOW.getTime() + 15 * MIN), keepAlive: false });
  });

  it('undefined before anything was issued', () => {
    expect(nextRenewal(at_(OIDC), {})).toBeUndefined();
  });

  it('the jitter is stable per resource and revision', () => {
    const a = nextRenewal(at_(OIDC, oidcLive), oidcLive)!.at;
    expect(nextRenewal(at_(OIDC, oidcLive), oidcLive)!.at).toEqual(a);
    const other = { ...oidcLive, revision: 4 };
    expect(nextRenewal(at_(OIDC, other), other)!.at).not.toEqual(a);
  });
});

describe('chooseCredential', () => {
  const base = { seedHmac: 'A', recordedSeedHmac: 'A', hasStored: true, hasMemory: true };

  it('the stored credential once the seed was used (the seed is spent with rotation on)', () => {
    expect(chooseCredential(base)).toBe('stored');
  });

  it('a seed different from the recorded one wins: a person pasted a new token', () => {
    expect(chooseCredential({ ...base, seedHmac: 'B' })).toBe('seed');
  });

  it('the seed on a first issue', () => {
    expect(chooseCredential({ seedHmac: 'A', recordedSeedHmac: undefined, hasStored: false, hasMemory: false })).toBe('seed');
  });

  it('status lost but the Secret holds a credential: trust the Secret, never a possibly spent seed', () => {
    expect(chooseCredential({ seedHmac: 'A', recordedSeedHmac: undefined, hasStored: true, hasMemory: false })).toBe('stored');
  });

  it('Secret deleted: what this process last wrote, else the seed as a last resort', () => {
    expect(chooseCredential({ ...base, hasStored: false })).toBe('memory');
    expect(chooseCredential({ ...base, hasStored: false, hasMemory: false })).toBe('seed');
  });

  it('the seed Secret may go once the operator holds the credential', () => {
    expect(chooseCredential({ ...base, seedHmac: undefined })).toBe('stored');
    expect(chooseCredential({ seedHmac: undefined, recordedSeedHmac: 'A', hasStored: false, hasMemory: false })).toBeUndefined();
  });
});

describe('failedWithoutEffect', () => {
  it('a definite 4xx answer changed nothing', () => {
    expect(failedWithoutEffect({ status: 400, kind: 'Unauthorized' })).toBe(true);
    expect(failedWithoutEffect({ status: 429, kind: 'RateLimited' })).toBe(true);
  });

  it('a 5xx, a timeout or an unknown error may have (a proxy, a lost reply, a crash)', () => {
    expect(failedWithoutEffect({ status: 500, kind: 'Retryable' })).toBe(false);
    expect(failedWithoutEffect({ kind: 'Retryable' })).toBe(false);
    expect(failedWithoutEffect(undefined)).toBe(false);
  });

  it('a request refused before it was sent (no status, Invalid) changed nothing', () => {
    expect(failedWithoutEffect({ kind: 'Invalid' })).toBe(true);
  });
});
