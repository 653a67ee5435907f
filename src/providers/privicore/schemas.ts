import { z } from 'zod';
import { MAX_CREDENTIAL_CHARS } from '../http.js';

/** An ISO timestamp such as `2026-02-21T15:33:44+00:00` (the form §3.2 shows). */
const Timestamp = z
  .string()
  .refine((s) => !Number.isNaN(Date.parse(s)), { message: 'not a timestamp' })
  .transform((s) => new Date(s));

/** 200 body of authenticate and of a synchronous reauthorize (§3.2). */
export const AuthorizationBody = z.object({
  authorizationToken: z.string().min(1).max(MAX_CREDENTIAL_CHARS),
  expiresAt: Timestamp,
});

/** 200 body of the token-expiry endpoint, at either path (§3.2). */
export const ExpiryBody = z.object({ expiresAt: Timestamp });

/** A profile authorization as the rest of the operator sees it. */
export interface ProfileAuthorization {
  authorizationToken: string;
  expiresAt: Date;
}

/**
 * 202 bodies name the command in one of three shapes (§3.3): a bare JSON string, a
 * one-element array, or `{commandId}`.
 */
export const CommandIdBody = z.union([
  z.string().min(1),
  z.tuple([z.string().min(1)]).rest(z.unknown()),
  z.object({ commandId: z.string().min(1) }),
]);

/** `/request-status/{id}` answers a bare string ("started"…), a one-element array, or `{command_status, body}`. */
const StatusWord = z.union([z.string(), z.number()]);
export const CommandStatusObject = z.object({
  command_status: StatusWord.optional(),
  commandStatus: StatusWord.optional(),
  status: StatusWord.optional(),
  body: z.unknown().optional(),
  output_type: z.coerce.number().optional(),
  data_context: z.string().optional(),
});
export const CommandStatusBody = z.union([
  StatusWord,
  z.tuple([StatusWord]).rest(z.unknown()),
  CommandStatusObject,
]);

/** `retrieve-temporary-data-token`: 200 `{uuid, createdAt, token, stream, context, ttl}` (seed 002), or a bare string. */
export const TemporaryTokenBody = z.union([
  z.string().min(1),
  z.object({
    token: z.string().min(1),
    uuid: z.string().optional(),
    createdAt: z.string().optional(),
    stream: z.string().optional(),
    context: z.string().optional(),
    ttl: z.union([z.number(), z.string()]).optional(),
  }),
]);

export interface TemporaryToken {
  token: string;
  /** `auth=…` for the stream server; single-use (§3.7 gotcha 5) */
  stream?: string;
  createdAt?: string;
}

/** `configure-file-meta`: 200 `{"token":"dtk-…"}` or the bare string (§3.4). */
export const PermanentTokenBody = z.union([z.string().min(1).max(MAX_CREDENTIAL_CHARS), z.object({ token: z.string().min(1).max(MAX_CREDENTIAL_CHARS) })]);

export const DataTokenItem = z.object({
  token: z.string().min(1),
  context: z.string().optional(),
  fileName: z.string().optional(),
  extension: z.string().optional(),
  size: z.coerce.number().optional(),
  createdAt: z.string().optional(),
});
export type DataTokenItem = z.infer<typeof DataTokenItem>;

/** `list-data-tokens`: `{items:[…], meta:{count, page, perPage}}` (§3.4). */
export const DataTokenList = z.object({
  items: z.array(DataTokenItem),
  meta: z.object({ count: z.coerce.number(), page: z.coerce.number(), perPage: z.coerce.number() }),
});
export type DataTokenList = z.infer<typeof DataTokenList>;
