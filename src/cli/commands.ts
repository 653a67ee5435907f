import { GROUP_VERSION, KINDS } from '../api/index.js';
import { KubeApiError, type KubeClient, type KubeObject, resourcePath } from '../runtime/kube-client.js';
import type { KindRef } from './args.js';
import type { EventRow, TokenRow } from './format.js';
import { sleep, systemClock } from '../schedule/clock.js';

/** What the CLI reads and writes on the API server; formatting lives in format.ts. */

export const ROTATE_ANNOTATION = 'token-operator.io/rotate';

const typed = (k: KindRef) => ({ ...GROUP_VERSION, plural: k.plural });

export function toRow(obj: KubeObject, kind: string): TokenRow {
  const m = obj.metadata ?? {};
  const spec = (obj.spec ?? {}) as { suspend?: boolean };
  return {
    kind,
    namespace: m.namespace ?? '',
    name: m.name ?? '',
    ...(m.generation !== undefined ? { generation: m.generation } : {}),
    ...(obj.status ? { status: obj.status as TokenRow['status'] } : {}),
    ...(m.annotations?.[ROTATE_ANNOTATION] !== undefined ? { rotateRequest: m.annotations[ROTATE_ANNOTATION] } : {}),
    ...(spec.suspend ? { suspended: true } : {}),
    ...(m.deletionTimestamp ? { deleting: true } : {}),
  };
}

/** Every token of the given kinds in one namespace, or everywhere when namespace is undefined. */
export async function listTokens(client: KubeClient, namespace: string | undefined, kinds: KindRef[] = KINDS.map((k) => ({ kind: k.kind, plural: k.plural }))): Promise<TokenRow[]> {
  const lists = await Promise.all(
    kinds.map(async (k) => {
      try {
        const list = await client.list<KubeObject>(resourcePath(typed(k), namespace));
        return list.items.map((o) => toRow(o, k.kind));
      } catch (e) {
        // a cluster may run only some controllers, without every CRD installed
        if (e instanceof KubeApiError && e.notFound) return [];
        throw e;
      }
    }),
  );
  return lists.flat();
}

export async function getToken(client: KubeClient, kind: KindRef, namespace: string, name: string): Promise<KubeObject> {
  try {
    return await client.get(resourcePath(typed(kind), namespace, name));
  } catch (e) {
    if (e instanceof KubeApiError && e.notFound) throw new Error(`${kind.kind} ${namespace}/${name} not found`);
    throw e;
  }
}

/** Sets the rotate annotation to `now` (any new value means "rotate once, now"). */
export async function requestRotation(client: KubeClient, kind: KindRef, namespace: string, name: string, now: Date): Promise<string> {
  await getToken(client, kind, namespace, name);
  const value = now.toISOString();
  await client.patch(resourcePath(typed(kind), namespace, name), { metadata: { annotations: { [ROTATE_ANNOTATION]: value } } }, 'merge');
  return value;
}

/** Waits until status.lastHandledRotateRequest equals the request; returns the resource. */
export async function waitForRotation(client: KubeClient, kind: KindRef, namespace: string, name: string, request: string, timeoutMs: number): Promise<KubeObject> {
  const deadline = systemClock.now().getTime() + timeoutMs;
  for (;;) {
    const obj = await getToken(client, kind, namespace, name);
    if ((obj.status as { lastHandledRotateRequest?: string } | undefined)?.lastHandledRotateRequest === request) return obj;
    if (systemClock.now().getTime() > deadline) throw new Error(`timed out after ${timeoutMs / 1000}s waiting for the operator to handle the rotate request`);
    await sleep(systemClock, 1000, true);
  }
}

/** Events about one token (core/v1 Events, as the operator records them). */
export async function tokenEvents(client: KubeClient, kind: KindRef, namespace: string, name: string, uid?: string): Promise<EventRow[]> {
  const list = await client.list<KubeObject>(`/api/v1/namespaces/${encodeURIComponent(namespace)}/events`, {
    fieldSelector: `involvedObject.kind=${kind.kind},involvedObject.name=${name}`,
  });
  return list.items
    .filter((e) => !uid || (e.involvedObject as { uid?: string } | undefined)?.uid === uid)
    .map((e) => ({
      type: String(e.type ?? ''),
      reason: String(e.reason ?? ''),
      message: String(e.message ?? ''),
      ...(typeof e.count === 'number' ? { count: e.count } : {}),
      ...((e.lastTimestamp ?? e.eventTime ?? e.metadata?.creationTimestamp) ? { lastTimestamp: String(e.lastTimestamp ?? e.eventTime ?? e.metadata?.creationTimestamp) } : {}),
    }));
}
