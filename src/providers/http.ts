import type { z } from 'zod';
import { WindowLimiter } from '../schedule/window-limiter.js';
import { ProviderError, kindForStatus, parseRetryAfter } from './errors.js';

/**
 * The one HTTP seam every provider uses: timeouts, a body size cap, typed errors and
 * zod parsing. No retries here: every retry policy lives in src/schedule/retry.ts (a failed
 * call is tried again by the next reconcile, after the resource's back-off).
 */
export interface HttpRequest {
  method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
  url: string;
  headers?: Record<string, string>;
  /** a string is sent as is; an object is JSON-encoded; URLSearchParams is form-encoded */
  body?: string | URLSearchParams | Record<string, unknown> | unknown[];
  timeoutMs?: number;
}

export interface HttpResponse {
  status: number;
  headers: Headers;
  text: string;
}

export type HttpClient = (req: HttpRequest) => Promise<HttpResponse>;

export interface ObservedCall {
  provider: string;
  call: string;
  outcome: string;
  seconds: number;
}

export interface HttpOptions {
  timeoutMs?: number;
  maxBodyBytes?: number;
  /** called once per request with non-secret facts, for metrics */
  observe?: (o: ObservedCall) => void;
  now?: () => number;
  /**
   * Requests per second allowed to each provider host (origin), shared by every resource:
   * a thundering herd of due rotations is smoothed here instead of hitting the vendor. No
   * window of a second ever holds more (window-limiter.ts).
   */
  perHostRate?: { qps: number };
}

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_BODY = 1024 * 1024;
/** the rate window is widened by this much: calls that leave a second apart can arrive closer after network jitter */
const RATE_WINDOW_MARGIN_MS = 50;

/** A fetch-based HttpClient; `provider`/`call` name the request in errors and metrics. */
export function fetchHttpClient(opts: HttpOptions = {}): HttpClient {
  const maxBody = opts.maxBodyBytes ?? DEFAULT_MAX_BODY;
  const limiters = new Map<string, WindowLimiter>();
  const limit = opts.perHostRate;
  return async (req) => {
    if (limit) {
      const origin = new URL(req.url).origin;
      let limiter = limiters.get(origin);
      if (!limiter) limiters.set(origin, (limiter = WindowLimiter.perSecond(limit.qps, RATE_WINDOW_MARGIN_MS)));
      await limiter.take();
    }
    const headers: Record<string, string> = { accept: 'application/json', ...req.headers };
    let body: string | undefined;
    if (req.body instanceof URLSearchParams) {
      body = req.body.toString();
      headers['content-type'] ??= 'application/x-www-form-urlencoded';
    } else if (typeof req.body === 'string') {
      body = req.body;
    } else if (req.body !== undefined) {
      body = JSON.stringify(req.body);
      headers['content-type'] ??= 'application/json';
    }
    // Not AbortSignal.timeout: its timer outlives the request (thousands of live 15 s timers
    // under load); this one is cleared as soon as the body is read.
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(new DOMException('request timed out', 'TimeoutError')), req.timeoutMs ?? opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    try {
      const res = await fetch(req.url, { method: req.method, headers, body, redirect: 'manual', signal: abort.signal });
      const text = await readCapped(res, maxBody);
      return { status: res.status, headers: res.headers, text };
    } finally {
      clearTimeout(timer);
    }
  };
}

async function readCapped(res: Response, maxBytes: number): Promise<string> {
  const declared = Number(res.headers.get('content-length') ?? '0');
  if (declared > maxBytes) {
    await res.body?.cancel();
    throw new BodyTooLarge(declared);
  }
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel();
      throw new BodyTooLarge(size);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export class BodyTooLarge extends Error {
  constructor(readonly bytes: number) {
    super(`response body larger than allowed (${bytes} bytes)`);
  }
}

/**
 * Sends a request and maps transport failures to ProviderErrors. Non-2xx statuses are
 * returned, not thrown, so each provider can read its vendor's error body first.
 */
export async function send(
  http: HttpClient,
  req: HttpRequest,
  where: { provider: string; call: string; observe?: (o: ObservedCall) => void },
): Promise<HttpResponse> {
  const started = performance.now();
  let outcome = 'error';
  try {
    const res = await http(req);
    outcome = String(res.status);
    return res;
  } catch (e) {
    if (e instanceof ProviderError) throw e;
    if (e instanceof BodyTooLarge) {
      outcome = 'oversized';
      throw new ProviderError('BadResponse', `${where.call}: ${e.message}`, { ...where });
    }
    const timeout = e instanceof Error && (e.name === 'TimeoutError' || e.name === 'AbortError');
    outcome = timeout ? 'timeout' : 'network';
    const detail = timeout ? 'timed out' : `network error (${errorCode(e)})`;
    throw new ProviderError('Retryable', `${where.call}: ${detail}`, { ...where, cause: undefined });
  } finally {
    where.observe?.({
      provider: where.provider,
      call: where.call,
      outcome,
      seconds: (performance.now() - started) / 1000,
    });
  }
}

function errorCode(e: unknown): string {
  const cause = e instanceof Error ? (e.cause as { code?: string } | undefined) : undefined;
  return cause?.code ?? (e instanceof Error ? e.name : 'unknown');
}

/** Throws the generic ProviderError for a non-2xx response (Retry-After honoured, against the caller's clock). */
export function failFor(
  res: HttpResponse,
  where: { provider: string; call: string },
  nowMs: number,
  code?: string,
  description?: string,
): never {
  const kind = kindForStatus(res.status);
  const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'), nowMs);
  const detail = [code, description].filter(Boolean).join(': ');
  throw new ProviderError(kind, `${where.call}: HTTP ${res.status}${detail ? ` (${detail})` : ''}`, {
    ...where,
    status: res.status,
    ...(code ? { code } : {}),
    ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
  });
}

/** Parses a 2xx body with zod; any mismatch is a BadResponse naming the fields, not values. */
export function parseBody<S extends z.ZodType>(
  res: HttpResponse,
  schema: S,
  where: { provider: string; call: string },
): z.infer<S> {
  let json: unknown;
  try {
    json = res.text === '' ? undefined : JSON.parse(res.text);
  } catch {
    throw new ProviderError('BadResponse', `${where.call}: response is not JSON`, { ...where, status: res.status });
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const fields = parsed.error.issues
      .slice(0, 3)
      .map((i) => `${i.path.join('.') || '(body)'}: ${i.code}`)
      .join('; ');
    throw new ProviderError('BadResponse', `${where.call}: unexpected response shape (${fields})`, {
      ...where,
      status: res.status,
    });
  }
  return parsed.data;
}
