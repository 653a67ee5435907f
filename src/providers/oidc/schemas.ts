import { z } from 'zod';
import { MAX_CREDENTIAL_CHARS } from '../http.js';

/**
 * The token endpoint's answer to a refresh grant, as far as we use it (RFC 6749 §5.1,
 * plus Keycloak's `refresh_expires_in`, see ../../../../shared/research/providers.md §2.2).
 * openid-client has already checked the OAuth shape; this pins the fields we store.
 */
export const TokenResponseSchema = z.object({
  access_token: z.string().min(1).max(MAX_CREDENTIAL_CHARS),
  // openid-client lowercases it; only bearer and dpop get this far
  token_type: z.string().min(1),
  expires_in: z.number().nonnegative().optional(),
  refresh_token: z.string().min(1).max(MAX_CREDENTIAL_CHARS).optional(),
  // Keycloak: seconds until the refresh token expires; 0 = never (offline token). Not
  // part of OAuth, so a server may spell it oddly: treat a bad value as absent rather
  // than fail a response whose rotated refresh token must still be stored.
  refresh_expires_in: z.number().nonnegative().optional().catch(undefined),
  scope: z.string().max(MAX_CREDENTIAL_CHARS).optional(),
});
export type TokenResponse = z.infer<typeof TokenResponseSchema>;

/** The claims we read from an access token we cannot otherwise date (signature unchecked). */
export const JwtExpirySchema = z.object({ exp: z.number().positive() });
