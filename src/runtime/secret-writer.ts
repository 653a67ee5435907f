import { createHash } from 'node:crypto';
import type { KubeObject } from './kube-client.js';

export const FIELD_MANAGER = 'token-operator';
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY_VALUE = 'token-operator';

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

/** Decoded data of a Secret object. */
export function secretData(secret: KubeObject | undefined): Record<string, string> {
  const data = (secret?.data ?? {}) as Record<string, string>;
  return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
}
