import type { HttpClient, ObservedCall } from '../http.js';
import { sleep, systemClock, type Clock } from '../../schedule/clock.js';

export const PROVIDER = 'privicore';

/** The sandbox host the official authenticate page shows (docs/providers.md "Privicore"). */
export const DEFAULT_API_URL = 'https://sandbox.privicore.com:9009';

/** Privicore authenticates every profile call with this header, not `Authorization` (docs/providers.md "Privicore: profile authorization"). */
export const AUTH_HEADER = 'X-DPT-AUTHORIZATION';

/**
 * How long to wait for Privicore's asynchronous answers. Every 202 is "accepted, not
 * done" (docs/providers.md "Privicore: command status"), so each write is followed by a bounded poll.
 */
export interface PollingOptions {
  /** pause before the first status poll of a command, and the first pause between two */
  intervalMs: number;
  /** the pause grows by half each time up to this */
  maxIntervalMs: number;
  /** give up on a command (→ Retryable) after this long */
  commandTimeoutMs: number;
  /** how long `retrieve-temporary-data-token` may answer 404 while a reservation settles (docs/providers.md "Privicore: data tokens") */
  settleTimeoutMs: number;
}

export const DEFAULT_POLLING: PollingOptions = {
  intervalMs: 100,
  maxIntervalMs: 2_000,
  commandTimeoutMs: 30_000,
  settleTimeoutMs: 10_000,
};

/** Everything a Privicore call needs; built once per provider, shared by every call. */
export interface PrivicoreContext {
  http: HttpClient;
  clock: Clock;
  /** base URL without a trailing slash */
  apiUrl: string;
  polling: PollingOptions;
  /** per-request timeout handed to the HttpClient */
  requestTimeoutMs?: number;
  observe?: (o: ObservedCall) => void;
  /** real-time pause between polls (the Clock stays for expiry decisions only) */
  sleep: (ms: number) => Promise<void>;
  /** monotonic milliseconds, for poll deadlines that must pass even under a ManualClock */
  elapsedMs: () => number;
  /** values that must never reach an error message even if the server echoes them */
  knownSecrets: () => readonly string[];
  /**
   * Which variant of a disputed endpoint this server speaks, learned on the first
   * 404/405 fallback (docs/providers.md "Privicore: where the documents and the wire differ"):
   * status with GET (the official docs) or POST (a probe of the wire); expiry at
   * `/profile/authorization-token/expiry` (the probe) or `/profile/retrieve-token-expiry`
   * (the older docs).
   */
  wire: PrivicoreWire;
}

export interface PrivicoreWire {
  statusMethod: 'POST' | 'GET';
  expiryPath: 'live' | 'docs';
}

/** What a server is assumed to speak until it answers otherwise. */
export const initialWire = (): PrivicoreWire => ({ statusMethod: 'GET', expiryPath: 'live' });

/**
 * Runs `fn` with a live profile authorization token. The provider passes one backed by
 * the AuthorizationCache (401 → re-login once); the profile calls pass a fixed token.
 */
export type Authorized = <T>(fn: (token: string) => Promise<T>) => Promise<T>;

export const withToken =
  (token: string): Authorized =>
  (fn) =>
    fn(token);

export const realSleep = (ms: number): Promise<void> => sleep(systemClock, ms, true);

export function normalizeApiUrl(apiUrl: string): string {
  let url: URL;
  try {
    url = new URL(apiUrl);
  } catch {
    throw new TypeError('privicore apiUrl is not a URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new TypeError('privicore apiUrl must be http(s)');
  }
  return url.toString().replace(/\/+$/, '');
}
