import { describe, expect, it } from 'vitest';
import { ROTATE_ANNOTATION, type DeltaShareToken, type DeltaShareTokenSpec, type DeltaShareTokenStatus } from '../../../src/api/index.js';
import { planDeltaShareToken } from '../../../src/controllers/deltasharetoken/plan.js';
import type { SecretState } from '../../../src/controllers/shared/secret-state.js';
import { nextRotationTime } from '../../../src/schedule/rotation.js';

const UID = '6f1c1f43-0000-4000-8000-000000000001';
const D = 86_400_000;
const issued = '2026-11-22T10:00:00.000Z';
const expires = '2027-02-20T10:00:00.000Z'; // 90 days
// rotateBefore 720h, no jitter: due 30 days before expiry
const due = new Date('2027-01-21T10:00:00.000Z');
const before = new Date(due.getTime() - 1);
const rotation = { rotateBefore: '720h', jitterPercent: 0 };

const ISSUED: DeltaShareTokenStatus = {
  tokenId: 'tok-1',
  expirationTime: expires,
  lastRotationTime: issued,
  revision: 1,
  conditions: [{ type: 'Ready', status: 'True', reason: 'Issued', message: '', lastTransitionTime: issued }],
};

function res(o: { spec?: Partial<DeltaShareTokenSpec>; status?: DeltaShareTokenStatus; rotate?: string } = {}): DeltaShareToken {
  return {
    apiVersion: 'token-operator.io/v1alpha1',
    kind: 'DeltaShareToken',
    metadata: { name: 'dds', namespace: 'analytics', uid: UID, generation: 1, ...(o.rotate !== undefined ? { annotations: { [ROTATE_ANNOTATION]: o.rotate } } : {}) },
    spec: {
      dds: { apiUrl: 'https://api.example.com', credentialsSecretRef: { name: 'zdirect' } },
      rotation,
      target: { secretName: 'dds-share' },
      ...o.spec,
    },
    ...(o.status ? { status: o.status } : {}),
  };
}

const OURS: SecretState = { exists: true, owned: true, revision: 1, tokenId: 'tok-1', data: { 'config.share': '{}' } };
const NONE: SecretState = { exists: false, owned: false, revision: 0, data: {} };
const FOREIGN: SecretState = { exists: true, owned: false, revision: 0, data: { other: 'x' } };

describe('planDeltaShareToken', () => {
  describe('suspend', () => {
    it('does nothing while suspended, whatever else is pending', () => {
      const r = res({ spec: { suspend: true }, status: { ...ISSUED, rotatedTokenExpirationTime: expires }, rotate: 'now' });
      expect(planDeltaShareToken(r, NONE, due)).toEqual({ action: 'Suspended' });
      expect(planDeltaShareToken(res({ spec: { suspend: true } }), NONE, due)).toEqual({ action: 'Suspended' });
    });

    it('suspend: false is not suspended', () => {
      expect(planDeltaShareToken(res({ spec: { suspend: false } }), NONE, before).action).toBe('Issue');
    });
  });

  describe('first issue', () => {
    it('issues without rotating when nothing was ever issued', () => {
      expect(planDeltaShareToken(res(), NONE, before)).toEqual({ action: 'Issue', reason: 'FirstIssue', rotate: false });
    });

    it('treats a Secret someone else owns like no Secret', () => {
      expect(planDeltaShareToken(res(), FOREIGN, before)).toEqual({ action: 'Issue', reason: 'FirstIssue', rotate: false });
    });

    it('issues when status knows a token id but no expiry (an interrupted first issue)', () => {
      expect(planDeltaShareToken(res({ status: { tokenId: 'tok-1' } }), NONE, before)).toMatchObject({ action: 'Issue', reason: 'FirstIssue' });
    });

    it('carries a pending rotate request along, so it counts as handled', () => {
      expect(planDeltaShareToken(res({ rotate: 'r1' }), NONE, before)).toEqual({ action: 'Issue', reason: 'FirstIssue', rotate: false, rotateRequest: 'r1' });
    });
  });

  describe('SecretLost', () => {
    it('rotates when the Secret is gone: the one-time link was consumed', () => {
      expect(planDeltaShareToken(res({ status: ISSUED }), NONE, before)).toEqual({ action: 'Issue', reason: 'SecretLost', rotate: true });
    });

    it('rotates when our Secret exists but status lost the token (status wiped, e.g. restored from backup)', () => {
      expect(planDeltaShareToken(res(), OURS, before)).toEqual({ action: 'Issue', reason: 'SecretLost', rotate: true });
    });

    it('a lost Secret outranks a rotate request as the reason, and handles it too', () => {
      expect(planDeltaShareToken(res({ status: ISSUED, rotate: 'r1' }), NONE, before)).toEqual({
        action: 'Issue',
        reason: 'SecretLost',
        rotate: true,
        rotateRequest: 'r1',
      });
    });
  });

  describe('rotate-now annotation', () => {
    it('rotates for a new value', () => {
      expect(planDeltaShareToken(res({ status: ISSUED, rotate: '2026-11-23T10:00:00Z' }), OURS, before)).toEqual({
        action: 'Issue',
        reason: 'RotateRequested',
        rotate: true,
        rotateRequest: '2026-11-23T10:00:00Z',
      });
    });

    it('rotates for a changed value', () => {
      const status = { ...ISSUED, lastHandledRotateRequest: 'r1' };
      expect(planDeltaShareToken(res({ status, rotate: 'r2' }), OURS, before)).toMatchObject({ action: 'Issue', reason: 'RotateRequested', rotateRequest: 'r2' });
    });

    it('does nothing for a value already handled', () => {
      const status = { ...ISSUED, lastHandledRotateRequest: 'r1' };
      expect(planDeltaShareToken(res({ status, rotate: 'r1' }), OURS, before)).toEqual({ action: 'Wait', nextRotation: due });
    });

    it('an empty annotation value is still a request', () => {
      expect(planDeltaShareToken(res({ status: ISSUED, rotate: '' }), OURS, before)).toMatchObject({ action: 'Issue', reason: 'RotateRequested', rotateRequest: '' });
    });
  });

  describe('rotation due', () => {
    it('waits until one millisecond before, rotates at the due time and after', () => {
      expect(planDeltaShareToken(res({ status: ISSUED }), OURS, before)).toEqual({ action: 'Wait', nextRotation: due });
      expect(planDeltaShareToken(res({ status: ISSUED }), OURS, due)).toEqual({ action: 'Issue', reason: 'RotationDue', rotate: true });
      expect(planDeltaShareToken(res({ status: ISSUED }), OURS, new Date(expires))).toMatchObject({ reason: 'RotationDue' });
    });

    it('counts the lifetime from lastRotationTime', () => {
      // issued 60 days before expiry: 33% default lead = 19.8 days before expiry
      const status = { ...ISSUED, lastRotationTime: new Date(Date.parse(expires) - 60 * D).toISOString() };
      const plan = planDeltaShareToken(res({ spec: { rotation: { jitterPercent: 0 } }, status }), OURS, before);
      expect(plan).toEqual({ action: 'Wait', nextRotation: new Date(Date.parse(expires) - 0.33 * 60 * D) });
    });

    it('without lastRotationTime, a zero lifetime makes it due at expiry', () => {
      const { lastRotationTime: _, ...status } = ISSUED;
      expect(planDeltaShareToken(res({ status }), OURS, before)).toEqual({ action: 'Wait', nextRotation: new Date(expires) });
      expect(planDeltaShareToken(res({ status }), OURS, new Date(expires))).toMatchObject({ action: 'Issue', reason: 'RotationDue' });
    });

    it('uses the jitter seeded by uid and revision, as the reconciler does', () => {
      const status = { ...ISSUED, revision: 7 };
      const spec = { rotation: { rotateBefore: '720h' } };
      const expected = nextRotationTime(spec.rotation, new Date(issued), new Date(expires), `${UID}/7`);
      const early = new Date(Date.parse(issued) + D);
      expect(planDeltaShareToken(res({ spec, status }), OURS, early)).toEqual({ action: 'Wait', nextRotation: expected });
      expect(planDeltaShareToken(res({ spec, status }), OURS, expected)).toMatchObject({ action: 'Issue', reason: 'RotationDue' });
      expect(expected.getTime()).toBeLessThanOrEqual(due.getTime());
      expect(expected.getTime()).toBeGreaterThanOrEqual(due.getTime() - 3_600_000);
    });

    it('honours the cron window', () => {
      const spec = { rotation: { ...rotation, schedule: '0 3 * * 1' } }; // due Thu 21 Jan → Mon 25 Jan 03:00
      const slot = new Date('2027-01-25T03:00:00.000Z');
      expect(planDeltaShareToken(res({ spec, status: ISSUED }), OURS, due)).toEqual({ action: 'Wait', nextRotation: slot });
      expect(planDeltaShareToken(res({ spec, status: ISSUED }), OURS, slot)).toMatchObject({ action: 'Issue', reason: 'RotationDue' });
    });
  });

  describe('two-token ceiling', () => {
    const rotatedUntil = new Date(due.getTime() + 3_600_000).toISOString();
    const status = { ...ISSUED, rotatedTokenExpirationTime: rotatedUntil };

    it('waits for the previous token to expire by default', () => {
      expect(planDeltaShareToken(res({ status }), OURS, due)).toEqual({ action: 'WaitForCeiling', reason: 'RotationDue', until: new Date(rotatedUntil) });
      expect(planDeltaShareToken(res({ spec: { onTokenCeiling: 'Wait' }, status }), OURS, due)).toMatchObject({ action: 'WaitForCeiling' });
    });

    it('revokes everything and reissues only when the user opted in', () => {
      expect(planDeltaShareToken(res({ spec: { onTokenCeiling: 'RevokeAllAndReissue' }, status }), OURS, due)).toEqual({
        action: 'RevokeAllAndReissue',
        reason: 'RotationDue',
      });
      expect(planDeltaShareToken(res({ spec: { onTokenCeiling: 'RevokeAllAndReissue' }, status, rotate: 'r9' }), OURS, before)).toEqual({
        action: 'RevokeAllAndReissue',
        reason: 'RotateRequested',
        rotateRequest: 'r9',
      });
    });

    it('applies to a lost Secret and a rotate request as well', () => {
      expect(planDeltaShareToken(res({ status }), NONE, before)).toEqual({ action: 'WaitForCeiling', reason: 'SecretLost', until: new Date(rotatedUntil) });
      expect(planDeltaShareToken(res({ status, rotate: 'r1' }), OURS, before)).toMatchObject({ action: 'WaitForCeiling', reason: 'RotateRequested' });
    });

    it('is over once the previous token has expired (at that very instant)', () => {
      expect(planDeltaShareToken(res({ status }), OURS, new Date(rotatedUntil))).toEqual({ action: 'Issue', reason: 'RotationDue', rotate: true });
    });

    it('does not matter for a first issue (nothing is rotated)', () => {
      const s = { rotatedTokenExpirationTime: rotatedUntil };
      expect(planDeltaShareToken(res({ status: s }), NONE, before)).toEqual({ action: 'Issue', reason: 'FirstIssue', rotate: false });
    });

    it('does not matter while nothing is due', () => {
      expect(planDeltaShareToken(res({ status }), OURS, before)).toEqual({ action: 'Wait', nextRotation: due });
    });
  });

  describe('a credential found dead by a liveness check', () => {
    const dead: DeltaShareTokenStatus = { ...ISSUED, credentialRevokedTime: '2026-12-01T00:00:00.000Z' };

    it('rotates at once, long before the rotation is due', () => {
      expect(planDeltaShareToken(res({ status: dead }), OURS, before)).toEqual({ action: 'Issue', reason: 'CredentialRevoked', rotate: true });
    });

    it('leaves the two-token ceiling to the token list (status is stale after PATCH 0), and takes a rotate request along', () => {
      const s = { ...dead, rotatedTokenExpirationTime: new Date(due.getTime() + 3_600_000).toISOString() };
      expect(planDeltaShareToken(res({ status: s, rotate: 'r2' }), OURS, before)).toEqual({ action: 'Issue', reason: 'CredentialRevoked', rotate: true, rotateRequest: 'r2' });
    });

    it('suspend still wins, and a lost Secret is still SecretLost', () => {
      expect(planDeltaShareToken(res({ spec: { suspend: true }, status: dead }), OURS, before)).toEqual({ action: 'Suspended' });
      expect(planDeltaShareToken(res({ status: dead }), NONE, before)).toMatchObject({ action: 'Issue', reason: 'SecretLost' });
    });
  });

  describe('verification', () => {
    const failed: DeltaShareTokenStatus = {
      ...ISSUED,
      conditions: [{ type: 'Ready', status: 'False', reason: 'VerificationFailed', message: 'x', lastTransitionTime: issued }],
    };

    it('verifies again after a failed verification', () => {
      expect(planDeltaShareToken(res({ status: failed }), OURS, before)).toEqual({ action: 'Verify', nextRotation: due });
      expect(planDeltaShareToken(res({ spec: { verify: true }, status: failed }), OURS, before)).toEqual({ action: 'Verify', nextRotation: due });
    });

    it('just waits when verification is off', () => {
      expect(planDeltaShareToken(res({ spec: { verify: false }, status: failed }), OURS, before)).toEqual({ action: 'Wait', nextRotation: due });
    });

    it('rotates rather than re-verifies once rotation is due', () => {
      expect(planDeltaShareToken(res({ status: failed }), OURS, due)).toMatchObject({ action: 'Issue', reason: 'RotationDue' });
    });

    it('other failures are not a reason to verify', () => {
      const other = { ...ISSUED, conditions: [{ type: 'Ready', status: 'False' as const, reason: 'ProviderUnavailable', message: '', lastTransitionTime: issued }] };
      expect(planDeltaShareToken(res({ status: other }), OURS, before)).toEqual({ action: 'Wait', nextRotation: due });
    });
  });

  it('is pure: the same inputs give the same plan, and inputs are not modified', () => {
    const r = res({ status: { ...ISSUED, rotatedTokenExpirationTime: expires }, rotate: 'r1' });
    const snapshot = structuredClone(r);
    const a = planDeltaShareToken(r, OURS, due);
    const b = planDeltaShareToken(r, OURS, due);
    expect(a).toEqual(b);
    expect(r).toEqual(snapshot);
  });
});
