import { API_VERSION } from '../../api/index.js';
import type { KubeObject, OwnerReference } from '../../runtime/kube-client.js';
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE, labelValue } from '../../runtime/secret-writer.js';

/**
 * Who may write a target Secret, and what a write may change (ARCHITECTURE rule 6: the
 * operator writes only Secrets it created for a resource, or that a resource was explicitly
 * allowed to merge into; it never changes a key it did not write; one Secret, one claimant).
 *
 * Pure decisions over the Secret's metadata, so they survive restarts and leader changes:
 * - created for a resource: the annotation token-operator.io/created-by=<uid>, set only when
 *   the operator creates the Secret (a POST, which fails if the Secret exists). Secrets from
 *   before this rule carry the resource's controller owner reference instead.
 * - claimed by a resource: its controller owner reference (creationPolicy Owner), else the
 *   label token-operator.io/owner-uid (Orphan and Merge have no owner reference).
 * - written by the operator: token-operator.io/* annotations, the fixed owner labels, and the
 *   data keys, label keys and annotation keys listed in token-operator.io/written-keys. Only
 *   those are ever changed or removed; everything else on the Secret is left as it is.
 */

export type CreationPolicy = 'Owner' | 'Merge' | 'Orphan';

export const OWNER_LABELS = {
  kind: 'token-operator.io/owner-kind',
  name: 'token-operator.io/owner-name',
  uid: 'token-operator.io/owner-uid',
} as const;
export const CREATED_BY_ANNOTATION = 'token-operator.io/created-by';
export const WRITTEN_KEYS_ANNOTATION = 'token-operator.io/written-keys';
const OPERATOR_PREFIX = 'token-operator.io/';

/** A token resource, as a claimant of a Secret. */
export interface Claimant {
  kind: string;
  name: string;
  uid: string;
}

export interface WrittenKeys {
  data: string[];
  labels: string[];
  annotations: string[];
}

export function ownerReference(c: Claimant): OwnerReference {
  return { apiVersion: API_VERSION, kind: c.kind, name: c.name, uid: c.uid, controller: true, blockOwnerDeletion: true };
}

function controllerRef(secret: KubeObject): OwnerReference | undefined {
  return secret.metadata?.ownerReferences?.find((r) => r.controller === true && r.apiVersion === API_VERSION);
}

/** The token resource that claims this Secret, if any (alive or not). */
export function claimOf(secret: KubeObject): Claimant | undefined {
  const ref = controllerRef(secret);
  if (ref) return { kind: ref.kind, name: ref.name, uid: ref.uid };
  const l = secret.metadata?.labels ?? {};
  const uid = l[OWNER_LABELS.uid];
  if (!uid) return undefined;
  return { kind: l[OWNER_LABELS.kind] ?? 'token resource', name: l[OWNER_LABELS.name] ?? 'unknown', uid };
}

/** Did the operator create this Secret for the resource with this uid? */
export function createdFor(secret: KubeObject, uid: string): boolean {
  const by = secret.metadata?.annotations?.[CREATED_BY_ANNOTATION];
  if (by !== undefined) return by === uid;
  return controllerRef(secret)?.uid === uid; // written before created-by existed
}

/** Does the resource with this uid claim the Secret (so its data is the resource's to compare and repair)? */
export function claimedBy(secret: KubeObject | undefined, uid: string): boolean {
  return !!secret && (claimOf(secret)?.uid === uid || createdFor(secret, uid));
}

/**
 * What the operator wrote last. A Secret from before written-keys existed, with the operator's
 * controller owner reference, was written whole by the operator (drift repair then removed any
 * other key): every data key counts as written. Any other Secret without it: nothing.
 */
export function writtenKeys(secret: KubeObject | undefined): WrittenKeys {
  const text = secret?.metadata?.annotations?.[WRITTEN_KEYS_ANNOTATION];
  if (text !== undefined) {
    try {
      const j = JSON.parse(text) as Partial<Record<keyof WrittenKeys, unknown>>;
      const list = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
      return { data: list(j.data), labels: list(j.labels), annotations: list(j.annotations) };
    } catch {
      // edited by hand: nothing counts as written, so nothing is removed; the next write sets it again
      return { data: [], labels: [], annotations: [] };
    }
  }
  const legacy = secret !== undefined && controllerRef(secret) !== undefined;
  return { data: legacy ? Object.keys((secret.data ?? {}) as Record<string, string>) : [], labels: [], annotations: [] };
}

export function formatWrittenKeys(k: WrittenKeys): string {
  const sorted = (a: string[]) => [...new Set(a)].sort();
  const out: Partial<WrittenKeys> = { data: sorted(k.data) };
  if (k.labels.length) out.labels = sorted(k.labels);
  if (k.annotations.length) out.annotations = sorted(k.annotations);
  return JSON.stringify(out);
}

/** The part of the Secret's data the operator wrote: what drift detection compares. */
export function writtenData(secret: KubeObject | undefined, data: Record<string, string>): Record<string, string> {
  const keys = writtenKeys(secret).data;
  const out: Record<string, string> = {};
  for (const k of keys) if (data[k] !== undefined) out[k] = data[k];
  return out;
}

// ---------------------------------------------------------------------------------------
// The decision

export interface TargetInput {
  namespace: string;
  secretName: string;
  /** the Secret as it is now (cache, else a GET); undefined = it does not exist */
  secret: KubeObject | undefined;
  me: Claimant;
  policy: CreationPolicy;
  /** is this claimant (another token resource) still there? */
  alive(c: Claimant): boolean;
  /** token resources (other than `me`'s own, refused at admission) that read this Secret as an input */
  readers: Claimant[];
}

export type TargetRefusal = 'SecretOwnedElsewhere' | 'SecretClaimedByOther' | 'SecretMissing';

export type TargetDecision =
  | { action: 'Create' }
  | { action: 'Update'; secret: KubeObject }
  | { action: 'Refuse'; reason: TargetRefusal; message: string };

const describe = (c: Claimant) => `${c.kind} "${c.name}"`;

/**
 * May this resource write its target Secret, and how (cert-manager and External Secrets refuse
 * a Secret another owner holds; ESO's creationPolicy Owner/Merge/Orphan makes the choice
 * explicit). First match wins:
 * 1. another token resource reads the Secret as an input → SecretClaimedByOther;
 * 2. absent → Create (Merge writes into an existing Secret only: SecretMissing);
 * 3. claimed by another token resource that still exists → SecretClaimedByOther (the first
 *    claimant keeps it until it is gone);
 * 4. Merge → Update (only this resource's keys);
 * 5. created for this resource → Update; otherwise SecretOwnedElsewhere.
 */
export function judgeTarget(i: TargetInput): TargetDecision {
  const name = `Secret "${i.secretName}"`;
  const reader = i.readers.find((r) => r.uid !== i.me.uid);
  if (reader) {
    return {
      action: 'Refuse',
      reason: 'SecretClaimedByOther',
      message: `${name} is an input of ${describe(reader)} in namespace ${i.namespace}: the operator never writes a Secret a token resource reads. Choose another spec.target.secretName.`,
    };
  }
  if (!i.secret) {
    if (i.policy !== 'Merge') return { action: 'Create' };
    return {
      action: 'Refuse',
      reason: 'SecretMissing',
      message: `${name} does not exist: creationPolicy Merge writes into an existing Secret. Create it, or set spec.target.creationPolicy to Owner to let the operator create it.`,
    };
  }
  const claim = claimOf(i.secret);
  if (claim && claim.uid !== i.me.uid && i.alive(claim)) {
    return {
      action: 'Refuse',
      reason: 'SecretClaimedByOther',
      message: `${name} is written by ${describe(claim)}: one Secret has one writer, and the first keeps it until it is deleted. Choose another spec.target.secretName.`,
    };
  }
  if (i.policy === 'Merge' || createdFor(i.secret, i.me.uid)) return { action: 'Update', secret: i.secret };
  const formerly = claim && claim.uid !== i.me.uid ? ` (it was written for ${describe(claim)}, which no longer exists)` : '';
  return {
    action: 'Refuse',
    reason: 'SecretOwnedElsewhere',
    message:
      `${name} already exists and was not created for this ${i.me.kind}${formerly}: the operator never changes a Secret it did not create. ` +
      'Delete it (the operator then creates its own), choose another spec.target.secretName, or set spec.target.creationPolicy: Merge to write only this resource\'s keys into it.',
  };
}

// ---------------------------------------------------------------------------------------
// What a write sends

export interface TargetContent {
  /** values as plain strings */
  data: Record<string, string>;
  /**
   * Every annotation to write: the operator's own (token-operator.io/*: revision, expiry, …) and
   * spec.target.annotations (the API refuses token-operator.io/ keys there, so the prefix tells them apart).
   */
  annotations: Record<string, string>;
  /** spec.target.labels */
  labels?: Record<string, string>;
  type?: string;
}

const isOperatorKey = (k: string) => k.startsWith(OPERATOR_PREFIX);
function split(annotations: Record<string, string>): { own: Record<string, string>; user: Record<string, string> } {
  const own: Record<string, string> = {};
  const user: Record<string, string> = {};
  for (const [k, v] of Object.entries(annotations)) (isOperatorKey(k) ? own : user)[k] = v;
  return { own, user };
}

const encode = (data: Record<string, string>) => Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'utf8').toString('base64')]));

function fixedLabels(me: Claimant, secret: KubeObject | undefined): Record<string, string> {
  const labels: Record<string, string> = {
    [OWNER_LABELS.kind]: me.kind,
    [OWNER_LABELS.name]: labelValue(me.name),
    [OWNER_LABELS.uid]: me.uid,
  };
  // The managed-by label puts the Secret into the operator's watch; a Secret someone else
  // manages (Helm, another operator) keeps its own value and is read with a GET instead.
  const managedBy = secret?.metadata?.labels?.[MANAGED_BY_LABEL];
  if (managedBy === undefined || managedBy === MANAGED_BY_VALUE) labels[MANAGED_BY_LABEL] = MANAGED_BY_VALUE;
  return labels;
}

function written(c: TargetContent): WrittenKeys {
  return { data: Object.keys(c.data), labels: Object.keys(c.labels ?? {}), annotations: Object.keys(split(c.annotations).user) };
}

/** The body of the POST that creates the Secret (and so claims it: a POST fails if it exists). */
export function createBody(namespace: string, name: string, me: Claimant, policy: CreationPolicy, c: TargetContent): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name,
      namespace,
      labels: { ...c.labels, ...fixedLabels(me, undefined) },
      annotations: { ...c.annotations, [CREATED_BY_ANNOTATION]: me.uid, [WRITTEN_KEYS_ANNOTATION]: formatWrittenKeys(written(c)) },
      ...(policy === 'Owner' ? { ownerReferences: [ownerReference(me)] } : {}),
    },
    type: c.type ?? 'Opaque',
    data: encode(c.data),
  };
}

/**
 * A JSON merge patch that writes this resource's content into an existing Secret: its data
 * keys, labels and annotations are set; the ones it wrote before and writes no more are removed;
 * nothing else is touched. Guarded by the resourceVersion it was judged on, so a concurrent
 * change fails the patch (409) instead of being overwritten. Owner references: ours is added
 * (Owner) or removed (Merge, Orphan); the others are kept.
 */
export function updatePatch(current: KubeObject, me: Claimant, policy: CreationPolicy, c: TargetContent): Record<string, unknown> {
  const before = writtenKeys(current);
  const now = written(c);
  const removed = (was: string[], is: string[]) => Object.fromEntries(was.filter((k) => !is.includes(k)).map((k) => [k, null]));
  // the operator's own annotations it no longer writes (a token id that went, a hand-added one)
  const stale = (current: Record<string, string> | undefined, keep: Record<string, string>) =>
    Object.fromEntries(
      Object.keys(current ?? {})
        .filter((k) => isOperatorKey(k) && !(k in keep))
        .map((k) => [k, null]),
    );
  const annotations: Record<string, string> = { ...c.annotations, [WRITTEN_KEYS_ANNOTATION]: formatWrittenKeys(now) };
  const createdBy = current.metadata?.annotations?.[CREATED_BY_ANNOTATION];
  if (createdBy !== undefined) annotations[CREATED_BY_ANNOTATION] = createdBy;
  else if (policy !== 'Merge' && createdFor(current, me.uid)) annotations[CREATED_BY_ANNOTATION] = me.uid; // the older claim, made explicit
  const metadata: Record<string, unknown> = {
    resourceVersion: current.metadata?.resourceVersion,
    labels: { ...removed(before.labels, now.labels), ...c.labels, ...fixedLabels(me, current) },
    annotations: { ...stale(current.metadata?.annotations, annotations), ...removed(before.annotations, now.annotations), ...annotations },
  };
  const refs = current.metadata?.ownerReferences ?? [];
  const others = refs.filter((r) => r.uid !== me.uid);
  const want = policy === 'Owner' ? [...others, ownerReference(me)] : others;
  const same = refs.length === want.length && refs.every((r) => want.some((w) => w.uid === r.uid && !!w.controller === !!r.controller));
  if (!same) metadata.ownerReferences = want;
  return { metadata, data: { ...removed(before.data, now.data), ...encode(c.data) } };
}

/**
 * A JSON merge patch that hands the Secret back (deletionPolicy Retain, or Revoke into a
 * merged Secret): the operator's owner reference, owner labels and claim go; with `dropData`
 * the keys it wrote go too. The credential's own facts (expiry, revision) stay readable.
 */
export function releasePatch(current: KubeObject, me: Claimant, dropData: boolean): Record<string, unknown> {
  const keys = writtenKeys(current);
  const labels: Record<string, null> = { [OWNER_LABELS.kind]: null, [OWNER_LABELS.name]: null, [OWNER_LABELS.uid]: null };
  if (current.metadata?.labels?.[MANAGED_BY_LABEL] === MANAGED_BY_VALUE) labels[MANAGED_BY_LABEL] = null;
  const metadata: Record<string, unknown> = { resourceVersion: current.metadata?.resourceVersion, labels, annotations: { [WRITTEN_KEYS_ANNOTATION]: null } };
  const refs = current.metadata?.ownerReferences ?? [];
  if (refs.some((r) => r.uid === me.uid)) metadata.ownerReferences = refs.filter((r) => r.uid !== me.uid);
  const patch: Record<string, unknown> = { metadata };
  if (dropData) patch.data = Object.fromEntries(keys.data.map((k) => [k, null]));
  return patch;
}
