import { z } from 'zod';
import { KubeApiError, type KubeClient, type KubeObject, type OwnerReference } from '../../runtime/kube-client.js';
import { FIELD_MANAGER, MANAGED_BY_LABEL, secretData, secretLabels } from '../../runtime/secret-writer.js';

/**
 * The operator's durable copy of what it last wrote to a resource's target Secret, so an
 * edited or deleted target is written back from it (drift.ts) instead of minting a new
 * token: DDS activation links and GNAP rotations hand a credential out once.
 *
 * One state Secret per resource, in its namespace, named `token-operator-state-<resource uid>`:
 * - the uid makes the name collision-safe (no user Secret, no other resource, no other kind
 *   has it) and fixed in length (57 characters), whatever the resource and target names;
 *   it follows the resource across target.secretName changes;
 * - controller ownerReference to the resource: garbage-collected with it; deletion with
 *   Revoke deletes it at once (token-reconciler.ts);
 * - labelled `token-operator.io/state: "true"` plus owner kind/name, but NOT
 *   `app.kubernetes.io/managed-by=token-operator`: the managed-Secret informer (the
 *   operator's memory floor) never caches it; it is read with one GET, only to repair;
 * - type Opaque; no workload should mount it. Key `state.json`: the copy of the target Secret.
 *   Key `private.json`: what can mint new credentials and so never goes to the target Secret
 *   (an OIDC refresh token, a GNAP manage URL; ARCHITECTURE rule 7). It can be written on its
 *   own (savePrivate), the moment a provider hands out a one-time credential, before anything
 *   else about the answer is checked.
 *
 * It is written before the target Secret on every issuance (write-secret.ts), and both
 * before status: whatever status.revision says was written, the state Secret has.
 */
export const STATE_LABEL = 'token-operator.io/state';
export const STATE_KEY = 'state.json';
export const PRIVATE_KEY = 'private.json';
const STATE_OF_ANNOTATION = 'token-operator.io/state-of';

export function stateSecretName(ownerUid: string): string {
  return `token-operator-state-${ownerUid}`;
}

const StoredCredential = z.object({
  version: z.literal(1),
  /** the target Secret it was written to */
  secretName: z.string(),
  revision: z.number().int().min(0),
  /** the target Secret's annotations as written (revision, expiry, kind-specific facts) */
  annotations: z.record(z.string(), z.string()),
  data: z.record(z.string(), z.string()),
});
export type StoredCredential = Omit<z.infer<typeof StoredCredential>, 'version'>;

const path = (namespace: string, ownerUid: string) =>
  `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets/${stateSecretName(ownerUid)}`;

/**
 * Only the operator writes this Secret, so it is replaced whole (PUT, or POST the first time)
 * rather than server-side applied: on the API server an apply costs about twice a create
 * (bench/api-cost.ts), and this write happens on every issuance.
 */
const encodeJson = (v: unknown) => Buffer.from(JSON.stringify(v), 'utf8').toString('base64');

function stateBody(namespace: string, owner: OwnerReference, secretName: string, data: Record<string, string>): KubeObject {
  // the managed-by label stays off: the managed-Secret informer must never cache this Secret
  const { [MANAGED_BY_LABEL]: _managed, ...labels } = secretLabels(owner.kind, owner.name);
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: stateSecretName(owner.uid),
      namespace,
      labels: { ...labels, [STATE_LABEL]: 'true' },
      annotations: { [STATE_OF_ANNOTATION]: secretName },
      ownerReferences: [{ ...owner, controller: true, blockOwnerDeletion: true }],
    },
    type: 'Opaque',
    data,
  };
}

/** `priv`: the credential that stays here only (absent or empty: none). */
export async function writeStateSecret(
  client: KubeClient,
  namespace: string,
  owner: OwnerReference,
  s: StoredCredential,
  priv?: Record<string, string>,
): Promise<void> {
  const body = stateBody(namespace, owner, s.secretName, {
    [STATE_KEY]: encodeJson({ version: 1, ...s }),
    ...(priv && Object.keys(priv).length ? { [PRIVATE_KEY]: encodeJson({ version: 1, data: priv }) } : {}),
  });
  const query = { fieldManager: FIELD_MANAGER };
  const collection = `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets`;
  // the first revision usually has no state Secret yet; every later one usually has
  const createFirst = s.revision <= 1;
  try {
    if (createFirst) await client.create(collection, body, query);
    else await client.replace(path(namespace, owner.uid), body, query);
  } catch (e) {
    if (!(e instanceof KubeApiError) || !(createFirst ? e.status === 409 : e.notFound)) throw e;
    if (createFirst) await client.replace(path(namespace, owner.uid), body, query);
    else await client.create(collection, body, query);
  }
}

/**
 * Saves the private credential alone, at once: one merge patch of its key (the rest of the state
 * Secret stays), or the state Secret created with just that key when there is none yet.
 */
export async function savePrivate(client: KubeClient, namespace: string, owner: OwnerReference, secretName: string, priv: Record<string, string>): Promise<void> {
  const value = encodeJson({ version: 1, data: priv });
  const query = { fieldManager: FIELD_MANAGER };
  try {
    await client.patch(path(namespace, owner.uid), { data: { [PRIVATE_KEY]: value } }, 'merge', query);
  } catch (e) {
    if (!(e instanceof KubeApiError && e.notFound)) throw e;
    await client.create(`/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets`, stateBody(namespace, owner, secretName, { [PRIVATE_KEY]: value }), query);
  }
}

const PrivateCredential = z.object({ version: z.literal(1), data: z.record(z.string(), z.string()) });

async function findOwn(client: KubeClient, namespace: string, ownerUid: string): Promise<Record<string, string> | undefined> {
  const obj = await client.find(path(namespace, ownerUid));
  if (!obj || !(obj.metadata?.ownerReferences ?? []).some((r) => r.uid === ownerUid)) return undefined;
  return secretData(obj);
}

function parseJson(text: string | undefined): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * The private credential (private.json), else — state Secrets from before it existed — what
 * the target copy holds; undefined when the state Secret is gone, not ours, or unreadable.
 */
export async function readPrivate(client: KubeClient, namespace: string, ownerUid: string): Promise<Record<string, string> | undefined> {
  const data = await findOwn(client, namespace, ownerUid);
  if (!data) return undefined;
  const priv = PrivateCredential.safeParse(parseJson(data[PRIVATE_KEY]));
  if (priv.success) return priv.data.data;
  const stored = StoredCredential.safeParse(parseJson(data[STATE_KEY]));
  return stored.success ? stored.data.data : undefined;
}

/** The stored copy, or undefined when it is gone, not ours, or unreadable (then the kind's own fallback applies). */
export async function readStateSecret(client: KubeClient, namespace: string, ownerUid: string): Promise<StoredCredential | undefined> {
  const data = await findOwn(client, namespace, ownerUid);
  if (!data) return undefined;
  const parsed = StoredCredential.safeParse(parseJson(data[STATE_KEY]));
  if (!parsed.success) return undefined;
  const { version: _version, ...stored } = parsed.data;
  return stored;
}

export async function deleteStateSecret(client: KubeClient, namespace: string, ownerUid: string): Promise<void> {
  try {
    await client.delete(path(namespace, ownerUid));
  } catch (e) {
    if (!(e instanceof KubeApiError && e.notFound)) throw e;
  }
}
