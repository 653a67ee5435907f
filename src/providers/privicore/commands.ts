import { ProviderError, sanitize } from '../errors.js';
import type { HttpResponse } from '../http.js';
import type { Authorized, PrivicoreContext } from './context.js';
import { failure, isSuccess, scrub, sendCall, tryJson, where } from './request.js';
import { CommandIdBody, CommandStatusBody } from './schemas.js';

/** Command ids are opaque (uuids on the wire); anything else in a 202 body is not one. */
const COMMAND_ID = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$/;

/**
 * Reads the command id out of a 202 body in any of its three shapes (§3.3): `"id"`,
 * `["id"]` or `{"commandId":"id"}`. An unquoted text body is taken as the bare string.
 */
export function commandIdFrom(res: HttpResponse, call: string): string {
  const parsed = CommandIdBody.safeParse(tryJson(res.text.trim()));
  const id = !parsed.success
    ? undefined
    : typeof parsed.data === 'string'
      ? parsed.data
      : Array.isArray(parsed.data)
        ? parsed.data[0]
        : parsed.data.commandId;
  if (id === undefined || !COMMAND_ID.test(id.trim())) {
    throw new ProviderError('BadResponse', `${call}: no command id in the HTTP ${res.status} answer`, {
      ...where(call),
      status: res.status,
    });
  }
  return id.trim();
}

/** A 202 is "accepted, not done" (§3.7 gotcha 1): insist on it, or a sync 200 carrying an id. */
export function acceptedCommand(res: HttpResponse, call: string): string {
  if (res.status !== 202 && res.status !== 200) {
    throw new ProviderError('BadResponse', `${call}: expected 202, got another success status (HTTP ${res.status})`, { ...where(call), status: res.status });
  }
  return commandIdFrom(res, call);
}

export type CommandState = 'pending' | 'succeeded' | 'failed';

export interface CommandStatus {
  state: CommandState;
  /** the reason of a rejection, or the result (e.g. a download URL) of a success */
  body?: unknown;
  /** data acknowledgements: 0 = inline message, 1 = file link (§3.3) */
  outputType?: number;
}

// command_status 1 pending, 2 success, 3 failed (docs); words as the probe saw them.
const WORDS: Record<string, CommandState> = {
  '1': 'pending',
  started: 'pending',
  pending: 'pending',
  queued: 'pending',
  accepted: 'pending',
  processing: 'pending',
  '2': 'succeeded',
  succeeded: 'succeeded',
  success: 'succeeded',
  completed: 'succeeded',
  '3': 'failed',
  rejected: 'failed',
  failed: 'failed',
  failure: 'failed',
};

/** Normalises every status body shape; undefined when the body is none of them. */
export function readCommandStatus(json: unknown): CommandStatus | undefined {
  const parsed = CommandStatusBody.safeParse(json);
  if (!parsed.success) return undefined;
  const data = parsed.data;
  if (typeof data === 'string' || typeof data === 'number') return stateOf(data);
  if (Array.isArray(data)) return stateOf(data[0]);
  const word = data.command_status ?? data.commandStatus ?? data.status;
  const base = word === undefined ? undefined : stateOf(word);
  if (!base) return undefined;
  return {
    ...base,
    ...(data.body !== undefined && data.body !== null && data.body !== '' ? { body: data.body } : {}),
    ...(data.output_type !== undefined ? { outputType: data.output_type } : {}),
  };
}

function stateOf(word: string | number): CommandStatus | undefined {
  const state = WORDS[String(word).trim().toLowerCase()];
  return state ? { state } : undefined;
}

export interface CommandOutcome {
  commandId: string;
  body?: unknown;
  outputType?: number;
}

export interface WaitOptions {
  /** the call that started the command, named in errors */
  call: string;
  /** extra values to keep out of a rejection reason (e.g. the payload) */
  secrets?: readonly string[];
}

/**
 * Polls `/request-status/{id}` (POST as on the live wire, GET as in the official docs,
 * §3.3) with a growing pause until the command succeeds, fails (→ Invalid with the
 * server's reason, sanitized) or the timeout passes (→ Retryable). WebSockets are out of
 * scope, so polling is our only acknowledgement channel.
 */
export async function waitForCommand(
  ctx: PrivicoreContext,
  commandId: string,
  authorized: Authorized,
  opts: WaitOptions,
): Promise<CommandOutcome> {
  const started = ctx.elapsedMs();
  let pause = ctx.polling.intervalMs;
  for (;;) {
    // A 202 means queued, not done: a look straight away only finds it pending (one wasted
    // call per command), so even the first look waits a short pause.
    await ctx.sleep(pause);
    const status = await authorized((token) => commandStatus(ctx, token, commandId));
    if (status.state === 'succeeded') {
      return {
        commandId,
        ...(status.body !== undefined ? { body: status.body } : {}),
        ...(status.outputType !== undefined ? { outputType: status.outputType } : {}),
      };
    }
    if (status.state === 'failed') {
      const reason = typeof status.body === 'string' ? scrub(ctx, sanitize(status.body), opts.secrets).slice(0, 120) : '';
      throw new ProviderError('Invalid', `${opts.call}: command rejected${reason ? ` (${reason})` : ''}`, {
        ...where(opts.call),
        code: 'rejected',
      });
    }
    pause = Math.min(Math.round(pause * 1.5), ctx.polling.maxIntervalMs);
    if (ctx.elapsedMs() - started + pause > ctx.polling.commandTimeoutMs) {
      throw new ProviderError('Retryable', `${opts.call}: command still pending after ${ctx.polling.commandTimeoutMs / 1000}s`, {
        ...where(opts.call),
        code: 'command_timeout',
      });
    }
  }
}

/** One status read; falls back from POST to GET on 404/405 and remembers what worked. */
export async function commandStatus(ctx: PrivicoreContext, token: string, commandId: string): Promise<CommandStatus> {
  const call = 'requestStatus';
  const path = `/request-status/${encodeURIComponent(commandId)}`;
  let res: HttpResponse;
  if (ctx.wire.statusMethod === 'POST') {
    res = await sendCall(ctx, { call, method: 'POST', path, token, json: {} });
    if (res.status === 404 || res.status === 405) {
      const viaGet = await sendCall(ctx, { call, method: 'GET', path, token });
      if (viaGet.status !== 404 && viaGet.status !== 405) {
        if (isSuccess(viaGet)) ctx.wire.statusMethod = 'GET';
        res = viaGet;
      }
    }
  } else {
    res = await sendCall(ctx, { call, method: 'GET', path, token });
  }
  if (!isSuccess(res)) throw failure(ctx, res, call);
  const status = readCommandStatus(tryJson(res.text.trim()));
  if (!status) {
    throw new ProviderError('BadResponse', `${call}: unexpected status body`, { ...where(call), status: res.status });
  }
  return status;
}
