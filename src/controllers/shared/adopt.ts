import type { ChainStatus } from './chain.js';
import type { CommonStatus } from './kind.js';
import { ANNOTATIONS, secretHmac, type SecretState } from './secret-state.js';

/**
 * The Secret is written before the status (a one-time credential must land first). If the
 * process died in between, the Secret's annotations are ahead of the status: take the facts
 * from there — the shared ones, and the status fields the kind mirrors — instead of calling
 * the provider again. A chain's crash marker is then moot: the answer it guarded did land.
 * Returns the status as it was before, or undefined when there was nothing to adopt.
 */
export function adoptFromSecret(
  status: CommonStatus & ChainStatus,
  secret: SecretState,
  annotations: Record<string, string>,
  mirror: Readonly<Record<string, string>>,
  hmacKey: Buffer,
): CommonStatus | undefined {
  if (!secret.exists || !secret.owned || secret.revision <= (status.revision ?? 0)) return undefined;
  const before = structuredClone(status);
  status.revision = secret.revision;
  if (secret.tokenId) status.tokenId = secret.tokenId;
  if (secret.expiresAt) status.expirationTime = secret.expiresAt.toISOString();
  if (secret.rotatedAt) status.lastRotationTime = secret.rotatedAt.toISOString();
  status.secretHMAC = secretHmac(hmacKey, secret);
  for (const [field, annotation] of Object.entries({ ...mirror, lastHandledRotateRequest: ANNOTATIONS.rotateRequest })) {
    if (annotations[annotation] !== undefined) status[field] = annotations[annotation];
    else if (field in mirror) delete status[field];
  }
  delete status.pendingRefreshSince;
  delete status.credentialRefused;
  return before;
}
