import { KubeApiError, type KubeClient, type KubeObject } from './kube-client.js';

/**
 * Finalizer add/remove as JSON patches guarded by `test` ops, so a concurrent change to the
 * list (another controller's finalizer) makes the patch fail with a conflict instead of
 * silently dropping someone's entry. Removal happens only after the cleanup succeeded:
 * callers never call removeFinalizer on an error path.
 */
export async function addFinalizer(client: KubeClient, path: string, obj: KubeObject, finalizer: string): Promise<KubeObject | undefined> {
  const list = obj.metadata?.finalizers;
  if (list?.includes(finalizer)) return undefined;
  const ops = list
    ? [
        { op: 'test', path: '/metadata/finalizers', value: list },
        { op: 'add', path: '/metadata/finalizers/-', value: finalizer },
      ]
    : [
        { op: 'test', path: '/metadata/resourceVersion', value: obj.metadata?.resourceVersion },
        { op: 'add', path: '/metadata/finalizers', value: [finalizer] },
      ];
  return client.patch<KubeObject>(path, ops, 'json');
}

export async function removeFinalizer(client: KubeClient, path: string, obj: KubeObject, finalizer: string): Promise<KubeObject | undefined> {
  const list = obj.metadata?.finalizers ?? [];
  const i = list.indexOf(finalizer);
  if (i < 0) return undefined;
  try {
    return await client.patch<KubeObject>(
      path,
      [
        { op: 'test', path: `/metadata/finalizers/${i}`, value: finalizer },
        { op: 'remove', path: `/metadata/finalizers/${i}` },
      ],
      'json',
    );
  } catch (e) {
    if (e instanceof KubeApiError && e.notFound) return undefined;
    throw e;
  }
}
