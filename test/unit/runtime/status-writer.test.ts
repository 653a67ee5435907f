import { describe, expect, it } from 'vitest';
import type { KubeClient, KubeObject, PatchType } from '../../../src/runtime/kube-client.js';
import { patchStatus, statusDiff } from '../../../src/runtime/status-writer.js';

const cond = (status: string, at = '2026-11-23T10:00:00.000Z') => ({ type: 'Ready', status, reason: 'Issued', message: '', lastTransitionTime: at });

describe('statusDiff', () => {
  it('is undefined when nothing changed, however deep', () => {
    const s = { observedGeneration: 2, conditions: [cond('True')], expirationTime: '2027-01-01T00:00:00Z', revision: 4 };
    expect(statusDiff(s, structuredClone(s))).toBeUndefined();
    expect(statusDiff({}, {})).toBeUndefined();
  });

  it('ignores keys that are undefined on both sides', () => {
    expect(statusDiff({ a: undefined }, { b: undefined })).toBeUndefined();
    expect(statusDiff({ a: 1 }, { a: 1, b: undefined })).toBeUndefined();
  });

  it('carries only the changed top-level fields, whole', () => {
    const a = { revision: 1, conditions: [cond('True')], tokenId: 't1' };
    const b = { revision: 2, conditions: [cond('False', '2026-11-23T11:00:00.000Z')], tokenId: 't1' };
    expect(statusDiff(a, b)).toEqual({ revision: 2, conditions: b.conditions });
  });

  it('sends null for removed fields (a merge patch deletes them)', () => {
    expect(statusDiff({ failedAttempts: 3, lastFailureTime: 'x', revision: 1 }, { revision: 1 })).toEqual({ failedAttempts: null, lastFailureTime: null });
    expect(statusDiff({ failedAttempts: 3 }, { failedAttempts: undefined })).toEqual({ failedAttempts: null });
  });

  it('adds new fields', () => {
    expect(statusDiff({}, { revision: 1, grantType: 'oidc' })).toEqual({ revision: 1, grantType: 'oidc' });
  });

  it('sees type changes and array order', () => {
    expect(statusDiff({ revision: 1 }, { revision: '1' })).toEqual({ revision: '1' });
    expect(statusDiff({ l: [1, 2] }, { l: [2, 1] })).toEqual({ l: [2, 1] });
  });
});

describe('patchStatus', () => {
  function recorder() {
    const calls: Array<{ path: string; body: unknown; type: PatchType }> = [];
    const client = {
      patch: async (path: string, body: unknown, type: PatchType) => {
        calls.push({ path, body, type });
        return { metadata: { name: 'x' } } as KubeObject;
      },
    } as unknown as KubeClient;
    return { client, calls };
  }

  it('makes no request when the status is unchanged', async () => {
    const { client, calls } = recorder();
    const s = { revision: 1, conditions: [cond('True')] };
    expect(await patchStatus(client, '/apis/g/v1/namespaces/n/things/x', s, structuredClone(s))).toBeUndefined();
    expect(calls).toHaveLength(0);
  });

  it('merge-patches only the difference on the status subresource', async () => {
    const { client, calls } = recorder();
    await patchStatus(client, '/apis/g/v1/namespaces/n/things/x', { revision: 1, failedAttempts: 2 }, { revision: 2 });
    expect(calls).toEqual([{ path: '/apis/g/v1/namespaces/n/things/x/status', body: { status: { revision: 2, failedAttempts: null } }, type: 'merge' }]);
  });

  it('treats a missing current status as empty', async () => {
    const { client, calls } = recorder();
    await patchStatus(client, '/p', undefined, { revision: 1 });
    expect(calls[0]?.body).toEqual({ status: { revision: 1 } });
  });
});
