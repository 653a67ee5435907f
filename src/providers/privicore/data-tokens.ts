import { ProviderError } from '../errors.js';
import { LARGE_BODY, send } from '../http.js';
import type { Authorized, PrivicoreContext } from './context.js';
import { acceptedCommand, commandIdFrom, waitForCommand } from './commands.js';
import { failure, isSuccess, parse, request, sendCall, tryJson, where } from './request.js';
import {
  DataTokenList,
  PermanentTokenBody,
  TemporaryTokenBody,
  type TemporaryToken,
} from './schemas.js';

/**
 * The reservation TTL's unit is disputed (providers.md §3.4, §3.7 gotcha 3): the
 * official docs say integer minutes (default 5); the third-party probe says seconds,
 * yet saw `300` refused with 422 while `5` worked. We think in seconds and send what
 * the configured unit asks for.
 */
export type ReservationTtlUnit = 'minutes' | 'seconds';

export function reservationTtlOnWire(ttlSeconds: number, unit: ReservationTtlUnit): number {
  return unit === 'minutes' ? Math.max(1, Math.ceil(ttlSeconds / 60)) : Math.max(1, Math.ceil(ttlSeconds));
}

/** `POST /data-token/reserve-token-space` → 202; returns once the reservation is acknowledged. */
export async function reserveTokenSpace(
  ctx: PrivicoreContext,
  authorized: Authorized,
  input: { context: string; ttl: number; meta?: string },
): Promise<{ reservationId: string }> {
  const call = 'reserveTokenSpace';
  const form = { context: input.context, ttl: String(input.ttl), meta: input.meta };
  const res = await authorized((token) => request(ctx, { call, method: 'POST', path: '/data-token/reserve-token-space', token, form }));
  const reservationId = acceptedCommand(res, call);
  await waitForCommand(ctx, reservationId, authorized, { call });
  return { reservationId };
}

/**
 * `GET /data-token/retrieve-temporary-data-token/{reservationId}`. Answers 404 until
 * the reservation has settled (§3.7 gotcha 2), so 404 is retried for a short while.
 */
export async function retrieveTemporaryToken(
  ctx: PrivicoreContext,
  authorized: Authorized,
  reservationId: string,
): Promise<TemporaryToken> {
  const call = 'retrieveTemporaryToken';
  const path = `/data-token/retrieve-temporary-data-token/${encodeURIComponent(reservationId)}`;
  const started = ctx.elapsedMs();
  let pause = ctx.polling.intervalMs;
  for (;;) {
    const found = await authorized(async (token) => {
      const res = await sendCall(ctx, { call, method: 'GET', path, token });
      if (res.status === 404 && ctx.elapsedMs() - started + pause <= ctx.polling.settleTimeoutMs) return undefined;
      if (!isSuccess(res)) throw failure(ctx, res, call);
      const body = parse(res, TemporaryTokenBody, call);
      return typeof body === 'string'
        ? { token: body }
        : {
            token: body.token,
            ...(body.stream !== undefined ? { stream: body.stream } : {}),
            ...(body.createdAt !== undefined ? { createdAt: body.createdAt } : {}),
          };
    });
    if (found) return found;
    await ctx.sleep(pause);
    pause = Math.min(Math.round(pause * 1.5), ctx.polling.maxIntervalMs);
  }
}

/**
 * `POST /data-token/exchange-data-for-token` with the temporary token and the payload as
 * base64 → 202; returns once acknowledged. The probe encrypts client-side first; we
 * send what we are given (encryption, if wanted, is the caller's per-owner key, §3.6).
 */
export async function exchangeDataForToken(
  ctx: PrivicoreContext,
  authorized: Authorized,
  temporaryToken: string,
  dataBase64: string,
): Promise<{ commandId: string }> {
  const call = 'exchangeDataForToken';
  const form = { temporaryTokenSpace: temporaryToken, data: dataBase64 };
  const res = await authorized((token) => request(ctx, { call, method: 'POST', path: '/data-token/exchange-data-for-token', token, form }));
  const commandId = acceptedCommand(res, call);
  // A rejection reason is server text: keep the payload (either encoding) out of it.
  const plain = Buffer.from(dataBase64, 'base64').toString('utf8');
  await waitForCommand(ctx, commandId, authorized, { call, secrets: [dataBase64, plain, temporaryToken] });
  return { commandId };
}

export interface FileMeta {
  fileName: string;
  extension: string;
  context: string;
  /** payload size in bytes */
  size: number;
  path: string;
}

/**
 * `POST /data-token/configure-file-meta` (synchronous 200): turns the filled temporary
 * token into the permanent `dtk-…` handle. Skipping it lets the row expire with the
 * reservation TTL (§3.4), so the tokenize flow always calls it.
 */
export async function configureFileMeta(
  ctx: PrivicoreContext,
  authorized: Authorized,
  temporaryToken: string,
  meta: FileMeta,
): Promise<{ token: string }> {
  const call = 'configureFileMeta';
  const form = { token: temporaryToken, ...meta, size: String(meta.size) };
  const res = await authorized((token) => request(ctx, { call, method: 'POST', path: '/data-token/configure-file-meta', token, form }));
  if (res.status !== 200) {
    throw new ProviderError('BadResponse', `${call}: expected 200, got another success status (HTTP ${res.status})`, { ...where(call), status: res.status });
  }
  const body = parse(res, PermanentTokenBody, call);
  return { token: typeof body === 'string' ? body : body.token };
}

/**
 * `POST /data-token/request-data` → 202 with the request id in the
 * `x-dpt-cab-request-id` header. Privicore delivers the download link over its
 * WebSocket (§3.3); WebSockets are out of scope here, so we poll
 * `/request-status/{requestId}` and read the link from its `body` — an adaptation the
 * simulator implements and the live service is not confirmed to offer.
 */
export async function requestData(
  ctx: PrivicoreContext,
  authorized: Authorized,
  dataToken: string,
): Promise<{ requestId: string; downloadUrl: string }> {
  const call = 'requestData';
  const res = await authorized((token) =>
    request(ctx, { call, method: 'POST', path: '/data-token/request-data', token, form: { token: dataToken } }),
  );
  const header = res.headers.get('x-dpt-cab-request-id')?.trim();
  const requestId = header ? header : commandIdFrom(res, call);
  const outcome = await waitForCommand(ctx, requestId, authorized, { call });
  const link = typeof outcome.body === 'string' ? outcome.body.trim() : undefined;
  const downloadUrl = link ? absoluteHttpUrl(link, ctx.apiUrl) : undefined;
  if (!downloadUrl) {
    throw new ProviderError('BadResponse', `${call}: acknowledgement carries no download link`, where(call));
  }
  return { requestId, downloadUrl };
}

function absoluteHttpUrl(link: string, base: string): string | undefined {
  try {
    const url = new URL(link, base + '/');
    return url.protocol === 'https:' || url.protocol === 'http:' ? url.toString() : undefined;
  } catch {
    return undefined;
  }
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * GETs a download link. The link's `auth` is single-use and time-limited (§3.7 gotcha
 * 5), so a refused link (401/403/404/410) is Retryable: the next attempt requests the
 * data again. The profile token is never sent to the download server. The body is the
 * payload in base64 (our HttpClient seam carries text, so raw binary would not survive).
 */
export async function download(ctx: PrivicoreContext, url: string): Promise<Buffer> {
  const call = 'download';
  const res = await send(
    ctx.http,
    {
      method: 'GET',
      url,
      headers: { accept: 'text/plain, application/octet-stream;q=0.5' },
      // the data behind the token, base64-encoded: up to a Secret's worth
      maxBodyBytes: LARGE_BODY,
      ...(ctx.requestTimeoutMs !== undefined ? { timeoutMs: ctx.requestTimeoutMs } : {}),
    },
    { ...where(call), ...(ctx.observe ? { observe: ctx.observe } : {}) },
  );
  if ([401, 403, 404, 410].includes(res.status)) {
    throw new ProviderError('Retryable', `${call}: HTTP ${res.status} (download link expired or already used)`, {
      ...where(call),
      status: res.status,
      code: 'download_link_invalid',
    });
  }
  if (!isSuccess(res)) throw failure(ctx, res, call);
  const decoded = tryJson(res.text.trim());
  const text = typeof decoded === 'string' ? decoded.replace(/\s+/g, '') : undefined;
  if (text === undefined || !BASE64.test(text)) {
    throw new ProviderError('BadResponse', `${call}: body is not base64`, { ...where(call), status: res.status });
  }
  return Buffer.from(text, 'base64');
}

/** `GET /data-token/list-data-tokens?page&perPage` (§3.4). */
export async function listDataTokens(
  ctx: PrivicoreContext,
  authorized: Authorized,
  page: number,
  perPage: number,
): Promise<DataTokenList> {
  const call = 'listDataTokens';
  const query = { page: String(page), perPage: String(perPage) };
  const res = await authorized((token) => request(ctx, { call, method: 'GET', path: '/data-token/list-data-tokens', token, query, largeBody: true }));
  return parse(res, DataTokenList, call);
}

export interface DataTokenChanges {
  context?: string;
  fileName?: string;
  extension?: string;
}

/** `POST /data-token/update-data-token` → 202; returns once acknowledged. */
export async function updateDataToken(
  ctx: PrivicoreContext,
  authorized: Authorized,
  dataToken: string,
  changes: DataTokenChanges,
): Promise<void> {
  const call = 'updateDataToken';
  const form = { token: dataToken, ...changes };
  const res = await authorized((token) => request(ctx, { call, method: 'POST', path: '/data-token/update-data-token', token, form }));
  await waitForCommand(ctx, acceptedCommand(res, call), authorized, { call });
}

/** `POST /data-token/delete-data` → 202; returns once the engine has committed the delete. */
export async function deleteData(ctx: PrivicoreContext, authorized: Authorized, dataToken: string): Promise<void> {
  const call = 'deleteData';
  const res = await authorized((token) =>
    request(ctx, { call, method: 'POST', path: '/data-token/delete-data', token, form: { token: dataToken } }),
  );
  await waitForCommand(ctx, acceptedCommand(res, call), authorized, { call });
}
