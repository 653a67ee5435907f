import { z } from 'zod';
import { MAX_CREDENTIAL_CHARS, MAX_URL_CHARS } from '../http.js';

/**
 * Shapes of the Open Payments authorization server's token-management replies
 * (auth-server.yaml 1.1.0, `/token/{id}`; ../../../../shared/research/providers.md §4.1).
 */

/**
 * One access right of the grant. The spec's oneOf (incoming-payment / outgoing-payment /
 * quote) is checked only as far as we use it: the operator copies `access` into the
 * target Secret verbatim, so unknown fields (limits, future types) are kept, not judged.
 */
export const GnapAccessItemSchema = z.looseObject({
  type: z.string().min(1),
  actions: z.array(z.string()),
  identifier: z.string().optional(),
});
export type GnapAccessItem = z.infer<typeof GnapAccessItemSchema>;

/**
 * `access_token` of a rotate reply. The spec sets additionalProperties:false; we do not
 * enforce that here on purpose: by the time we parse this the server has already revoked
 * the old token, so refusing a reply over an extra field would throw away the only live
 * credential. value and manage are what we cannot do without.
 */
export const GnapAccessTokenSchema = z.object({
  value: z.string().min(1).max(MAX_CREDENTIAL_CHARS),
  manage: z.url({ protocol: /^https?$/ }).max(MAX_URL_CHARS),
  expires_in: z.number().int().nonnegative().optional(),
  // the spec caps access at 3 items; not enforced, for the same reason as above
  access: z.array(GnapAccessItemSchema),
});

export const GnapRotateResponseSchema = z.object({
  access_token: GnapAccessTokenSchema,
});

/** `{"error":{"code","description"}}` (GNAP error object as Rafiki sends it). */
export const GnapErrorBodySchema = z.object({
  error: z.object({
    code: z.string(),
    description: z.string().optional(),
  }),
});
