import { createHash } from 'node:crypto';
import type { KubeClient, KubeObject, OwnerReference } from './kube-client.js';

export const FIELD_MANAGER = 'token-operator';
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY_VALUE = 'token-operator';

export interface ManagedSecret {
  namespace: string;
  name: string;
  owner: OwnerReference;
  /** values as plain strings; encoded here */
  data: Record<string, string>;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  type?: string;
  /**
   * false leaves out the managed-by label that the operator's Secret informer selects on, so
   * the Secret stays out of that cache (the operator's own state Secrets: read by GET only).
   */
  watched?: boolean;
}

/** Label values are capped at 63 characters: long owner names are shortened with a hash. */
export function labelValue(value: string): string {
  if (value.length <= 63 && /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/.test(value)) return value;
  const hash = createHash('sha256').update(value).digest('hex').slice(0, 10);
  const head = value.replace(/[^-A-Za-z0-9_.]/g, '-').slice(0, 52).replace(/[^A-Za-z0-9]+$/, '');
  return `${head}-${hash}`.replace(/^[^A-Za-z0-9]+/, '');
}

export function secretLabels(ownerKind: string, ownerName: string, extra?: Record<string, string>): Record<string, string> {
  return {
    ...extra,
    [MANAGED_BY_LABEL]: MANAGED_BY_VALUE,
    'token-operator.io/owner-kind': ownerKind,
    'token-operator.io/owner-name': labelValue(ownerName),
  };
}

/**
 * Applies the whole Secret with server-side apply under our field manager: the API server
 * merges, other managers' fields survive, and re-applying identical content is a no-op
 * that changes no resourceVersion. `force` takes ownership of our keys if someone edited
 * them (drift repair).
 */
export async function applySecret(client: KubeClient, s: ManagedSecret): Promise<KubeObject> {
  const body = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: s.name,
      namespace: s.namespace,
      labels: watched(secretLabels(s.owner.kind, s.owner.name, s.labels), s.watched ?? true),
      annotations: s.annotations ?? {},
      ownerReferences: [{ ...s.owner, controller: true, blockOwnerDeletion: true }],
    },
    type: s.type ?? 'Opaque',
    data: Object.fromEntries(Object.entries(s.data).map(([k, v]) => [k, Buffer.from(v, 'utf8').toString('base64')])),
  };
  return client.patch<KubeObject>(
    `/api/v1/namespaces/${encodeURIComponent(s.namespace)}/secrets/${encodeURIComponent(s.name)}`,
    body,
    'apply',
    { fieldManager: FIELD_MANAGER, force: true },
  );
}

function watched(labels: Record<string, string>, on: boolean): Record<string, string> {
  if (on) return labels;
  const { [MANAGED_BY_LABEL]: _managed, ...rest } = labels;
  return rest;
}

/** Decoded data of a Secret object. */
export function secretData(secret: KubeObject | undefined): Record<string, string> {
  const data = (secret?.data ?? {}) as Record<string, string>;
  return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
}
