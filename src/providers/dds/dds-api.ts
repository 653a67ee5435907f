import { z } from 'zod';
import { ProviderError } from '../errors.js';
import { type HttpClient, type HttpResponse, type ObservedCall, failFor, parseBody, send } from '../http.js';

/**
 * The DDS credentials API, `/dds-tokens` (../../../../shared/research/providers.md §1.3–1.4).
 * Zalando documents the verbs and `status`/`activation_link`, not the other field names or
 * the error bodies, so the parsing below accepts the likely variants and ignores the rest.
 */

/** A timestamp as epoch ms (number or numeric string), epoch seconds, or ISO-8601. */
export function parseTimestamp(value: unknown): Date | undefined {
  if (typeof value === 'number' || (typeof value === 'string' && /^\d+(\.\d+)?$/.test(value.trim()))) {
    const n = Number(value);
    // Before 1973 in ms is implausible: such a small number is epoch seconds.
    const date = new Date(n < 1e11 ? n * 1000 : n);
    return Number.isNaN(date.getTime()) ? undefined : date;
  }
  if (typeof value === 'string' && value.trim() !== '') {
    const ms = Date.parse(value);
    return Number.isNaN(ms) ? undefined : new Date(ms);
  }
  return undefined;
}

/** Unreadable times become undefined rather than failing the whole list. */
const Timestamp = z.unknown().transform(parseTimestamp).optional();

/** `activation_link` is null once the credential was downloaded ("None" in Zalando's Python examples). */
const ActivationLink = z
  .string()
  .nullish()
  .transform((v) => (v === undefined || v === null || v.trim() === '' || v === 'None' || v === 'null' ? null : v));

/** ACTIVE or ROTATED; other values are passed through for the caller to ignore. */
export type DdsTokenStatus = 'ACTIVE' | 'ROTATED' | (string & {});

export const DdsTokenSchema = z
  .object({
    id: z.union([z.string(), z.number()]).transform(String).optional(),
    status: z.string(),
    activation_link: ActivationLink,
    /** the Databricks name of the same field, in case Zalando passes it through */
    activation_url: ActivationLink,
    created_at: Timestamp,
    expiration_time: Timestamp,
  })
  .transform((t) => ({
    id: t.id,
    status: t.status.toUpperCase() as DdsTokenStatus,
    activationLink: t.activation_link ?? t.activation_url,
    createdAt: t.created_at,
    expirationTime: t.expiration_time,
  }));

export type DdsToken = z.output<typeof DdsTokenSchema>;

/**
 * Lists come as a bare array or wrapped in `{items}`; PATCH 0 may answer with nothing.
 * `items` must be present: a lone token object must not read as an empty list.
 */
const DdsTokenList = z
  .union([z.array(DdsTokenSchema), z.object({ items: z.array(DdsTokenSchema).nullable() })])
  .transform((v) => (Array.isArray(v) ? v : (v.items ?? [])));

/** zDirect errors are application/problem+json; Databricks-style fields are accepted too. */
const ProblemBody = z.object({
  title: z.string().optional(),
  detail: z.string().optional(),
  message: z.string().optional(),
  code: z.string().optional(),
  error_code: z.string().optional(),
});

/** Wording of a "too many tokens" refusal, when it arrives as a plain 400. */
const CEILING_WORDING = /\b(two|2|max(imum)?|limit|already)\b[^.]{0,60}\btokens?\b|\btokens?\b[^.]{0,60}\b(limit|maximum|exceed(s|ed)?)\b|RESOURCE_LIMIT/i;

export const TWO_TOKEN_CEILING = 'TwoTokenCeiling';

export interface DdsCall {
  http: HttpClient;
  /** API base, e.g. https://api-sandbox.merchants.zalando.com */
  apiUrl: string;
  accessToken: string;
  observe?: (o: ObservedCall) => void;
}

export async function listDdsTokens(c: DdsCall): Promise<DdsToken[]> {
  return call(c, 'list-tokens', 'GET');
}

/** Issues a new ACTIVE token; the current one turns ROTATED and expires `overlapSeconds` from now. */
export async function rotateDdsTokens(c: DdsCall, overlapSeconds: number): Promise<DdsToken[]> {
  return call(c, 'rotate-tokens', 'POST', overlapSeconds);
}

/** PATCH with 0 revokes EVERY token of the account, the active one included. */
export async function revokeAllDdsTokens(c: DdsCall): Promise<DdsToken[]> {
  return call(c, 'revoke-tokens', 'PATCH', 0);
}

async function call(c: DdsCall, name: string, method: 'GET' | 'POST' | 'PATCH', ttlSeconds?: number): Promise<DdsToken[]> {
  const where = { provider: 'dds', call: name };
  const res = await send(
    c.http,
    {
      method,
      url: `${c.apiUrl.replace(/\/+$/, '')}/dds-tokens`,
      headers: { authorization: `Bearer ${c.accessToken}` },
      ...(ttlSeconds === undefined ? {} : { body: { existing_token_expiry_time_in_seconds: ttlSeconds } }),
    },
    { ...where, observe: c.observe },
  );
  if (res.status < 200 || res.status > 299) failDds(res, where);
  if (res.text.trim() === '') return [];
  return parseBody(res, DdsTokenList, where);
}

function failDds(res: HttpResponse, where: { provider: string; call: string }): never {
  const problem = readProblem(res.text);
  const code = problem.error_code ?? problem.code;
  if (where.call === 'rotate-tokens' && isCeiling(res.status, problem)) {
    throw new ProviderError('Conflict', `${where.call}: the account already holds two valid tokens`, {
      ...where,
      status: res.status,
      code: TWO_TOKEN_CEILING,
    });
  }
  if (res.status === 403) {
    // Zalando: the app needs the dds scope (Write for POST/PATCH) and access to ALL merchants.
    throw new ProviderError('Unauthorized', `${where.call}: HTTP 403 (app lacks the dds scope or access to every merchant)`, {
      ...where,
      status: 403,
      ...(code ? { code } : {}),
    });
  }
  // Zalando documents no error codes: the problem's code stays on the error, out of the message
  failFor(res, where, code);
}

function isCeiling(status: number, problem: z.infer<typeof ProblemBody>): boolean {
  if (status === 409) return true;
  if (status !== 400) return false;
  const text = [problem.title, problem.detail, problem.message, problem.code, problem.error_code].join(' ');
  return CEILING_WORDING.test(text);
}

function readProblem(text: string): z.infer<typeof ProblemBody> {
  try {
    const parsed = ProblemBody.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : {};
  } catch {
    return {};
  }
}
