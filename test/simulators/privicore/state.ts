import { randomBytes, randomUUID } from 'node:crypto';
import type { Clock } from '../../../src/schedule/clock.js';

/**
 * The simulated Privicore engine's memory: profiles, authorization tokens, async
 * commands, reservations, data tokens and download links. Follows
 * docs/providers.md "Privicore"; expiry uses the injected Clock, command
 * settling uses real time (so a ManualClock test still sees commands finish).
 */

export interface SimSettings {
  /**
   * 'live' (default) answers both variants of the disputed endpoints; 'docs' speaks only
   * what the official docs say: status via GET only (POST → 405) and expiry only at
   * `GET /profile/retrieve-token-expiry` (the POST path → 404); 'post-only' is the wire the
   * third-party probe saw, if GET were refused there: status via POST only (GET → 405).
   */
  dialect: 'live' | 'docs' | 'post-only';
  /** reauthorize answers 200 with a new token ('sync') or 202 + command and extends the token in place ('async') */
  reauthorizeAnswer: 'sync' | 'async';
  /** unit of reserve-token-space `ttl`; official docs: minutes */
  reservationTtlUnit: 'minutes' | 'seconds';
  /** largest reservation ttl accepted, in that unit; above → 422 naming `ttl` (the probe saw 300 refused) */
  maxReservationTtl: number;
  /** lifetime of a new authorization */
  authTtlSeconds: number;
  /** largest reauthorize ttl accepted (→ 422 naming `ttl`) */
  maxAuthorizationTtlSeconds: number;
  /** real-time delay before a command settles */
  commandDelayMs: number;
  /** a download link's lifetime (by the Clock); links are also single-use */
  downloadTtlSeconds: number;
}

export interface SimFaults {
  /** the next N matching requests answer 503 */
  serverErrors: number;
  /** the next N matching requests answer 429 with Retry-After */
  rateLimits: number;
  retryAfterSeconds: number;
  /** the next N matching requests are never answered (the socket is dropped after hangMs) */
  timeouts: number;
  hangMs: number;
  /** the next N matching 2xx answers carry a truncated JSON body */
  malformed: number;
  /** the next N commands created end with command_status 3 and rejectReason */
  rejectCommands: number;
  rejectReason: string;
  /** only requests whose path starts with this are affected (default: every API path) */
  path?: string;
}

export const noFaults = (): SimFaults => ({
  serverErrors: 0,
  rateLimits: 0,
  retryAfterSeconds: 2,
  timeouts: 0,
  hangMs: 10_000,
  malformed: 0,
  rejectCommands: 0,
  rejectReason: 'Command rejected by policy',
});

export interface SimProfile {
  username: string;
  password: string;
  profileId: string;
}

export interface SimAuthorization {
  token: string;
  username: string;
  expiresAtMs: number;
  revoked: boolean;
}

export type SimCommandStatus = 1 | 2 | 3;

export interface SimCommand {
  id: string;
  username: string;
  kind: string;
  settleAtMs: number;
  status: SimCommandStatus;
  body?: string;
  outputType?: number;
  dataContext?: string;
  /** set at creation by the rejectCommands fault */
  rejectWith?: string;
  /** applied when the command settles; returns the status body, throws SimRejection to reject */
  effect?: () => string | void;
}

export class SimRejection extends Error {}

export interface SimReservation {
  id: string;
  username: string;
  context: string;
  meta?: string;
  ttl: number;
  ttlMs: number;
  createdAtMs: number;
  settled: boolean;
  temporaryToken: string;
  stream: string;
  exchangeCommandId?: string;
  data?: Buffer;
  finished: boolean;
}

export interface SimDataToken {
  token: string;
  username: string;
  context: string;
  fileName: string;
  extension: string;
  size: number;
  path: string;
  createdAtMs: number;
  data: Buffer;
}

export interface SimDownload {
  auth: string;
  token: string;
  expiresAtMs: number;
  used: boolean;
}

export interface PrivicoreSimState {
  clock: Clock;
  settings: SimSettings;
  profiles: Map<string, SimProfile>;
  authorizations: Map<string, SimAuthorization>;
  commands: Map<string, SimCommand>;
  reservations: Map<string, SimReservation>;
  dataTokens: Map<string, SimDataToken>;
  downloads: Map<string, SimDownload>;
  /** requests seen, by `METHOD /route/template` (faulted ones included) */
  calls: Record<string, number>;
  /** commands created so far; also picks the next 202 body shape */
  commandCount: number;
}

export function createState(clock: Clock, settings: SimSettings): PrivicoreSimState {
  return {
    clock,
    settings,
    profiles: new Map(),
    authorizations: new Map(),
    commands: new Map(),
    reservations: new Map(),
    dataTokens: new Map(),
    downloads: new Map(),
    calls: {},
    commandCount: 0,
  };
}

export const nowMs = (state: PrivicoreSimState): number => state.clock.now().getTime();

export const opaque = (prefix: string, bytes = 24): string => `${prefix}${randomBytes(bytes).toString('base64url')}`;

export function addProfile(state: PrivicoreSimState, username: string, password: string): SimProfile {
  const profile = { username, password, profileId: randomUUID() };
  state.profiles.set(username, profile);
  return profile;
}

export function issueAuthorization(state: PrivicoreSimState, username: string, ttlSeconds: number): SimAuthorization {
  const auth = { token: opaque('T-'), username, expiresAtMs: nowMs(state) + ttlSeconds * 1000, revoked: false };
  state.authorizations.set(auth.token, auth);
  return auth;
}

/** The live authorization behind a header value, or undefined (→ 401). */
export function liveAuthorization(state: PrivicoreSimState, token: string | undefined): SimAuthorization | undefined {
  if (!token) return undefined;
  const auth = state.authorizations.get(token);
  if (!auth || auth.revoked || nowMs(state) >= auth.expiresAtMs) return undefined;
  return auth;
}

export function createCommand(
  state: PrivicoreSimState,
  username: string,
  kind: string,
  effect?: () => string | void,
  rejectWith?: string,
): SimCommand {
  state.commandCount += 1;
  const command: SimCommand = {
    id: randomUUID(),
    username,
    kind,
    settleAtMs: performance.now() + state.settings.commandDelayMs,
    status: 1,
    ...(effect ? { effect } : {}),
    ...(rejectWith !== undefined ? { rejectWith } : {}),
  };
  state.commands.set(command.id, command);
  unsettledOf(state).add(command);
  return command;
}

// Commands still pending, so settling (before every request) does not rescan every command
// ever made: the benchmark makes tens of thousands.
const unsettled = new WeakMap<PrivicoreSimState, Set<SimCommand>>();
function unsettledOf(state: PrivicoreSimState): Set<SimCommand> {
  let set = unsettled.get(state);
  if (!set) unsettled.set(state, (set = new Set()));
  return set;
}

/** Settles every command whose delay has passed; called before each request is handled. */
export function settleCommands(state: PrivicoreSimState): void {
  const now = performance.now();
  const pending = unsettledOf(state);
  for (const command of pending) {
    if (command.status !== 1) {
      pending.delete(command);
      continue;
    }
    if (now < command.settleAtMs) continue;
    pending.delete(command);
    if (command.rejectWith !== undefined) {
      command.status = 3;
      command.body = command.rejectWith;
      continue;
    }
    try {
      const body = command.effect?.();
      command.status = 2;
      if (body !== undefined) command.body = body;
    } catch (e) {
      if (!(e instanceof SimRejection)) throw e;
      command.status = 3;
      command.body = e.message;
    }
  }
}

export function reservationExpired(state: PrivicoreSimState, r: SimReservation): boolean {
  return nowMs(state) >= r.createdAtMs + r.ttlMs;
}

/** A reservation usable through its temporary token: settled, unexpired, not yet made permanent. */
export function reservationByTemporaryToken(
  state: PrivicoreSimState,
  username: string,
  temporaryToken: string,
): SimReservation | undefined {
  for (const r of state.reservations.values()) {
    if (r.temporaryToken !== temporaryToken) continue;
    if (r.username !== username || !r.settled || r.finished || reservationExpired(state, r)) return undefined;
    return r;
  }
  return undefined;
}

/** What `GET /_sim/state` shows: counts and handles, never passwords or payloads. */
export function snapshot(state: PrivicoreSimState): Record<string, unknown> {
  const now = nowMs(state);
  return {
    now: new Date(now).toISOString(),
    settings: state.settings,
    profiles: [...state.profiles.values()].map((p) => ({ username: p.username, profileId: p.profileId })),
    authorizations: [...state.authorizations.values()].map((a) => ({
      username: a.username,
      expiresAt: new Date(a.expiresAtMs).toISOString(),
      live: !a.revoked && now < a.expiresAtMs,
      revoked: a.revoked,
    })),
    commands: [...state.commands.values()].map((c) => ({ id: c.id, kind: c.kind, command_status: c.status })),
    reservations: [...state.reservations.values()].map((r) => ({
      id: r.id,
      context: r.context,
      settled: r.settled,
      filled: r.data !== undefined,
      finished: r.finished,
      expired: reservationExpired(state, r),
    })),
    dataTokens: [...state.dataTokens.values()].map((d) => ({
      token: d.token,
      username: d.username,
      context: d.context,
      fileName: d.fileName,
      size: d.size,
      createdAt: new Date(d.createdAtMs).toISOString(),
    })),
    calls: state.calls,
  };
}
