import { isProviderError } from '../errors.js';
import { ALIVE, revoked, unknown, unknownFrom, type Liveness } from '../liveness.js';
import type { DdsToken } from './dds-api.js';
import { type VerifyCall, verifyShareAccess } from './delta-sharing.js';

/**
 * Liveness of a Delta Sharing profile the operator wrote (docs/liveness.md):
 *
 * - `GET {endpoint}/shares?maxResults=1` with the bearer token (what every consumer does
 *   first): 200 = alive; 401/403 = the server refuses the token (revoked with PATCH 0, or the
 *   server forgot it); anything else proves nothing. It needs no zDirect token, so it never
 *   spends the 8-per-minute token budget.
 * - Where the operator may not call the sharing server (spec.verify false): the token is still
 *   listed ACTIVE or ROTATED, unexpired, by `GET /dds-tokens` (see listedLiveness).
 */
export async function shareLiveness(c: VerifyCall, profile: { endpoint: string; bearerToken: string }): Promise<Liveness> {
  try {
    await verifyShareAccess(c, profile);
    return ALIVE;
  } catch (e) {
    if (isProviderError(e) && e.kind === 'Unauthorized') return revoked(`the Delta Sharing server refused the bearer token (${e.message})`);
    return unknownFrom(e);
  }
}

/**
 * Whether the DDS token list still holds the token by its id. Without a known id (a DDS that
 * lists none) only an account with no valid token at all says revoked.
 */
export function listedLiveness(tokens: DdsToken[], tokenId: string | undefined, now: Date): Liveness {
  const valid = tokens.filter((t) => (t.status === 'ACTIVE' || t.status === 'ROTATED') && (t.expirationTime === undefined || t.expirationTime > now));
  if (tokenId !== undefined) {
    if (valid.some((t) => t.id === tokenId)) return ALIVE;
    return revoked(`list-tokens: token ${tokenId} is no longer listed as ACTIVE or ROTATED (${valid.length} valid token(s) listed)`);
  }
  if (valid.length === 0) return revoked('list-tokens: the account has no ACTIVE or ROTATED token left');
  return unknown('list-tokens: DDS lists no token ids, so the token in the Secret cannot be told apart from the others');
}
