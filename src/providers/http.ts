import type { Dispatcher } from 'undici';
import type { z } from 'zod';
import { WindowLimiter } from '../schedule/window-limiter.js';
import { egressAgent, type EgressAgentOptions } from './egress/connector.js';
import { EgressDenied } from './egress/policy.js';
import { ProviderError, kindForStatus, parseRetryAfter } from './errors.js';

/**
 * The one HTTP seam every provider uses: timeouts, a body size cap, typed errors and
 * zod parsing. No retries here: retry policy belongs to the work queue, which knows
 * about back-off and rate limits across reconciles.
 */
export interface HttpRequest {
  method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
  url: string;
  headers?: Record<string, string>;
  /** a string is sent as is; an object is JSON-encoded; URLSearchParams is form-encoded */
  body?: string | URLSearchParams | Record<string, unknown> | unknown[];
  timeoutMs?: number;
  /**
   * The resource's consent to plain http:// (its `allowInsecureHttp`). The egress policy allows
   * http only when the operator consents too; URLs a provider hands back carry the same consent.
   */
  allowInsecureHttp?: boolean;
  /** a larger body cap for this call (the client's default is for token-sized answers) */
  maxBodyBytes?: number;
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
  /**
   * The egress policy every request passes (egress/policy.ts): the URL before anything is sent,
   * then every resolved address at connect time. The operator always sets it; without it (tests,
   * the CLI) requests go wherever they point.
   */
  egress?: EgressAgentOptions;
}

const DEFAULT_TIMEOUT_MS = 10_000;
/**
 * Every vendor answer the operator reads is a token response, a token list, a profile or a
 * discovery document: a few KiB. A URL can point anywhere, so a body is read only up to this
 * (the concurrent reconciles times this is what a hostile endpoint can make the operator hold);
 * the calls that fetch user data (Privicore downloads and lists) ask for more per request.
 */
export const DEFAULT_MAX_BODY = 64 * 1024;
/** for the calls that carry user data (a Privicore download is a Secret's worth, base64-encoded) */
export const LARGE_BODY = 1536 * 1024;
/**
 * The longest credential (access, refresh or bearer token, authorization) accepted from a
 * provider. A credential is sent in an HTTP header, and servers refuse headers past 8-16 KiB
 * (Node's own limit for all headers is 16 KiB), so a longer one is no usable credential; it is
 * also what the operator keeps per resource (Secret cache, one-time credentials awaiting their
 * write, provider-side caches), so it bounds memory per tenant.
 */
export const MAX_CREDENTIAL_CHARS = 16 * 1024;
/** the longest URL accepted from a provider (links, endpoints, manage URLs) */
export const MAX_URL_CHARS = 4096;
/** the rate window is widened by this much: calls that leave a second apart can arrive closer after network jitter */
const RATE_WINDOW_MARGIN_MS = 50;

/** The same client, sending every request with the resource's consent to plain http (see HttpRequest). */
export function withInsecureHttpConsent(http: HttpClient, consent: boolean | undefined): HttpClient {
  return consent ? (req) => http({ ...req, allowInsecureHttp: true }) : http;
}

/** A fetch-based HttpClient; `provider`/`call` name the request in errors and metrics. */
export function fetchHttpClient(opts: HttpOptions = {}): HttpClient {
  const maxBody = opts.maxBodyBytes ?? DEFAULT_MAX_BODY;
  const limiters = opts.perHostRate ? new HostLimiters(opts.perHostRate.qps, opts.now ?? (() => performance.now())) : undefined;
  const egress = opts.egress;
  const dispatcher: Dispatcher | undefined = egress ? egressAgent(egress) : undefined;
  return async (req) => {
    const url = new URL(req.url);
    if (egress) {
      // Refused before the rate limiter: a denied host neither waits for nor takes a slot.
      const denied = egress.policy.checkUrl(url, req.allowInsecureHttp === true);
      if (denied) {
        egress.onDenied?.(denied);
        throw denied;
      }
    }
    await limiters?.take(url.origin);
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
      // redirects are never followed: a 3xx is an answer like any other, its Location never a new target
      const init = { method: req.method, headers, body, redirect: 'manual', signal: abort.signal, ...(dispatcher ? { dispatcher } : {}) } as RequestInit;
      const res = await fetch(url, init).catch((e: unknown) => {
        // the connector's refusal arrives wrapped in fetch's TypeError
        throw e instanceof Error && e.cause instanceof EgressDenied ? e.cause : e;
      });
      const text = await readCapped(res, req.maxBodyBytes ?? maxBody);
      return { status: res.status, headers: res.headers, text };
    } finally {
      clearTimeout(timer);
    }
  };
}

/**
 * One rate limiter per provider origin. Origins come from resources (user input), so the map is
 * kept to the origins in use: a limiter idle for a whole window remembers nothing that matters
 * (a fresh one grants the same), and the sweep that drops those runs at most once a window.
 * At most MAX_HOST_LIMITERS live at once; past that the longest-idle one goes.
 */
export const MAX_HOST_LIMITERS = 4096;

export class HostLimiters {
  private readonly byOrigin = new Map<string, { limiter: WindowLimiter; lastUse: number }>();
  private lastSweep = Number.NEGATIVE_INFINITY;
  private readonly windowMs: number;

  constructor(
    private readonly qps: number,
    private readonly now: () => number,
  ) {
    this.windowMs = WindowLimiter.perSecond(qps, RATE_WINDOW_MARGIN_MS, now).windowMs;
  }

  get size(): number {
    return this.byOrigin.size;
  }

  take(origin: string): Promise<void> {
    const t = this.now();
    this.sweep(t);
    let entry = this.byOrigin.get(origin);
    if (entry) {
      // most recently used last, so the first entry is the longest idle
      this.byOrigin.delete(origin);
    } else {
      entry = { limiter: WindowLimiter.perSecond(this.qps, RATE_WINDOW_MARGIN_MS, this.now), lastUse: t };
      if (this.byOrigin.size >= MAX_HOST_LIMITERS) this.byOrigin.delete(this.byOrigin.keys().next().value!);
    }
    this.byOrigin.set(origin, entry);
    // a call granted later than now still uses the limiter until then
    const granted = entry.limiter.take();
    entry.lastUse = Math.max(entry.lastUse, t);
    void granted.then(() => (entry.lastUse = Math.max(entry.lastUse, this.now())));
    return granted;
  }

  private sweep(t: number): void {
    if (t - this.lastSweep < this.windowMs) return;
    this.lastSweep = t;
    for (const [origin, e] of this.byOrigin) if (e.limiter.idle && t - e.lastUse >= this.windowMs) this.byOrigin.delete(origin);
  }
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
    if (e instanceof EgressDenied) {
      outcome = 'egress-denied';
      throw new ProviderError('EgressDenied', `${where.call}: ${e.message}`, { ...where });
    }
    if (e instanceof BodyTooLarge) {
      outcome = 'oversized';
      throw new ProviderError('BadResponse', `${where.call}: ${e.message}`, { ...where });
    }
    const timeout = e instanceof Error && (e.name === 'TimeoutError' || e.name === 'AbortError');
    outcome = timeout ? 'timeout' : 'network';
    const detail = timeout ? 'timed out' : `network error (${transportFailure(errorCode(e))})`;
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

/**
 * The class of a transport failure, not the errno: "refused" against "reset" against
 * "unreachable" would tell a namespace user which internal ports are open. Name resolution
 * (anyone can query DNS) and certificate trouble (what a user must fix) keep their own words.
 */
function transportFailure(code: string): string {
  if (code === 'ENOTFOUND' || code === 'EAI_NONAME' || code === 'EAI_AGAIN' || code === 'EAI_NODATA') return 'host name not found';
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(code)) return 'TLS certificate not accepted';
  return 'could not connect';
}

function errorCode(e: unknown): string {
  const cause = e instanceof Error ? (e.cause as { code?: string } | undefined) : undefined;
  return cause?.code ?? (e instanceof Error ? e.name : 'unknown');
}

/**
 * Throws the generic ProviderError for a non-2xx response (Retry-After honoured). `code` (the
 * body's machine code) stays on the error for the caller's logic; the message shows it only when
 * it is in `vocabulary`, the vendor's documented codes: anything else in a body may be whatever a
 * non-provider endpoint answered.
 */
export function failFor(
  res: HttpResponse,
  where: { provider: string; call: string },
  code?: string,
  vocabulary?: ReadonlySet<string>,
): never {
  const kind = kindForStatus(res.status);
  const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'), Date.now());
  const shown = code !== undefined && vocabulary?.has(code) ? ` (${code})` : '';
  throw new ProviderError(kind, `${where.call}: HTTP ${res.status}${shown}`, {
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
