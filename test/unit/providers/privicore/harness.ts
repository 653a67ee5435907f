import { afterEach } from 'vitest';
import { fetchHttpClient, type HttpClient } from '../../../../src/providers/http.js';
import { ProviderError } from '../../../../src/providers/errors.js';
import { ManualClock } from '../../../../src/schedule/clock.js';
import {
  AuthorizationCache,
  createPrivicoreProvider,
  type PrivicoreProvider,
  type PrivicoreProviderOptions,
} from '../../../../src/providers/privicore/index.js';
import {
  startPrivicoreSimulator,
  type PrivicoreSimulator,
  type PrivicoreSimulatorOptions,
} from '../../../simulators/privicore/server.js';

export const USERNAME = 'alice';
export const PASSWORD = 'correct-horse-staple';

/** Short real-time delays keep the whole suite well under ten seconds. */
export const FAST_POLLING = { intervalMs: 5, maxIntervalMs: 20, commandTimeoutMs: 2_000, settleTimeoutMs: 500 };

export interface Harness {
  sim: PrivicoreSimulator;
  clock: ManualClock;
  http: HttpClient;
  cache: AuthorizationCache;
  provider: PrivicoreProvider;
  /** another provider on the same simulator, clock and cache */
  makeProvider(overrides?: Partial<PrivicoreProviderOptions>): PrivicoreProvider;
  calls(name: string): number;
}

const open: PrivicoreSimulator[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

export async function harness(
  opts: { sim?: PrivicoreSimulatorOptions; provider?: Partial<PrivicoreProviderOptions>; http?: HttpClient } = {},
): Promise<Harness> {
  const clock = new ManualClock('2026-03-01T12:00:00Z');
  const sim = await startPrivicoreSimulator({ clock, commandDelayMs: 10, authTtlSeconds: 3600, ...opts.sim });
  open.push(sim);
  sim.addProfile(USERNAME, PASSWORD);
  const http = opts.http ?? fetchHttpClient({ timeoutMs: 2_000 });
  const cache = new AuthorizationCache({ clock });
  const makeProvider = (overrides: Partial<PrivicoreProviderOptions> = {}): PrivicoreProvider =>
    createPrivicoreProvider({
      http,
      clock,
      apiUrl: sim.url,
      profile: { username: USERNAME, password: PASSWORD },
      authorizations: cache,
      polling: FAST_POLLING,
      ...opts.provider,
      ...overrides,
    });
  return {
    sim,
    clock,
    http,
    cache,
    provider: makeProvider(),
    makeProvider,
    calls: (name) => sim.state.calls[name] ?? 0,
  };
}

/** The ProviderError a promise rejects with (fails the test if it resolves or throws anything else). */
export async function providerError(p: Promise<unknown>): Promise<ProviderError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ProviderError) return e;
    throw e;
  }
  throw new Error('expected a ProviderError, but the call succeeded');
}
