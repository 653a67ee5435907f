import { describe, expect, it } from 'vitest';
import { FLOORS } from '../../../src/api/index.js';
import {
  CREATED_BY_ANNOTATION,
  OWNER_LABELS,
  WRITTEN_KEYS_ANNOTATION,
  claimOf,
  claimedBy,
  createBody,
  judgeTarget,
  releasePatch,
  updatePatch,
  writtenData,
  writtenKeys,
  type Claimant,
  type TargetInput,
} from '../../../src/controllers/shared/ownership.js';
import { inputSecretNames } from '../../../src/controllers/shared/resource-index.js';
import type { KubeObject } from '../../../src/runtime/kube-client.js';
import { MIN_ROTATE_BEFORE } from '../../../src/schedule/rotation.js';

const me: Claimant = { kind: 'DataToken', name: 'report', uid: 'uid-me' };
const other: Claimant = { kind: 'AccessToken', name: 'other', uid: 'uid-other' };
const b64 = (v: string) => Buffer.from(v).toString('base64');

function secret(meta: NonNullable<KubeObject['metadata']>, data: Record<string, string> = {}): KubeObject {
  return { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'target', namespace: 'ns', resourceVersion: '7', ...meta }, data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])) };
}
const ref = (c: Claimant) => ({ apiVersion: 'token-operator.io/v1alpha1', kind: c.kind, name: c.name, uid: c.uid, controller: true, blockOwnerDeletion: true });

function input(over: Partial<TargetInput>): TargetInput {
  return { namespace: 'ns', secretName: 'target', secret: undefined, me, policy: 'Owner', alive: () => true, readers: [], ...over };
}

describe('judgeTarget', () => {
  it('creates an absent Secret (Owner, Orphan), and refuses to create one for Merge', () => {
    expect(judgeTarget(input({})).action).toBe('Create');
    expect(judgeTarget(input({ policy: 'Orphan' })).action).toBe('Create');
    const d = judgeTarget(input({ policy: 'Merge' }));
    expect(d).toMatchObject({ action: 'Refuse', reason: 'SecretMissing' });
  });

  it('never writes a Secret a person created: SecretOwnedElsewhere, naming it and the three ways out', () => {
    const person = secret({ labels: { app: 'x' } }, { password: 'p' });
    for (const policy of ['Owner', 'Orphan'] as const) {
      const d = judgeTarget(input({ secret: person, policy }));
      expect(d.action).toBe('Refuse');
      if (d.action !== 'Refuse') continue;
      expect(d.reason).toBe('SecretOwnedElsewhere');
      expect(d.message).toContain('Secret "target"');
      expect(d.message).toMatch(/Delete it/);
      expect(d.message).toMatch(/creationPolicy: Merge/);
    }
  });

  it('writes into a Secret it created for this resource, or an older one it owns by controller reference', () => {
    expect(judgeTarget(input({ secret: secret({ annotations: { [CREATED_BY_ANNOTATION]: me.uid } }) })).action).toBe('Update');
    expect(judgeTarget(input({ secret: secret({ ownerReferences: [ref(me)] }) })).action).toBe('Update');
  });

  it('Merge writes into a person\'s Secret', () => {
    expect(judgeTarget(input({ secret: secret({}, { password: 'p' }), policy: 'Merge' })).action).toBe('Update');
  });

  it('one claimant: another live resource keeps its Secret (SecretClaimedByOther, naming it), whatever the policy', () => {
    const theirs = secret({ ownerReferences: [ref(other)], annotations: { [CREATED_BY_ANNOTATION]: other.uid } });
    const merged = secret({ labels: { [OWNER_LABELS.uid]: other.uid, [OWNER_LABELS.kind]: other.kind, [OWNER_LABELS.name]: other.name } });
    for (const s of [theirs, merged]) {
      for (const policy of ['Owner', 'Merge', 'Orphan'] as const) {
        const d = judgeTarget(input({ secret: s, policy }));
        expect(d).toMatchObject({ action: 'Refuse', reason: 'SecretClaimedByOther' });
        if (d.action === 'Refuse') expect(d.message).toContain('AccessToken "other"');
      }
    }
  });

  it('takes over only once the first claimant is gone: Merge at once; Owner only a Secret created for it', () => {
    const stale = secret({ ownerReferences: [ref(other)], annotations: { [CREATED_BY_ANNOTATION]: other.uid } });
    const gone = { alive: () => false };
    expect(judgeTarget(input({ secret: stale, policy: 'Merge', ...gone })).action).toBe('Update');
    const d = judgeTarget(input({ secret: stale, ...gone }));
    expect(d).toMatchObject({ action: 'Refuse', reason: 'SecretOwnedElsewhere' });
    if (d.action === 'Refuse') expect(d.message).toContain('no longer exists');
  });

  it('refuses a Secret a token resource reads as an input, before anything else', () => {
    const d = judgeTarget(input({ readers: [other] }));
    expect(d).toMatchObject({ action: 'Refuse', reason: 'SecretClaimedByOther' });
    if (d.action === 'Refuse') expect(d.message).toContain('input of AccessToken "other"');
    // its own inputs are refused at admission; a reader entry for itself is not a conflict
    expect(judgeTarget(input({ readers: [me] })).action).toBe('Create');
  });
});

describe('claims', () => {
  it('reads the controller owner reference first, then the owner labels', () => {
    expect(claimOf(secret({ ownerReferences: [ref(other)] }))).toEqual(other);
    expect(claimOf(secret({ labels: { [OWNER_LABELS.uid]: 'u', [OWNER_LABELS.kind]: 'DataToken', [OWNER_LABELS.name]: 'n' } }))).toEqual({ kind: 'DataToken', name: 'n', uid: 'u' });
    expect(claimOf(secret({ ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'd', uid: 'x', controller: true }] }))).toBeUndefined();
    expect(claimedBy(undefined, me.uid)).toBe(false);
  });
});

describe('written keys', () => {
  it('only keys the operator wrote count; a person\'s Secret counts nothing, an older operator Secret counts all', () => {
    const listed = secret({ annotations: { [WRITTEN_KEYS_ANNOTATION]: '{"data":["token"]}' } }, { token: 't', password: 'p' });
    expect(writtenData(listed, { token: 't', password: 'p' })).toEqual({ token: 't' });
    expect(writtenKeys(secret({}, { password: 'p' })).data).toEqual([]);
    expect(writtenKeys(secret({ ownerReferences: [ref(me)] }, { a: '1', b: '2' })).data).toEqual(['a', 'b']);
    expect(writtenKeys(secret({ annotations: { [WRITTEN_KEYS_ANNOTATION]: 'not json' } }, { a: '1' })).data).toEqual([]);
  });
});

describe('what a write sends', () => {
  const content = { data: { token: 'T' }, annotations: { 'token-operator.io/revision': '2', team: 'a' }, labels: { app: 'x' } };

  it('creates with the claim, the written keys and (Owner only) a controller owner reference', () => {
    const owner = createBody('ns', 'target', me, 'Owner', content);
    expect(owner.metadata?.ownerReferences).toEqual([ref(me)]);
    expect(owner.metadata?.annotations?.[CREATED_BY_ANNOTATION]).toBe(me.uid);
    expect(JSON.parse(owner.metadata!.annotations![WRITTEN_KEYS_ANNOTATION]!)).toEqual({ data: ['token'], labels: ['app'], annotations: ['team'] });
    expect(owner.metadata?.labels).toMatchObject({ app: 'x', [OWNER_LABELS.uid]: me.uid, 'app.kubernetes.io/managed-by': 'token-operator' });
    expect(createBody('ns', 'target', me, 'Orphan', content).metadata?.ownerReferences).toBeUndefined();
  });

  it('Merge into a person\'s Secret: sets only its keys, removes none of theirs, keeps their owner references and managed-by', () => {
    const helm = { apiVersion: 'v1', kind: 'ConfigMap', name: 'release', uid: 'h' };
    const current = secret({ labels: { 'app.kubernetes.io/managed-by': 'Helm' }, annotations: { note: 'mine' }, ownerReferences: [helm] }, { password: 'p', token: 'old' });
    const p = updatePatch(current, me, 'Merge', content) as { metadata: Record<string, unknown>; data: Record<string, unknown> };
    expect(p.data).toEqual({ token: b64('T') });
    expect(p.metadata.resourceVersion).toBe('7');
    expect(p.metadata.ownerReferences).toBeUndefined(); // unchanged: not sent
    expect((p.metadata.labels as Record<string, unknown>)['app.kubernetes.io/managed-by']).toBeUndefined();
    expect(p.metadata.annotations).not.toHaveProperty('note');
    expect(p.metadata.annotations).not.toHaveProperty(CREATED_BY_ANNOTATION);
  });

  it('removes what it wrote before and writes no more (a key, a label, an annotation, an own annotation), nothing else', () => {
    const current = secret(
      {
        annotations: {
          [CREATED_BY_ANNOTATION]: me.uid,
          [WRITTEN_KEYS_ANNOTATION]: '{"data":["token","refresh_token"],"labels":["old"],"annotations":["gone"]}',
          'token-operator.io/token-id': 'x',
          gone: '1',
          kept: '1',
        },
        labels: { old: '1', other: '1' },
        ownerReferences: [ref(me)],
      },
      { token: 't', refresh_token: 'r', foreign: 'f' },
    );
    const p = updatePatch(current, me, 'Owner', content) as { metadata: { labels: Record<string, unknown>; annotations: Record<string, unknown> }; data: Record<string, unknown> };
    expect(p.data).toEqual({ token: b64('T'), refresh_token: null });
    expect(p.metadata.labels.old).toBeNull();
    expect(p.metadata.labels).not.toHaveProperty('other');
    expect(p.metadata.annotations.gone).toBeNull();
    expect(p.metadata.annotations['token-operator.io/token-id']).toBeNull();
    expect(p.metadata.annotations).not.toHaveProperty('kept');
    expect(p.metadata.annotations[CREATED_BY_ANNOTATION]).toBe(me.uid);
  });

  it('switches the owner reference with the policy, keeping everyone else\'s', () => {
    const foreign = { apiVersion: 'v1', kind: 'ConfigMap', name: 'x', uid: 'x' };
    const owned = secret({ annotations: { [CREATED_BY_ANNOTATION]: me.uid }, ownerReferences: [foreign, ref(me)] });
    expect((updatePatch(owned, me, 'Orphan', content) as { metadata: { ownerReferences: unknown } }).metadata.ownerReferences).toEqual([foreign]);
    const orphan = secret({ annotations: { [CREATED_BY_ANNOTATION]: me.uid }, ownerReferences: [foreign] });
    expect((updatePatch(orphan, me, 'Owner', content) as { metadata: { ownerReferences: unknown } }).metadata.ownerReferences).toEqual([foreign, ref(me)]);
  });

  it('release: owner reference, owner labels and claim go; data stays (Retain) or its keys go (Revoke into a merged Secret)', () => {
    const current = secret(
      { annotations: { [WRITTEN_KEYS_ANNOTATION]: '{"data":["token"]}' }, labels: { [OWNER_LABELS.uid]: me.uid, 'app.kubernetes.io/managed-by': 'token-operator' }, ownerReferences: [ref(me)] },
      { token: 't', password: 'p' },
    );
    const retain = releasePatch(current, me, false) as { metadata: { ownerReferences: unknown; labels: Record<string, unknown> }; data?: unknown };
    expect(retain.metadata.ownerReferences).toEqual([]);
    expect(retain.metadata.labels[OWNER_LABELS.uid]).toBeNull();
    expect(retain.metadata.labels['app.kubernetes.io/managed-by']).toBeNull();
    expect(retain.data).toBeUndefined();
    expect((releasePatch(current, me, true) as { data: unknown }).data).toEqual({ token: null });
  });
});

describe('input Secrets of a spec', () => {
  it('finds every *SecretRef and secretKeyRef at any depth, never the target', () => {
    const spec = {
      oidc: { clientSecretRef: { name: 'client', key: 'k' }, refreshTokenSecretRef: { name: 'seed', key: 'k' } },
      source: { secretKeyRef: { name: 'data', key: 'k' } },
      target: { secretName: 'out' },
    };
    expect(inputSecretNames(spec).sort()).toEqual(['client', 'data', 'seed']);
    expect(inputSecretNames({ target: { secretKeyRef: { name: 'x' } } })).toEqual([]);
  });
});

describe('admission floors', () => {
  it('the runtime floor for rotateBefore is the admission floor', () => {
    expect(MIN_ROTATE_BEFORE).toBe(FLOORS.rotateBefore);
  });
});
