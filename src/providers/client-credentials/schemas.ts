import { z } from 'zod';
import { MAX_CREDENTIAL_CHARS, MAX_URL_CHARS } from '../http.js';

/**
 * What the token endpoint answers to a client credentials grant (RFC 6749 §4.4.3, §5.1), as
 * far as we use it. A refresh token, which the RFC says should not be there, is not read.
 */
export const TokenResponse = z.object({
  access_token: z.string().min(1).max(MAX_CREDENTIAL_CHARS),
  token_type: z.string().min(1).max(64),
  expires_in: z.union([z.number().nonnegative(), z.string().max(12).regex(/^\d+$/).transform(Number)]).optional(),
  scope: z.string().optional(),
});

/** RFC 6749 §5.2 error body; anything else reads as no body. */
export const OAuthError = z.object({ error: z.string(), error_description: z.string().optional() });

/** The OpenID discovery document, as far as we use it. */
export const Discovery = z.object({
  issuer: z.string().max(MAX_URL_CHARS),
  token_endpoint: z.string().max(MAX_URL_CHARS),
  revocation_endpoint: z.string().max(MAX_URL_CHARS).optional(),
  introspection_endpoint: z.string().max(MAX_URL_CHARS).optional(),
});

