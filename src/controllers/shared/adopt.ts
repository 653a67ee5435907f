import type { CommonStatus } from './token-reconciler.js';
import type { SecretState } from './secret-state.js';

/**
 * The Secret is written before the status (a one-time credential must land first). If the
 * process died in between, the Secret's annotations are ahead of the status: take the facts
 * from there instead of calling the provider again.
 */
export function adoptFromSecret(status: CommonStatus & { tokenId?: string }, secret: SecretState): boolean {
  if (!secret.exists || !secret.owned || secret.revision <= (status.revision ?? 0)) return false;
  status.revision = secret.revision;
  if (secret.tokenId) status.tokenId = secret.tokenId;
  if (secret.expiresAt) status.expirationTime = secret.expiresAt.toISOString();
  if (secret.rotatedAt) status.lastRotationTime = secret.rotatedAt.toISOString();
  return true;
}
