import { describe, expect, it } from 'vitest';
import type { DataToken, DataTokenSpec, DataTokenStatus } from '../../../src/api/index.js';
import { nextRefreshTime, planDataToken } from '../../../src/controllers/datatoken/plan.js';
import type { SecretState } from '../../../src/controllers/shared/secret-state.js';

const NOW = new Date('2026-11-23T10:00:00Z');
const HOUR = 3_600_000;
const TOKEN = 'dtk-current';
const HMAC = 'hmac-sha256:input';

const privicore = { apiUrl: 'https://stage.privicore.com:9009', profileSecretRef: { name: 'profile' } };
const SOURCE: Partial<DataTokenSpec> = { source: { secretKeyRef: { name: 'src', key: 'key.pem' }, context: 'analytics.reports' } };
const TOKEN_REF: Partial<DataTokenSpec> = { tokenRef: { secretKeyRef: { name: 'shared', key: 'token' } } };

function dt(spec: Partial<DataTokenSpec>, status?: DataTokenStatus, annotations?: Record<string, string>): DataToken {
  return {
    apiVersion: 'token-operator.io/v1alpha1',
    kind: 'DataToken',
    metadata: { name: 'report-key', namespace: 'analytics', uid: 'uid-1', generation: 1, ...(annotations ? { annotations } : {}) },
    spec: { privicore, target: { secretName: 'out' }, ...spec } as DataTokenSpec,
    ...(status ? { status } : {}),
  };
}

const none: SecretState = { exists: false, owned: false, revision: 0, data: {} };
const sourceSecret: SecretState = { exists: true, owned: true, revision: 1, data: { data_token: TOKEN, context: 'analytics.reports' } };
const dataSecret: SecretState = { exists: true, owned: true, revision: 1, data: { data: 'payload' } };

/** a source-mode resource after its first exchange */
const issued: DataTokenStatus = { tokenId: TOKEN, tokenOrigin: 'Tokenized', sourceHMAC: HMAC, revision: 1, lastRotationTime: NOW.toISOString() };
/** a tokenRef-mode resource resolved an hour ago */
const resolved: DataTokenStatus = { tokenId: TOKEN, tokenOrigin: 'Referenced', sourceHMAC: HMAC, revision: 1, lastRotationTime: new Date(NOW.getTime() - HOUR).toISOString() };

describe('planDataToken: both modes', () => {
  it('Suspended wins over everything, before any input is read', () => {
    expect(planDataToken(dt({ ...SOURCE, suspend: true }), none, undefined, NOW)).toEqual({ action: 'Suspended' });
    expect(planDataToken(dt({ ...TOKEN_REF, suspend: true }, resolved, { 'token-operator.io/rotate': 'x' }), none, undefined, NOW)).toEqual({ action: 'Suspended' });
  });
});

describe('planDataToken: source mode', () => {
  it('Tokenize FirstIssue when no token is known', () => {
    expect(planDataToken(dt(SOURCE), none, HMAC, NOW)).toEqual({ action: 'Tokenize', reason: 'FirstIssue' });
  });

  it('a first issue also satisfies a pending rotate request', () => {
    expect(planDataToken(dt(SOURCE, undefined, { 'token-operator.io/rotate': 'r1' }), none, HMAC, NOW)).toEqual({
      action: 'Tokenize',
      reason: 'FirstIssue',
      rotateRequest: 'r1',
    });
  });

  it('Tokenize SourceChanged when the input HMAC differs (data, context or endpoint)', () => {
    expect(planDataToken(dt(SOURCE, issued), sourceSecret, 'hmac-sha256:other', NOW)).toEqual({ action: 'Tokenize', reason: 'SourceChanged' });
  });

  it('Tokenize SourceChanged also when the input was not read (never trusts a missing HMAC)', () => {
    expect(planDataToken(dt(SOURCE, issued), sourceSecret, undefined, NOW)).toMatchObject({ action: 'Tokenize', reason: 'SourceChanged' });
  });

  it('Tokenize RotateRequested on a new rotate annotation value, once', () => {
    const res = dt(SOURCE, issued, { 'token-operator.io/rotate': 'r2' });
    expect(planDataToken(res, sourceSecret, HMAC, NOW)).toEqual({ action: 'Tokenize', reason: 'RotateRequested', rotateRequest: 'r2' });
    const handled = dt(SOURCE, { ...issued, lastHandledRotateRequest: 'r2' }, { 'token-operator.io/rotate': 'r2' });
    expect(planDataToken(handled, sourceSecret, HMAC, NOW)).toEqual({ action: 'Wait' });
  });

  it('RestoreSecret (no provider call) when the Secret is gone or its token was edited', () => {
    expect(planDataToken(dt(SOURCE, issued), none, HMAC, NOW)).toEqual({ action: 'RestoreSecret', reason: 'SecretLost' });
    const edited = { ...sourceSecret, data: { data_token: 'dtk-someone-else' } };
    expect(planDataToken(dt(SOURCE, issued), edited, HMAC, NOW)).toEqual({ action: 'RestoreSecret', reason: 'SecretLost' });
  });

  it('RemoveReplaced with deletionPolicy Revoke while replaced tokens are left', () => {
    const status = { ...issued, pendingRemovals: ['dtk-old'] };
    expect(planDataToken(dt({ ...SOURCE, deletionPolicy: 'Revoke' }, status), sourceSecret, HMAC, NOW)).toEqual({ action: 'RemoveReplaced', tokens: ['dtk-old'] });
    // Retain leaves them alone
    expect(planDataToken(dt({ ...SOURCE, deletionPolicy: 'Retain' }, status), sourceSecret, HMAC, NOW)).toEqual({ action: 'Wait' });
  });

  it('Wait with no schedule: data tokens never expire, so only the input check wakes it', () => {
    expect(planDataToken(dt({ ...SOURCE, rotation: { schedule: '0 3 * * 1' } }, issued), sourceSecret, HMAC, new Date(NOW.getTime() + 365 * 24 * HOUR))).toEqual({
      action: 'Wait',
    });
  });

  it('an input change outranks a lost Secret and a rotate request', () => {
    const res = dt(SOURCE, issued, { 'token-operator.io/rotate': 'r3' });
    expect(planDataToken(res, none, 'hmac-sha256:other', NOW)).toEqual({ action: 'Tokenize', reason: 'SourceChanged', rotateRequest: 'r3' });
  });
});

describe('planDataToken: a data token found deleted by a liveness check', () => {
  const dead = { ...issued, credentialRevokedTime: NOW.toISOString() };

  it('exchanges the source again (not a write-back of the deleted token)', () => {
    expect(planDataToken(dt(SOURCE, dead), sourceSecret, HMAC, NOW)).toEqual({ action: 'Tokenize', reason: 'CredentialRevoked' });
    expect(planDataToken(dt(SOURCE, dead), none, HMAC, NOW)).toEqual({ action: 'Tokenize', reason: 'CredentialRevoked' });
  });

  it('a changed source is still SourceChanged; tokenRef mode resolves again', () => {
    expect(planDataToken(dt(SOURCE, dead), sourceSecret, 'hmac-sha256:other', NOW)).toMatchObject({ reason: 'SourceChanged' });
    expect(planDataToken(dt(TOKEN_REF, { ...resolved, credentialRevokedTime: NOW.toISOString() }), dataSecret, HMAC, NOW)).toEqual({ action: 'Resolve', reason: 'CredentialRevoked' });
  });
});

describe('planDataToken: tokenRef mode', () => {
  it('Resolve FirstIssue when nothing was downloaded yet', () => {
    expect(planDataToken(dt(TOKEN_REF), none, HMAC, NOW)).toEqual({ action: 'Resolve', reason: 'FirstIssue' });
    expect(planDataToken(dt(TOKEN_REF, { tokenId: TOKEN }), dataSecret, HMAC, NOW)).toMatchObject({ action: 'Resolve', reason: 'FirstIssue' });
  });

  it('Resolve TokenChanged when the referenced token changed', () => {
    expect(planDataToken(dt(TOKEN_REF, resolved), dataSecret, 'hmac-sha256:other', NOW)).toEqual({ action: 'Resolve', reason: 'TokenChanged' });
  });

  it('Resolve RotateRequested on a new rotate annotation value', () => {
    const res = dt(TOKEN_REF, resolved, { 'token-operator.io/rotate': 'now' });
    expect(planDataToken(res, dataSecret, HMAC, NOW)).toEqual({ action: 'Resolve', reason: 'RotateRequested', rotateRequest: 'now' });
  });

  it('Resolve SecretLost when the Secret or its data key is gone (the data lives nowhere else)', () => {
    expect(planDataToken(dt(TOKEN_REF, resolved), none, HMAC, NOW)).toEqual({ action: 'Resolve', reason: 'SecretLost' });
    expect(planDataToken(dt(TOKEN_REF, resolved), { ...dataSecret, data: {} }, HMAC, NOW)).toEqual({ action: 'Resolve', reason: 'SecretLost' });
  });

  it('Wait until the refresh time, then Resolve RotationDue', () => {
    const res = dt(TOKEN_REF, resolved);
    const plan = planDataToken(res, dataSecret, HMAC, NOW);
    expect(plan.action).toBe('Wait');
    const next = (plan as { next: Date }).next;
    const last = Date.parse(resolved.lastRotationTime!);
    // default refreshInterval 24h, minus at most 5% jitter capped at 1h
    expect(next.getTime()).toBeLessThanOrEqual(last + 24 * HOUR);
    expect(next.getTime()).toBeGreaterThanOrEqual(last + 23 * HOUR);
    expect(planDataToken(res, dataSecret, HMAC, new Date(next.getTime() - 1))).toMatchObject({ action: 'Wait' });
    expect(planDataToken(res, dataSecret, HMAC, next)).toEqual({ action: 'Resolve', reason: 'RotationDue' });
  });

  it('RemoveReplaced (Revoke) only when nothing is due, else Wait', () => {
    const status = { ...resolved, pendingRemovals: ['dtk-ours'] };
    expect(planDataToken(dt({ ...TOKEN_REF, deletionPolicy: 'Revoke' }, status), dataSecret, HMAC, NOW)).toEqual({ action: 'RemoveReplaced', tokens: ['dtk-ours'] });
    expect(planDataToken(dt({ ...TOKEN_REF, deletionPolicy: 'Retain' }, status), dataSecret, HMAC, NOW)).toMatchObject({ action: 'Wait' });
  });
});

describe('nextRefreshTime', () => {
  const last = new Date('2026-11-23T10:00:00Z');

  it('honours refreshInterval and a stable jitter', () => {
    const res = dt({ ...TOKEN_REF, refreshInterval: '1h', rotation: { jitterPercent: 10 } });
    const a = nextRefreshTime(res, last, 3);
    expect(a.getTime()).toBeLessThanOrEqual(last.getTime() + HOUR);
    expect(a.getTime()).toBeGreaterThanOrEqual(last.getTime() + HOUR - 6 * 60_000);
    expect(nextRefreshTime(res, last, 3)).toEqual(a);
    expect(nextRefreshTime(dt({ ...TOKEN_REF, refreshInterval: '1h', rotation: { jitterPercent: 0 } }), last, 3)).toEqual(new Date(last.getTime() + HOUR));
  });

  it('waits for the next cron slot when a window is set', () => {
    const res = dt({ ...TOKEN_REF, refreshInterval: '1h', rotation: { schedule: '0 3 * * *', jitterPercent: 0 } });
    expect(nextRefreshTime(res, last, 1)).toEqual(new Date('2026-11-24T03:00:00Z'));
  });
});

describe('planDataToken: a Secret shaped by spec.target.template', () => {
  // its keys are the template's: the token id the operator wrote beside them says which token it holds
  const templated = (tokenId: string, data: Record<string, string> = { REPORT_TOKEN: 'whatever the template made' }): SecretState => ({
    exists: true,
    owned: true,
    revision: 1,
    tokenId,
    data,
    templated: true,
  });

  it('source mode: the current token, without a data_token key, is no reason to restore (steady state)', () => {
    expect(planDataToken(dt(SOURCE, issued), templated(TOKEN), HMAC, NOW)).toEqual({ action: 'Wait' });
  });

  it('source mode: a templated key named data_token is the template\'s, not the token', () => {
    expect(planDataToken(dt(SOURCE, issued), templated(TOKEN, { data_token: TOKEN.toUpperCase() }), HMAC, NOW)).toEqual({ action: 'Wait' });
  });

  it('source mode: a Secret holding another token is restored, templated or not', () => {
    expect(planDataToken(dt(SOURCE, issued), templated('dtk-old'), HMAC, NOW)).toEqual({ action: 'RestoreSecret', reason: 'SecretLost' });
  });

  it('tokenRef mode: no data key is no reason to download again; a missing Secret still is', () => {
    expect(planDataToken(dt(TOKEN_REF, resolved), templated(TOKEN), HMAC, NOW)).toMatchObject({ action: 'Wait' });
    expect(planDataToken(dt(TOKEN_REF, resolved), none, HMAC, NOW)).toEqual({ action: 'Resolve', reason: 'SecretLost' });
  });
});
