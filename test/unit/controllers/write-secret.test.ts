import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { writeCredential, type WriteRetryPolicy } from '../../../src/controllers/shared/write-secret.js';
import { ResourceIndex } from '../../../src/controllers/shared/resource-index.js';
import { readSecretState } from '../../../src/controllers/shared/secret-state.js';
import type { AnyResource, KindContext, OperatorEnv } from '../../../src/controllers/shared/token-reconciler.js';
import type { ObjectCache } from '../../../src/runtime/informer.js';
import { KubeClient, type KubeObject } from '../../../src/runtime/kube-client.js';
import { LeaseNotHeldError } from '../../../src/runtime/leader-election.js';
import type { OperatorMetrics } from '../../../src/runtime/metrics.js';
import type { Clock } from '../../../src/schedule/clock.js';

/**
 * The one-time credential write against a stand-in API server that can be down (connections
 * reset), refuse (422) or be fenced off (the leader lease). Time is scaled: one real millisecond
 * is one second on the injected clock, so a 60 s outage takes 60 ms, and the policy's pauses are
 * a few real milliseconds.
 */
const FAST: WriteRetryPolicy = { firstDelayMs: 1, maxDelayMs: 4, transientBudgetMs: 120_000, refusedAttempts: 5 };

function scaledClock(): Clock & { elapsedS(): number } {
  const start = performance.now();
  const epoch = Date.parse('2026-06-01T00:00:00Z');
  return {
    now: () => new Date(epoch + (performance.now() - start) * 1000),
    elapsedS: () => performance.now() - start,
  };
}

interface Api {
  url: string;
  /** write requests that reached the handler (not reset) */
  writes: string[];
  attempts: number;
  mode: (clock: { elapsedS(): number }) => 'down' | 'refuse' | 'ok';
  close(): Promise<void>;
}

const servers: Api[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function api(mode: Api['mode'], clock: { elapsedS(): number }): Promise<Api> {
  const a: Api = { url: '', writes: [], attempts: 0, mode, close: async () => undefined };
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      if (req.method !== 'GET') a.attempts++;
      const m = a.mode(clock);
      if (m === 'down') return req.socket.destroy();
      if (req.method === 'GET') return void res.writeHead(404, { 'content-type': 'application/json' }).end('{"reason":"NotFound"}');
      if (m === 'refuse') return void res.writeHead(422, { 'content-type': 'application/json' }).end('{"reason":"Invalid","message":"field is immutable"}');
      a.writes.push(`${req.method} ${req.url?.split('?')[0]}`);
      const obj = JSON.parse(body) as KubeObject;
      obj.metadata = { ...obj.metadata, resourceVersion: String(a.writes.length) };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(obj));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  a.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  a.close = () => new Promise((r) => server.close(() => r()));
  servers.push(a);
  return a;
}

function env(a: Api, clock: Clock, writeGate?: () => void): OperatorEnv {
  const client = new KubeClient({ server: a.url, applyToHTTPSOptions: async () => undefined }, { qps: 10_000, burst: 10_000, ...(writeGate ? { writeGate } : {}) });
  const secrets = { upsert: () => undefined, get: () => undefined } as unknown as ObjectCache<KubeObject>;
  return {
    client,
    clock,
    secrets,
    events: { record: () => undefined },
    metrics: {} as OperatorMetrics,
    allowInsecureHttp: false,
    hmacKey: Buffer.alloc(32, 1),
    resources: new ResourceIndex(),
  };
}

/** The reconcile context a kind hands writeCredential: the target Secret not there yet. */
function ctx(e: OperatorEnv): KindContext {
  return { env: e, log, target: { secret: undefined }, secret: readSecretState(undefined, res.metadata.uid) } as unknown as KindContext;
}

const res = {
  apiVersion: 'token-operator.io/v1alpha1',
  kind: 'AccessToken',
  metadata: { name: 'at', namespace: 'team', uid: '0b7a1f4e-0000-4000-8000-000000000001', generation: 1 },
  spec: { target: { secretName: 'at-token' } },
} as unknown as AnyResource & { spec: { target: { secretName: string } } };

const credential = { data: { access_token: 'one-time' }, revision: 2, rotatedAt: new Date('2026-06-01T00:00:00Z') };
const log = pino({ level: 'silent' });

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected the write to fail');
}

describe('writeCredential retry policy', () => {
  it('keeps retrying through a 60 s API outage and then writes the state Secret and the target', async () => {
    const clock = scaledClock();
    const a = await api((c) => (c.elapsedS() < 60 ? 'down' : 'ok'), clock);
    await writeCredential(ctx(env(a, clock)), res, credential, FAST);
    expect(clock.elapsedS()).toBeGreaterThanOrEqual(60);
    expect(a.attempts).toBeGreaterThan(1); // (how many depends on the machine: time is scaled)
    // the durable copy first, then the target
    expect(a.writes.findIndex((w) => w.includes('/secrets/token-operator-state-'))).toBe(0);
    expect(a.writes.at(-1)).toBe('POST /api/v1/namespaces/team/secrets'); // the target, created (it was not there)
  });

  it('with the shipped policy, an outage of 60 s is inside the budget and the pauses stay short', async () => {
    const { CREDENTIAL_WRITE_RETRY } = await import('../../../src/controllers/shared/write-secret.js');
    expect(CREDENTIAL_WRITE_RETRY.transientBudgetMs).toBeGreaterThanOrEqual(60_000 + CREDENTIAL_WRITE_RETRY.maxDelayMs);
    expect(CREDENTIAL_WRITE_RETRY.maxDelayMs).toBeLessThanOrEqual(5_000);
  });

  it('gives up once the outage outlasts the budget (the credential then waits in memory for the next reconcile)', async () => {
    const clock = scaledClock();
    const a = await api(() => 'down', clock);
    await rejection(writeCredential(ctx(env(a, clock)), res, credential, FAST));
    expect(clock.elapsedS()).toBeGreaterThanOrEqual(120);
    expect(clock.elapsedS()).toBeLessThan(400);
    expect(a.writes).toEqual([]);
  });

  it('a refusal (422: a person must act) is tried 5 times, not for the whole budget', async () => {
    const clock = scaledClock();
    const a = await api(() => 'refuse', clock);
    await rejection(writeCredential(ctx(env(a, clock)), res, credential, FAST));
    expect(a.attempts).toBe(5);
  });

  it('waits while the leader lease is unconfirmed, writes once it is renewed, and stops at once when another replica holds it', async () => {
    const clock = scaledClock();
    const a = await api(() => 'ok', clock);
    let gated = 0;
    const unconfirmed = () => {
      if (clock.elapsedS() < 30) {
        gated++;
        throw new LeaseNotHeldError(false);
      }
    };
    await writeCredential(ctx(env(a, clock, unconfirmed)), res, credential, FAST);
    expect(gated).toBeGreaterThan(1);
    expect(a.writes.at(-1)).toBe('POST /api/v1/namespaces/team/secrets'); // the target, created (it was not there)

    const b = await api(() => 'ok', clock);
    let tries = 0;
    const taken = () => {
      tries++;
      throw new LeaseNotHeldError(true);
    };
    expect(await rejection(writeCredential(ctx(env(b, clock, taken)), res, credential, FAST))).toBeInstanceOf(LeaseNotHeldError);
    expect(tries).toBe(1);
    expect(b.attempts).toBe(0); // refused before anything was sent
  });
});
