import type { ObjectCache } from '../../runtime/informer.js';
import { KubeApiError, type KubeClient, type KubeObject } from '../../runtime/kube-client.js';
import { FIELD_MANAGER, MANAGED_BY_LABEL, MANAGED_BY_VALUE } from '../../runtime/secret-writer.js';
import {
  claimedBy,
  createBody,
  createdFor,
  judgeTarget,
  releasePatch,
  updatePatch,
  type Claimant,
  type CreationPolicy,
  type TargetContent,
  type TargetDecision,
  type TargetRefusal,
} from './ownership.js';
import { ReconcileError } from './failures.js';
import type { ResourceIndex } from './resource-index.js';
import { TEMPLATE_INVALID } from './target-content.js';

/**
 * Reads, judges and writes a resource's target Secret under the ownership rules (ownership.ts).
 * Every write goes through writeTarget: it creates with a POST (which fails if someone else
 * created the Secret meanwhile) or patches guarded by the resourceVersion it judged, and on a
 * conflict reads the Secret again and judges again — so it never takes over a Secret, however
 * the race goes.
 */

/** The operator may not write the target Secret (ownership.ts judgeTarget): a human must act. */
export class TargetRefused extends Error {
  constructor(
    readonly reason: TargetRefusal,
    message: string,
  ) {
    super(message);
    this.name = 'TargetRefused';
  }
}

export interface TargetEnv {
  client: KubeClient;
  secrets: ObjectCache<KubeObject>;
  resources: ResourceIndex;
}

export interface TargetOwner {
  kind: string;
  metadata: { name: string; namespace: string; uid: string };
  spec: { target: { secretName: string; creationPolicy?: CreationPolicy | undefined } };
}

export const claimantOf = (res: TargetOwner): Claimant => ({ kind: res.kind, name: res.metadata.name, uid: res.metadata.uid });
export const policyOf = (res: TargetOwner): CreationPolicy => res.spec.target.creationPolicy ?? 'Owner';

const secretPath = (namespace: string, name: string) => `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets/${encodeURIComponent(name)}`;

/** The target as it is now: the operator's cache (Secrets it labels), else one GET. */
export async function observeTarget(env: TargetEnv, res: TargetOwner): Promise<KubeObject | undefined> {
  const { namespace } = res.metadata;
  const name = res.spec.target.secretName;
  return env.secrets.get(namespace, name) ?? (await env.client.find(secretPath(namespace, name)));
}

export function judge(env: TargetEnv, res: TargetOwner, secret: KubeObject | undefined): TargetDecision {
  const { namespace } = res.metadata;
  return judgeTarget({
    namespace,
    secretName: res.spec.target.secretName,
    secret,
    me: claimantOf(res),
    policy: policyOf(res),
    alive: (c) => env.resources.alive(namespace, c),
    readers: env.resources.readers(namespace, res.spec.target.secretName),
  });
}

/** Only Secrets that match the managed-Secret cache's selector go into it (the watch keeps them current). */
function remember(env: TargetEnv, secret: KubeObject): void {
  if (secret.metadata?.labels?.[MANAGED_BY_LABEL] === MANAGED_BY_VALUE) env.secrets.upsert(secret);
}

const raced = (e: unknown) => e instanceof KubeApiError && (e.status === 409 || e.status === 404);

/**
 * Writes the resource's content into its target Secret. `known` is the Secret as the caller last
 * saw it (undefined = absent), saving a read; the Secret is read again only after a race.
 * Throws TargetRefused when the rules say no.
 */
export async function writeTarget(env: TargetEnv, res: TargetOwner, content: TargetContent, known?: { secret: KubeObject | undefined }): Promise<KubeObject> {
  const { namespace } = res.metadata;
  const name = res.spec.target.secretName;
  let secret = known ? known.secret : await observeTarget(env, res);
  let reread = false;
  for (let attempt = 1; ; attempt++) {
    const d = judge(env, res, secret);
    if (d.action === 'Refuse') throw new TargetRefused(d.reason, d.message);
    if (d.action === 'Update' && !sameType(d.secret, policyOf(res), content.type)) {
      // the cache may not have seen the Secret deleted yet (what the refusal asks for): look once more
      if (!reread) {
        reread = true;
        secret = await env.client.find(secretPath(namespace, name));
        continue;
      }
      throw typeChanged(d.secret, content.type, name);
    }
    try {
      const written =
        d.action === 'Create'
          ? await env.client.create(`/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets`, createBody(namespace, name, claimantOf(res), policyOf(res), content), {
              fieldManager: FIELD_MANAGER,
            })
          : await env.client.patch<KubeObject>(secretPath(namespace, name), updatePatch(d.secret, claimantOf(res), policyOf(res), content), 'merge', {
              fieldManager: FIELD_MANAGER,
            });
      remember(env, written);
      return written;
    } catch (e) {
      // created by someone else meanwhile (409 on the POST), changed or deleted since it was judged
      if (!raced(e) || attempt >= 3) throw e;
      secret = await env.client.find(secretPath(namespace, name));
    }
  }
}

/**
 * A Secret's type is immutable: when spec.target.template asks for another type than the Secret
 * the operator created has, only deleting it helps (drift repair then creates it again, from the
 * state Secret, with the new type and no new credential). A merged Secret's type is never the
 * operator's to set (the API refuses template.type with creationPolicy Merge).
 */
const typeOf = (secret: KubeObject) => (secret as { type?: string }).type ?? 'Opaque';

function sameType(secret: KubeObject, policy: CreationPolicy, wanted: string | undefined): boolean {
  return policy === 'Merge' || typeOf(secret) === (wanted ?? 'Opaque');
}

function typeChanged(secret: KubeObject, wanted: string | undefined, name: string): ReconcileError {
  return new ReconcileError(
    TEMPLATE_INVALID,
    `Secret "${name}" has type ${typeOf(secret)} and spec.target.template asks for ${wanted ?? 'Opaque'}: a Secret's type cannot change. ` +
      'Delete the Secret: the operator writes it again from its state Secret, with the new type and no new credential (or set template.type back).',
    false,
  );
}

/**
 * Hands the target Secret back when the resource goes: `delete` (deletionPolicy Revoke — the
 * credential is dead) deletes a Secret created for the resource and removes the resource's keys
 * from a merged one; `retain` leaves the Secret and its data, without the operator's owner
 * reference, labels and claim, so garbage collection keeps it and nothing writes it any more.
 * A Secret the resource does not claim is never touched.
 */
export async function releaseTarget(env: TargetEnv, res: TargetOwner, mode: 'delete' | 'retain'): Promise<void> {
  const { namespace } = res.metadata;
  const name = res.spec.target.secretName;
  const path = secretPath(namespace, name);
  let secret = await observeTarget(env, res);
  for (let attempt = 1; secret && claimedBy(secret, res.metadata.uid); attempt++) {
    try {
      if (mode === 'delete' && createdFor(secret, res.metadata.uid)) {
        // guarded by uid: a Secret recreated meanwhile under the same name is not ours to delete
        await env.client.request('DELETE', path, {
          body: { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Background', preconditions: { uid: secret.metadata?.uid } },
          verb: 'delete',
        });
      } else {
        remember(env, await env.client.patch<KubeObject>(path, releasePatch(secret, claimantOf(res), mode === 'delete'), 'merge', { fieldManager: FIELD_MANAGER }));
      }
      return;
    } catch (e) {
      if (e instanceof KubeApiError && e.notFound) return;
      if (!raced(e) || attempt >= 3) throw e;
      secret = await env.client.find(path);
    }
  }
}
