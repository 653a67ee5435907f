import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import type { KubeObject } from '../../runtime/kube-client.js';
import { secretData } from '../../runtime/secret-writer.js';
import { claimedBy, writtenData } from './ownership.js';
import { TEMPLATE_ANNOTATION } from './target-content.js';

export const ANNOTATIONS = {
  expiresAt: 'token-operator.io/expires-at',
  rotatedAt: 'token-operator.io/rotated-at',
  revision: 'token-operator.io/revision',
  tokenId: 'token-operator.io/token-id',
  /** the rotate request the credential in the Secret answered (adopted after a crash) */
  rotateRequest: 'token-operator.io/rotate-request',
} as const;

/** What the operator can tell about the target Secret from its cache, without a request. */
export interface SecretState {
  exists: boolean;
  /** claimed by this resource (ownership.ts): its data is this resource's to compare and repair */
  owned: boolean;
  revision: number;
  tokenId?: string;
  expiresAt?: Date;
  rotatedAt?: Date;
  /**
   * the keys the operator wrote (token-operator.io/written-keys), only when owned: others' keys
   * are never compared. Empty for a templated Secret from the operator's cache: `dataHmac` then
   * stands for it (digestTemplatedData).
   */
  data: Record<string, string>;
  /** the HMAC of the written keys, computed when the Secret was cached (templated Secrets only) */
  dataHmac?: string;
  /**
   * rendered from spec.target.template (target-content.ts): `data` then holds the templated keys,
   * not the credential's own fields, which only the state Secret keeps
   */
  templated?: boolean;
}

export function readSecretState(secret: KubeObject | undefined, ownerUid: string): SecretState {
  if (!secret) return { exists: false, owned: false, revision: 0, data: {} };
  const owned = claimedBy(secret, ownerUid);
  if (!owned) return { exists: true, owned: false, revision: 0, data: {} };
  const a = secret.metadata?.annotations ?? {};
  const digest = digested.get(secret);
  const date = (v: string | undefined) => (v && !Number.isNaN(Date.parse(v)) ? new Date(v) : undefined);
  const expiresAt = date(a[ANNOTATIONS.expiresAt]);
  const rotatedAt = date(a[ANNOTATIONS.rotatedAt]);
  return {
    exists: true,
    owned,
    revision: Number(a[ANNOTATIONS.revision] ?? 0) || 0,
    ...(a[ANNOTATIONS.tokenId] ? { tokenId: a[ANNOTATIONS.tokenId] } : {}),
    ...(expiresAt ? { expiresAt } : {}),
    ...(rotatedAt ? { rotatedAt } : {}),
    ...(digest === undefined ? { data: writtenData(secret, secretData(secret)) } : { data: {}, dataHmac: digest }),
    ...(a[TEMPLATE_ANNOTATION] !== undefined ? { templated: true } : {}),
  };
}

/** The HMAC of what the target Secret holds of the operator's keys (drift detection, adoption). */
export function secretHmac(key: Buffer, secret: SecretState): string {
  return secret.dataHmac ?? dataHmac(key, secret.data);
}

/** Secrets whose cached copy holds no values, with the HMAC of what the operator wrote into them */
const digested = new WeakMap<KubeObject, string>();

/**
 * What the operator's cache keeps of a templated target Secret's data: its keys, each value
 * emptied, and the HMAC of the keys it wrote (set aside for readSecretState). Nothing reads a
 * templated Secret's values: they are the template's rendering, not the credential's fields,
 * which the state Secret keeps (target-content.ts); drift detection needs only the HMAC. At 10k
 * tokens this is most of what the Secret cache held (bench/README.md). Without a key (not
 * loaded yet), or for a Secret without a template, the data stays as it is.
 */
export function digestTemplatedData(secret: KubeObject, hmacKey: Buffer): KubeObject {
  const data = secret.data as Record<string, string> | undefined;
  if (!hmacKey.length || !data || secret.metadata?.annotations?.[TEMPLATE_ANNOTATION] === undefined) return secret;
  digested.set(secret, dataHmac(hmacKey, writtenData(secret, secretData(secret))));
  const emptied: Record<string, string> = {};
  for (const k of Object.keys(data)) emptied[k] = '';
  secret.data = emptied;
  return secret;
}

// A raw key is imported into OpenSSL on every createHmac; an imported KeyObject made each HMAC
// about 4x cheaper (20 → 5 µs), and the operator computes several per reconcile.
const imported = new WeakMap<Buffer, KeyObject>();
function keyObject(key: Buffer): KeyObject {
  let k = imported.get(key);
  if (!k) imported.set(key, (k = createSecretKey(key)));
  return k;
}

/**
 * Keyed HMAC of Secret data (VSO's approach): lets status say "this is what I wrote" and
 * detect drift, without publishing a hash that could be brute-forced for low-entropy values.
 */
export function dataHmac(key: Buffer, data: Record<string, string>): string {
  const h = createHmac('sha256', keyObject(key));
  for (const k of Object.keys(data).sort()) h.update(k).update('\0').update(data[k]!).update('\0');
  return `hmac-sha256:${h.digest('hex').slice(0, 32)}`;
}
