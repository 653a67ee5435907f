import type { z } from 'zod';
import { ProviderError, kindForStatus, parseRetryAfter } from '../errors.js';
import { LARGE_BODY, parseBody, send, type HttpRequest, type HttpResponse } from '../http.js';
import { AUTH_HEADER, PROVIDER, type PrivicoreContext } from './context.js';

/** One call to the Privicore API, named for errors and metrics. */
export interface PrivicoreCall {
  call: string;
  method: 'GET' | 'POST';
  /** path below apiUrl, starting with '/' */
  path: string;
  /** the profile authorization token, sent as X-DPT-AUTHORIZATION */
  token?: string;
  /** form fields (Privicore bodies are form-encoded unless noted, §3.4) */
  form?: Record<string, string | undefined>;
  /** a JSON body (only request-status uses one: `{}` as the probe sends it) */
  json?: Record<string, unknown>;
  query?: Record<string, string>;
  /** the answer may be large (a page of the data-token list): the HttpClient's LARGE_BODY cap */
  largeBody?: boolean;
}

export function where(call: string): { provider: string; call: string } {
  return { provider: PROVIDER, call };
}

/** Sends the call and returns the response whatever its status. */
export async function sendCall(ctx: PrivicoreContext, c: PrivicoreCall): Promise<HttpResponse> {
  const url = new URL(ctx.apiUrl + c.path);
  for (const [k, v] of Object.entries(c.query ?? {})) url.searchParams.set(k, v);
  const headers: Record<string, string> = {};
  if (c.token !== undefined) headers[AUTH_HEADER] = c.token;
  const req: HttpRequest = { method: c.method, url: url.toString(), headers };
  if (c.form) {
    const form = new URLSearchParams();
    for (const [k, v] of Object.entries(c.form)) if (v !== undefined) form.set(k, v);
    req.body = form;
  } else if (c.json) {
    req.body = c.json;
  }
  if (ctx.requestTimeoutMs !== undefined) req.timeoutMs = ctx.requestTimeoutMs;
  if (c.largeBody) req.maxBodyBytes = LARGE_BODY;
  return send(ctx.http, req, { ...where(c.call), ...(ctx.observe ? { observe: ctx.observe } : {}) });
}

export const isSuccess = (res: HttpResponse): boolean => res.status >= 200 && res.status < 300;

/** Sends the call; any non-2xx becomes a ProviderError. */
export async function request(ctx: PrivicoreContext, c: PrivicoreCall): Promise<HttpResponse> {
  const res = await sendCall(ctx, c);
  if (!isSuccess(res)) throw failure(ctx, res, c.call, fieldNames(c));
  return res;
}

/** Parses a 2xx JSON body with zod (mismatch → BadResponse naming fields, never values). */
export function parse<S extends z.ZodType>(res: HttpResponse, schema: S, call: string): z.infer<S> {
  return parseBody(res, schema, where(call));
}

function fieldNames(c: PrivicoreCall): string[] {
  return [...Object.keys(c.form ?? {}), ...Object.keys(c.query ?? {})];
}

const MACHINE_CODE = /^[a-z][a-z0-9_.-]{0,40}$/i;

/**
 * Maps a non-2xx answer to a ProviderError. 401/403 → Unauthorized, 404 → NotFound,
 * 422 → Invalid naming the offending field when the body says which (only names we
 * sent, so a value can never slip through), 429 → RateLimited, 5xx → Retryable.
 */
export function failure(ctx: PrivicoreContext, res: HttpResponse, call: string, sentFields: string[] = []): ProviderError {
  const body = tryJson(res.text);
  const rawCode = firstString(body, ['code', 'error']);
  const code = rawCode !== undefined && MACHINE_CODE.test(rawCode) ? scrub(ctx, rawCode) : undefined;
  const fields = res.status === 422 || res.status === 400 ? namedFields(body, sentFields) : [];
  // The server's own words are not repeated: Privicore documents no error vocabulary, and apiUrl
  // may point at any service. Field names are, when they are names we sent ourselves.
  const detail = fields.length ? `field ${fields.join(', ')}` : '';
  const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'), ctx.clock.now().getTime());
  const message = scrub(ctx, `${call}: HTTP ${res.status}${detail ? ` (${detail})` : ''}`);
  return new ProviderError(kindForStatus(res.status), message, {
    ...where(call),
    status: res.status,
    ...(code !== undefined ? { code } : {}),
    ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
  });
}

export function tryJson(text: string): unknown {
  try {
    return text === '' ? undefined : (JSON.parse(text) as unknown);
  } catch {
    return text;
  }
}

function firstString(body: unknown, keys: string[]): string | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined;
  const record = body as Record<string, unknown>;
  for (const k of keys) {
    const v = record[k];
    if (typeof v === 'string' && v.trim() !== '') return v.trim();
  }
  return undefined;
}

/**
 * The 422 body schema is undocumented; the probe author says it "usually" names the
 * bad field (providers.md §3.4). We look in the usual places — `errors` as an object or
 * a list, `field`/`parameter`, or the word inside a message — and keep only names we
 * sent ourselves.
 */
function namedFields(body: unknown, sent: string[]): string[] {
  if (sent.length === 0) return [];
  const candidates = new Set<string>();
  const texts: string[] = [];
  const visit = (v: unknown, depth: number): void => {
    if (depth > 3 || v === null || v === undefined) return;
    if (typeof v === 'string') texts.push(v);
    else if (Array.isArray(v)) v.forEach((x) => visit(x, depth + 1));
    else if (typeof v === 'object') {
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
        candidates.add(k);
        if (['field', 'parameter', 'param', 'property', 'name'].includes(k) && typeof x === 'string') candidates.add(x);
        visit(x, depth + 1);
      }
    }
  };
  visit(body, 0);
  const found = sent.filter(
    (f) => candidates.has(f) || texts.some((t) => new RegExp(`(^|[^A-Za-z0-9_])${f}([^A-Za-z0-9_]|$)`).test(t)),
  );
  return [...new Set(found)];
}

/**
 * Removes every known secret (password, authorization token, payload) from text the
 * server produced, on top of the shared `sanitize` (which catches long opaque runs).
 */
export function scrub(ctx: PrivicoreContext, text: string, extra: readonly string[] = []): string {
  let out = text;
  for (const secret of [...ctx.knownSecrets(), ...extra]) {
    if (secret.length >= 3) out = out.split(secret).join('[redacted]');
  }
  return out;
}
