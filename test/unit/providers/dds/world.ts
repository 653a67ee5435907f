import { afterEach } from 'vitest';
import { type DdsAccount, type DdsProvider, type TokenRateLimiter, createDdsProvider } from '../../../../src/providers/dds/index.js';
import { type HttpClient, fetchHttpClient } from '../../../../src/providers/http.js';
import { ManualClock } from '../../../../src/schedule/clock.js';
import { DEMO_CLIENT, type DdsSimulator, startDdsSimulator } from '../../../simulators/dds/server.js';
import type { SimSettings } from '../../../simulators/dds/state.js';

/** A simulator and a provider sharing one ManualClock, torn down after each test. */
export interface World {
  clock: ManualClock;
  sim: DdsSimulator;
  http: HttpClient;
  provider: DdsProvider;
  account: DdsAccount;
}

const open: DdsSimulator[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

export async function startWorld(
  opts: {
    settings?: Partial<SimSettings>;
    clients?: Record<string, string>;
    tokenLimiter?: TokenRateLimiter;
    clock?: ManualClock;
    /** lower it in tests that inject a hang */
    timeoutMs?: number;
  } = {},
): Promise<World> {
  const clock = opts.clock ?? new ManualClock('2026-03-01T00:00:00Z');
  const sim = await startDdsSimulator({ clock, settings: opts.settings, clients: opts.clients });
  open.push(sim);
  const http = fetchHttpClient({ timeoutMs: opts.timeoutMs ?? 5_000 });
  const provider = createDdsProvider({ http, clock, tokenLimiter: opts.tokenLimiter });
  const account: DdsAccount = { apiUrl: sim.url, credentials: { ...DEMO_CLIENT } };
  return { clock, sim, http, provider, account };
}

/** The error a promise rejects with (fails the test if it resolves). */
export async function rejection(p: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  try {
    await p;
  } catch (e) {
    return e as Error & Record<string, unknown>;
  }
  throw new Error('expected a rejection');
}

/** A sleep that moves a ManualClock instead of waiting (never backwards when sleeps overlap). */
export function clockSleep(clock: ManualClock): (ms: number) => Promise<void> {
  return async (ms) => {
    const target = clock.now().getTime() + ms;
    await Promise.resolve();
    if (clock.now().getTime() < target) clock.set(target);
  };
}

export const HOUR_S = 3600;
