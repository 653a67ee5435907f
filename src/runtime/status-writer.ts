import { isDeepStrictEqual } from 'node:util';
import { KubeApiError, type KubeClient, type KubeObject } from './kube-client.js';

/**
 * Writes a resource's status through the status subresource with a merge patch, and only
 * when it differs from what is cached: a no-op reconcile must make no write.
 * Fields set to undefined are sent as null, which a merge patch uses to remove them.
 */
export async function patchStatus<S extends Record<string, unknown>>(
  client: KubeClient,
  path: string,
  current: S | undefined,
  next: S,
): Promise<KubeObject | undefined> {
  const patch = statusDiff(current ?? {}, next);
  if (!patch) return undefined;
  return client.patch<KubeObject>(`${path}/status`, { status: patch }, 'merge');
}

/** The merge patch turning `current` into `next`, or undefined when they are equal. */
export function statusDiff(current: Record<string, unknown>, next: Record<string, unknown>): Record<string, unknown> | undefined {
  const patch: Record<string, unknown> = {};
  let changed = false;
  for (const key of new Set([...Object.keys(current), ...Object.keys(next)])) {
    const a = current[key];
    const b = next[key];
    if (b === undefined && a === undefined) continue;
    if (isDeepStrictEqual(a, b)) continue;
    patch[key] = b === undefined ? null : b;
    changed = true;
  }
  return changed ? patch : undefined;
}

/** patchStatus, where a resource deleted meanwhile is no failure (there is nothing left to tell). */
export async function patchStatusIfPresent<S extends Record<string, unknown>>(client: KubeClient, path: string, current: S | undefined, next: S): Promise<KubeObject | undefined> {
  try {
    return await patchStatus(client, path, current, next);
  } catch (e) {
    if (e instanceof KubeApiError && e.notFound) return undefined;
    throw e;
  }
}
