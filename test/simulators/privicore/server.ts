import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { systemClock, type Clock } from '../../../src/schedule/clock.js';
import { type SimAddress, simUrl } from '../address.js';
import {
  SimRejection,
  addProfile,
  createCommand,
  createState,
  issueAuthorization,
  liveAuthorization,
  noFaults,
  nowMs,
  opaque,
  reservationByTemporaryToken,
  reservationExpired,
  settleCommands,
  snapshot,
  type PrivicoreSimState,
  type SimCommand,
  type SimFaults,
  type SimSettings,
} from './state.js';

/**
 * A Privicore simulator on 127.0.0.1, faithful to ../shared/research/providers.md §3:
 * form bodies, `X-DPT-AUTHORIZATION`, 202 + command ids in all three body shapes,
 * `/request-status/{id}` by POST (live wire, bare string answers) and GET (docs,
 * `{command_status, body}`), both token-expiry paths, reserve → temporary token (404
 * until settled, expires with its TTL) → exchange → configure-file-meta → `dtk-…`.
 *
 * Adaptations, since WebSockets are out of scope: the request-data acknowledgement
 * (download link) is readable at `/request-status/{x-dpt-cab-request-id}`; the download
 * "server" is `/download?auth=…` on this same listener and returns the stored payload
 * in base64. The stream-server upload path is not simulated (exchange covers uploads).
 *
 * Admin: `GET /_sim/state`, `POST /_sim/faults`, `POST /_sim/settings`, `POST /_sim/profiles`, and
 * out-of-band actions a person (or another tool) might take: `POST /_sim/data-tokens/delete`
 * (`{"token"}`) deletes a data token, `POST /_sim/authorizations/revoke` (`{"username"}` or
 * empty: every profile) revokes authorization tokens.
 */

export interface PrivicoreSimulatorOptions extends SimAddress {
  port?: number;
  clock?: Clock;
  commandDelayMs?: number;
  authTtlSeconds?: number;
  settings?: Partial<SimSettings>;
  /** added before every non-admin response (ms); default 0 */
  latencyMs?: number;
}

export interface PrivicoreSimulator {
  url: string;
  close(): Promise<void>;
  state: PrivicoreSimState;
  /** every non-admin request, in order: `METHOD /route` and arrival (after latencyMs), ms by the simulator's clock */
  log: Array<{ name: string; at: number }>;
  /** mutate to inject failures (also `POST /_sim/faults`) */
  faults: SimFaults;
  addProfile(username: string, password: string): void;
  /** deletes a data token out of band; false when there was none */
  deleteDataToken(token: string): boolean;
  /** revokes every live authorization (of one profile, if given) out of band; returns how many */
  revokeAuthorizations(username?: string): number;
}

interface SimRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  form: URLSearchParams;
  token?: string;
  username: string;
  params: string[];
}

interface SimResponse {
  status: number;
  body?: unknown;
  /** sent as is (text/plain) instead of JSON */
  text?: string;
  headers?: Record<string, string>;
}

type Auth = 'required' | 'optional' | 'none';

interface Route {
  method: string;
  pattern: RegExp;
  name: string;
  auth: Auth;
  handle(req: SimRequest): SimResponse;
}

const json = (status: number, body: unknown, headers?: Record<string, string>): SimResponse => ({
  status,
  body,
  ...(headers ? { headers } : {}),
});
const notFound = (): SimResponse => json(404, { message: 'Record Not Found' });
/** 422 "Parameter Error" naming the field; the detail echoes the value, as a real server might. */
const paramError = (field: string, detail: string): SimResponse =>
  json(422, { message: 'Parameter Error', errors: { [field]: [detail] } });

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const STATUS_WORDS = { 1: 'started', 2: 'succeeded', 3: 'rejected' } as const;
const MAX_BODY_BYTES = 16 * 1024 * 1024;

export async function startPrivicoreSimulator(opts: PrivicoreSimulatorOptions = {}): Promise<PrivicoreSimulator> {
  const settings: SimSettings = {
    dialect: 'live',
    reauthorizeAnswer: 'sync',
    reservationTtlUnit: 'minutes',
    maxReservationTtl: 60,
    authTtlSeconds: opts.authTtlSeconds ?? 4 * 3600,
    maxAuthorizationTtlSeconds: 7 * 24 * 3600,
    commandDelayMs: opts.commandDelayMs ?? 50,
    downloadTtlSeconds: 60,
    ...opts.settings,
  };
  const state = createState(opts.clock ?? systemClock, settings);
  const faults = noFaults();
  const hung = new Set<NodeJS.Timeout>();
  const log: PrivicoreSimulator['log'] = [];
  let baseUrl = '';

  /** 202 with the command id, cycling through the three documented body shapes (§3.3). */
  const accepted = (command: SimCommand, headers?: Record<string, string>): SimResponse => {
    const shapes = [command.id, [command.id], { commandId: command.id }];
    return json(202, shapes[state.commandCount % 3], headers);
  };

  const command = (req: SimRequest, kind: string, effect?: () => string | void): SimCommand => {
    let rejectWith: string | undefined;
    if (faults.rejectCommands > 0 && matchesFaultPath(req.path)) {
      faults.rejectCommands -= 1;
      rejectWith = faults.rejectReason;
    }
    return createCommand(state, req.username, kind, effect, rejectWith);
  };

  const matchesFaultPath = (path: string): boolean => faults.path === undefined || path.startsWith(faults.path);

  const expiryBody = (req: SimRequest): SimResponse => {
    const auth = state.authorizations.get(req.token ?? '');
    return json(200, { expiresAt: iso(auth?.expiresAtMs ?? 0) });
  };

  const routes: Route[] = [
    { method: 'GET', pattern: /^\/health$/, name: '/health', auth: 'none', handle: () => json(200, { status: 'ok' }) },

    // ---- profile (§3.2)
    {
      method: 'POST',
      pattern: /^\/profile\/authenticate$/,
      name: '/profile/authenticate',
      auth: 'none',
      handle: (req) => {
        const username = req.form.get('username');
        const password = req.form.get('password');
        if (!username) return paramError('username', 'username is required');
        if (!password) return paramError('password', 'password is required');
        const profile = state.profiles.get(username);
        if (!profile || profile.password !== password) return json(401, { message: 'Invalid credentials' });
        const auth = issueAuthorization(state, username, settings.authTtlSeconds);
        return json(200, { authorizationToken: auth.token, expiresAt: iso(auth.expiresAtMs) });
      },
    },
    {
      method: 'POST',
      pattern: /^\/profile\/reauthorize-authorization-token$/,
      name: '/profile/reauthorize-authorization-token',
      auth: 'required',
      handle: (req) => {
        const raw = req.form.get('ttl') ?? '';
        const ttl = Number(raw);
        if (!/^\d+$/.test(raw) || ttl < 1 || ttl > settings.maxAuthorizationTtlSeconds) {
          return paramError('ttl', `ttl ${raw} must be 1..${settings.maxAuthorizationTtlSeconds} seconds`);
        }
        if (settings.reauthorizeAnswer === 'sync') {
          const fresh = issueAuthorization(state, req.username, ttl);
          return json(200, { authorizationToken: fresh.token, expiresAt: iso(fresh.expiresAtMs) });
        }
        const token = req.token ?? '';
        return accepted(
          command(req, 'reauthorize', () => {
            const auth = liveAuthorization(state, token);
            if (!auth) throw new SimRejection('Invalid token');
            auth.expiresAtMs = nowMs(state) + ttl * 1000;
          }),
        );
      },
    },
    {
      method: 'POST',
      pattern: /^\/profile\/authorization-token\/expiry$/,
      name: '/profile/authorization-token/expiry',
      auth: 'required',
      handle: (req) => (settings.dialect === 'docs' ? notFound() : expiryBody(req)),
    },
    {
      method: 'GET',
      pattern: /^\/profile\/retrieve-token-expiry$/,
      name: '/profile/retrieve-token-expiry',
      auth: 'required',
      handle: expiryBody,
    },
    {
      method: 'POST',
      pattern: /^\/profile\/revoke-authorization-token$/,
      name: '/profile/revoke-authorization-token',
      auth: 'required',
      handle: (req) => {
        const auth = state.authorizations.get(req.token ?? '');
        if (auth) auth.revoked = true;
        return json(200, {});
      },
    },
    {
      method: 'GET',
      pattern: /^\/profile\/retrieve-profile-id$/,
      name: '/profile/retrieve-profile-id',
      auth: 'required',
      handle: (req) => json(200, { profileId: state.profiles.get(req.username)?.profileId }),
    },

    // ---- async command status (§3.3)
    {
      method: 'POST',
      pattern: /^\/request-status\/([^/]+)$/,
      name: '/request-status/:id',
      auth: 'optional',
      handle: (req) => {
        if (settings.dialect === 'docs') return json(405, { message: 'Method Not Allowed' });
        const found = commandFor(req);
        if (!found) return notFound();
        // The live wire answers a bare string; a result or reason needs the object form.
        if (found.body === undefined) return json(200, STATUS_WORDS[found.status]);
        return json(200, statusObject(found));
      },
    },
    {
      method: 'GET',
      pattern: /^\/request-status\/([^/]+)$/,
      name: '/request-status/:id',
      auth: 'optional',
      handle: (req) => {
        const found = commandFor(req);
        return found ? json(200, statusObject(found)) : notFound();
      },
    },

    // ---- data tokens (§3.4)
    {
      method: 'POST',
      pattern: /^\/data-token\/reserve-token-space$/,
      name: '/data-token/reserve-token-space',
      auth: 'required',
      handle: (req) => {
        const context = req.form.get('context');
        if (!context) return paramError('context', 'context is required');
        const raw = req.form.get('ttl') ?? '5';
        const ttl = Number(raw);
        if (!/^\d+$/.test(raw) || ttl < 1 || ttl > settings.maxReservationTtl) {
          return paramError('ttl', `ttl ${raw} must be 1..${settings.maxReservationTtl} ${settings.reservationTtlUnit}`);
        }
        const meta = req.form.get('meta') ?? undefined;
        const ttlMs = ttl * (settings.reservationTtlUnit === 'minutes' ? 60_000 : 1000);
        let reservationId = '';
        const cmd = command(req, 'reserve-token-space', () => {
          const r = state.reservations.get(reservationId);
          if (r) r.settled = true;
        });
        reservationId = cmd.id;
        state.reservations.set(cmd.id, {
          id: cmd.id,
          username: req.username,
          context,
          ...(meta !== undefined ? { meta } : {}),
          ttl,
          ttlMs,
          createdAtMs: nowMs(state),
          settled: false,
          temporaryToken: opaque('tdt-', 18),
          stream: `auth=${opaque('', 18)}`,
          finished: false,
        });
        return accepted(cmd);
      },
    },
    {
      method: 'GET',
      pattern: /^\/data-token\/retrieve-temporary-data-token\/([^/]+)$/,
      name: '/data-token/retrieve-temporary-data-token/:id',
      auth: 'required',
      handle: (req) => {
        const r = state.reservations.get(req.params[0] ?? '');
        // 404 also while the reservation has not settled (§3.7 gotcha 2)
        if (!r || r.username !== req.username || !r.settled || r.finished || reservationExpired(state, r)) return notFound();
        return json(200, {
          uuid: r.id,
          createdAt: iso(r.createdAtMs),
          token: r.temporaryToken,
          stream: r.stream,
          context: r.context,
          ttl: r.ttl,
        });
      },
    },
    {
      method: 'POST',
      pattern: /^\/data-token\/exchange-data-for-token$/,
      name: '/data-token/exchange-data-for-token',
      auth: 'required',
      handle: (req) => {
        const temporaryToken = req.form.get('temporaryTokenSpace');
        if (!temporaryToken) return paramError('temporaryTokenSpace', 'temporaryTokenSpace is required');
        const data = req.form.get('data') ?? '';
        if (data === '' || !BASE64.test(data)) return paramError('data', 'data must be base64');
        const r = reservationByTemporaryToken(state, req.username, temporaryToken);
        if (!r) return notFound();
        if (r.exchangeCommandId !== undefined) return json(409, { message: 'Token space already filled' });
        const bytes = Buffer.from(data, 'base64');
        const cmd = command(req, 'exchange-data-for-token', () => {
          if (reservationExpired(state, r)) throw new SimRejection('Temporary token expired');
          r.data = bytes;
        });
        r.exchangeCommandId = cmd.id;
        return accepted(cmd);
      },
    },
    {
      method: 'POST',
      pattern: /^\/data-token\/configure-file-meta$/,
      name: '/data-token/configure-file-meta',
      auth: 'required',
      handle: (req) => {
        for (const field of ['token', 'fileName', 'extension', 'context', 'size', 'path']) {
          if (!req.form.get(field)) return paramError(field, `${field} is required`);
        }
        const size = req.form.get('size') ?? '';
        if (!/^\d+$/.test(size)) return paramError('size', `size ${size} is not a byte count`);
        const r = reservationByTemporaryToken(state, req.username, req.form.get('token') ?? '');
        if (!r) return notFound();
        if (r.data === undefined) return json(409, { message: 'Data not yet exchanged' });
        r.finished = true;
        const token = `dtk-${randomUUID()}`;
        state.dataTokens.set(token, {
          token,
          username: req.username,
          context: req.form.get('context') ?? r.context,
          fileName: req.form.get('fileName') ?? '',
          extension: req.form.get('extension') ?? '',
          size: Number(size),
          path: req.form.get('path') ?? '/',
          createdAtMs: nowMs(state),
          data: r.data,
        });
        // Both documented answers: `{"token":"dtk-…"}` or the bare string.
        return json(200, state.dataTokens.size % 2 === 0 ? token : { token });
      },
    },
    {
      method: 'POST',
      pattern: /^\/data-token\/request-data$/,
      name: '/data-token/request-data',
      auth: 'required',
      handle: (req) => {
        const stored = ownedDataToken(req, req.form.get('token'));
        if (!stored) return notFound();
        const cmd = command(req, 'request-data', () => {
          if (!state.dataTokens.has(stored.token)) throw new SimRejection('Record Not Found');
          const auth = opaque('', 18);
          state.downloads.set(auth, {
            auth,
            token: stored.token,
            expiresAtMs: nowMs(state) + settings.downloadTtlSeconds * 1000,
            used: false,
          });
          return `${baseUrl}/download?auth=${auth}`;
        });
        cmd.outputType = 1;
        cmd.dataContext = stored.context;
        return accepted(cmd, { 'x-dpt-cab-request-id': cmd.id });
      },
    },
    {
      method: 'GET',
      pattern: /^\/download$/,
      name: '/download',
      auth: 'none',
      handle: (req) => {
        const link = state.downloads.get(req.query.get('auth') ?? '');
        // single-use and time-limited (§3.7 gotcha 5)
        if (!link || link.used || nowMs(state) >= link.expiresAtMs) return notFound();
        link.used = true;
        const stored = state.dataTokens.get(link.token);
        if (!stored) return notFound();
        return { status: 200, text: stored.data.toString('base64') };
      },
    },
    {
      method: 'GET',
      pattern: /^\/data-token\/list-data-tokens$/,
      name: '/data-token/list-data-tokens',
      auth: 'required',
      handle: (req) => {
        const page = Number(req.query.get('page') ?? '1');
        const perPage = Number(req.query.get('perPage') ?? '25');
        if (!Number.isInteger(page) || page < 1) return paramError('page', 'page must be >= 1');
        if (!Number.isInteger(perPage) || perPage < 1 || perPage > 100) return paramError('perPage', 'perPage must be 1..100');
        const mine = [...state.dataTokens.values()]
          .filter((d) => d.username === req.username)
          .sort((a, b) => a.createdAtMs - b.createdAtMs);
        const items = mine.slice((page - 1) * perPage, page * perPage).map((d) => ({
          token: d.token,
          context: d.context,
          fileName: d.fileName,
          extension: d.extension,
          size: d.size,
          createdAt: iso(d.createdAtMs),
        }));
        return json(200, { items, meta: { count: mine.length, page, perPage } });
      },
    },
    {
      method: 'POST',
      pattern: /^\/data-token\/update-data-token$/,
      name: '/data-token/update-data-token',
      auth: 'required',
      handle: (req) => {
        const stored = ownedDataToken(req, req.form.get('token'));
        if (!stored) return notFound();
        const changes = {
          context: req.form.get('context') ?? undefined,
          fileName: req.form.get('fileName') ?? undefined,
          extension: req.form.get('extension') ?? undefined,
        };
        return accepted(
          command(req, 'update-data-token', () => {
            if (changes.context) stored.context = changes.context;
            if (changes.fileName) stored.fileName = changes.fileName;
            if (changes.extension) stored.extension = changes.extension;
          }),
        );
      },
    },
    {
      method: 'POST',
      pattern: /^\/data-token\/delete-data$/,
      name: '/data-token/delete-data',
      auth: 'required',
      handle: (req) => {
        const stored = ownedDataToken(req, req.form.get('token'));
        if (!stored) return notFound();
        return accepted(
          command(req, 'delete-data', () => {
            state.dataTokens.delete(stored.token);
          }),
        );
      },
    },
  ];

  function commandFor(req: SimRequest): SimCommand | undefined {
    const found = state.commands.get(req.params[0] ?? '');
    // commands are per profile; an anonymous poll (as the probe's fixture does) may read any
    if (!found || (req.username !== '' && found.username !== req.username)) return undefined;
    return found;
  }

  function ownedDataToken(req: SimRequest, token: string | null) {
    if (!token) return undefined;
    const stored = state.dataTokens.get(token);
    return stored && stored.username === req.username ? stored : undefined;
  }

  const admin = (method: string, path: string, body: string): SimResponse | undefined => {
    if (method === 'GET' && path === '/_sim/state') return json(200, snapshot(state));
    const input = method === 'POST' ? (parseJson(body) as Record<string, unknown> | undefined) : undefined;
    if (method === 'POST' && path === '/_sim/faults') {
      Object.assign(faults, pick(input, Object.keys(noFaults()).concat('path')));
      if (typeof faults.path !== 'string' || faults.path === '') delete faults.path; // null/"" = every path
      return json(200, faults);
    }
    if (method === 'POST' && path === '/_sim/settings') {
      Object.assign(settings, pick(input, Object.keys(settings)));
      return json(200, settings);
    }
    if (method === 'POST' && path === '/_sim/data-tokens/delete') {
      const token = input?.['token'];
      if (typeof token !== 'string') return paramError('token', 'token is required');
      return state.dataTokens.delete(token) ? json(200, { deleted: 1 }) : notFound();
    }
    if (method === 'POST' && path === '/_sim/authorizations/revoke') {
      const username = input?.['username'];
      return json(200, { revoked: revokeAuthorizations(typeof username === 'string' ? username : undefined) });
    }
    if (method === 'POST' && path === '/_sim/profiles') {
      const username = input?.['username'];
      const password = input?.['password'];
      if (typeof username !== 'string' || typeof password !== 'string') return paramError('username', 'username and password are required');
      addProfile(state, username, password);
      return json(201, { username });
    }
    return undefined;
  };

  function revokeAuthorizations(username?: string): number {
    let n = 0;
    for (const auth of state.authorizations.values()) {
      if (auth.revoked || (username !== undefined && auth.username !== username)) continue;
      auth.revoked = true;
      n += 1;
    }
    return n;
  }

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const method = req.method ?? 'GET';
    const body = await readBody(req);
    if (url.pathname.startsWith('/_sim/')) {
      write(res, admin(method, url.pathname, body) ?? notFound(), false);
      return;
    }
    if (opts.latencyMs) await new Promise((resolve) => setTimeout(resolve, opts.latencyMs));
    settleCommands(state);
    const route = routes.find((r) => r.method === method && r.pattern.test(url.pathname));
    const sameName = routes.find((r) => r.pattern.test(url.pathname));
    const name = `${method} ${route?.name ?? sameName?.name ?? url.pathname}`;
    state.calls[name] = (state.calls[name] ?? 0) + 1;
    log.push({ name, at: nowMs(state) });

    const faulted = matchesFaultPath(url.pathname);
    if (faulted && faults.timeouts > 0) {
      faults.timeouts -= 1;
      const timer = setTimeout(() => {
        hung.delete(timer);
        res.destroy();
      }, faults.hangMs);
      hung.add(timer);
      return;
    }
    if (faulted && faults.serverErrors > 0) {
      faults.serverErrors -= 1;
      write(res, json(503, { message: 'Service Unavailable' }), false);
      return;
    }
    if (faulted && faults.rateLimits > 0) {
      faults.rateLimits -= 1;
      write(res, json(429, { message: 'Too Many Requests' }, { 'retry-after': String(faults.retryAfterSeconds) }), false);
      return;
    }
    if (!route) {
      write(res, sameName ? json(405, { message: 'Method Not Allowed' }) : notFound(), false);
      return;
    }

    const token = headerValue(req.headers['x-dpt-authorization']);
    const auth = liveAuthorization(state, token);
    if (route.auth === 'required' && !auth) {
      write(res, json(401, { message: 'Invalid token' }), false);
      return;
    }
    if (route.auth === 'optional' && token !== undefined && !auth) {
      write(res, json(401, { message: 'Invalid token' }), false);
      return;
    }
    const contentType = req.headers['content-type'] ?? '';
    const form = contentType.includes('application/json') ? new URLSearchParams() : new URLSearchParams(body);
    const params = url.pathname.match(route.pattern)?.slice(1).map(decodeURIComponent) ?? [];
    const answer = route.handle({
      method,
      path: url.pathname,
      query: url.searchParams,
      form,
      ...(token !== undefined ? { token } : {}),
      username: auth?.username ?? '',
      params,
    });
    let garble = false;
    if (faulted && faults.malformed > 0 && answer.status >= 200 && answer.status < 300) {
      faults.malformed -= 1;
      garble = true;
    }
    write(res, answer, garble);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) write(res, json(500, { message: 'Internal Server Error' }), false);
      console.error('privicore simulator:', e);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  baseUrl = simUrl(opts, (server.address() as AddressInfo).port);

  return {
    url: baseUrl,
    state,
    log,
    faults,
    addProfile: (username, password) => {
      addProfile(state, username, password);
    },
    deleteDataToken: (token) => state.dataTokens.delete(token),
    revokeAuthorizations,
    close: async () => {
      for (const timer of hung) clearTimeout(timer);
      hung.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function statusObject(c: SimCommand): Record<string, unknown> {
  return {
    id: c.id,
    command_status: c.status,
    body: c.body ?? '',
    ...(c.outputType !== undefined ? { output_type: c.outputType } : {}),
    ...(c.dataContext !== undefined ? { data_context: c.dataContext } : {}),
  };
}

function write(res: ServerResponse, answer: SimResponse, garble: boolean): void {
  const headers: Record<string, string> = { ...answer.headers };
  let payload: string;
  if (garble) {
    payload = '{"unexpected":';
    headers['content-type'] = 'application/json';
  } else if (answer.text !== undefined) {
    payload = answer.text;
    headers['content-type'] = 'text/plain; charset=utf-8';
  } else {
    payload = answer.body === undefined ? '' : JSON.stringify(answer.body);
    headers['content-type'] = 'application/json';
  }
  res.writeHead(answer.status, headers);
  res.end(payload);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > MAX_BODY_BYTES) throw new Error('request body too large');
    chunks.push(buf);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function parseJson(text: string): unknown {
  try {
    return text === '' ? undefined : (JSON.parse(text) as unknown);
  } catch {
    return undefined;
  }
}

function pick(input: Record<string, unknown> | undefined, keys: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of keys) if (input && k in input) out[k] = input[k];
  return out;
}

const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, '+00:00');
