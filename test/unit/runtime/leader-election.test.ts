import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../../src/config.js';
import { KubeApiError, type KubeObject, type RequestOptions } from '../../../src/runtime/kube-client.js';
import { LeaderElector, LeaseNotHeldError, checkTiming, type LeaseApi } from '../../../src/runtime/leader-election.js';

/**
 * The elector against an in-memory Lease with resourceVersions (conflicts like the API server's),
 * several replicas each with their own view that can be cut off (an outage, a partition), on
 * fake timers. Lease 15 s, renew deadline 10 s, retry period 2 s (the chart's defaults).
 */
interface LeaseObj extends KubeObject {
  spec: { holderIdentity?: string | null; leaseDurationSeconds?: number; renewTime?: string; acquireTime?: string; leaseTransitions?: number };
}

class Store {
  lease: LeaseObj | undefined;
  private rv = 0;
  /** a replica whose view is down gets connection errors */
  down = new Set<string>();

  view(replica: string): LeaseApi & { requests: number } {
    const store = this;
    return {
      requests: 0,
      async request<T>(method: string, _path: string, ro: RequestOptions = {}): Promise<T> {
        this.requests++;
        await Promise.resolve();
        if (store.down.has(replica) || store.down.has('*')) throw new Error('connect ECONNREFUSED');
        return store.handle(method, ro) as T;
      },
    };
  }

  set(spec: LeaseObj['spec']): void {
    this.lease = { metadata: { name: 'l', namespace: 'ns', resourceVersion: String(++this.rv) }, spec };
  }

  private handle(method: string, ro: RequestOptions): LeaseObj {
    const body = ro.body as LeaseObj;
    if (method === 'GET') {
      if (!this.lease) throw new KubeApiError(404, 'NotFound', 'not found');
      return structuredClone(this.lease);
    }
    if (method === 'POST') {
      if (this.lease) throw new KubeApiError(409, 'AlreadyExists', 'exists');
      this.set(body.spec);
      return structuredClone(this.lease!);
    }
    if (!this.lease) throw new KubeApiError(404, 'NotFound', 'not found');
    if (body.metadata?.resourceVersion !== this.lease.metadata?.resourceVersion) throw new KubeApiError(409, 'Conflict', 'conflict');
    const spec = { ...this.lease.spec };
    for (const [k, v] of Object.entries(body.spec)) {
      if (v === null) delete (spec as Record<string, unknown>)[k];
      else (spec as Record<string, unknown>)[k] = v;
    }
    this.set(spec);
    return structuredClone(this.lease);
  }
}

const log = pino({ level: 'silent' });

function replica(store: Store, identity: string, now?: () => Date) {
  const lost = vi.fn();
  const elector = new LeaderElector(store.view(identity), {
    namespace: 'ns',
    name: 'l',
    identity,
    leaseDurationMs: 15_000,
    renewDeadlineMs: 10_000,
    retryPeriodMs: 2_000,
    logger: log,
    monotonic: () => Date.now(),
    ...(now ? { now } : {}),
  });
  let leading = false;
  void elector.run(lost).then(() => (leading = elector.isLeader));
  return { elector, lost, leads: () => leading && elector.isLeader };
}

const advance = (ms: number) => vi.advanceTimersByTimeAsync(ms);

describe('LeaderElector', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: new Date('2026-06-01T00:00:00Z') });
    vi.spyOn(Math, 'random').mockReturnValue(0.5); // no jitter
  });
  afterEach(() => {
    vi.restoreAllMocks();
    vi.useRealTimers();
  });

  it('creates a missing lease and leads, fenced', async () => {
    const store = new Store();
    const a = replica(store, 'a');
    await advance(0);
    expect(a.leads()).toBe(true);
    expect(a.elector.fenced).toBe(true);
    expect(store.lease?.spec.holderIdentity).toBe('a');
    a.elector.stop();
  });

  it("judges expiry by when it last SAW the record change, not by the holder's renewTime against its own clock", async () => {
    const store = new Store();
    // a holder whose clock runs an hour behind: its renewTime looks long expired here
    store.set({ holderIdentity: 'old', leaseDurationSeconds: 15, renewTime: '2026-05-31T23:00:00.000000Z' });
    const b = replica(store, 'b');
    await advance(14_000);
    expect(b.leads()).toBe(false); // first seen at 0 s: valid until 15 s of seeing no change
    // the holder renews (with its skewed clock): the record changed, so the wait starts again
    store.set({ holderIdentity: 'old', leaseDurationSeconds: 15, renewTime: '2026-05-31T23:00:14.000000Z' });
    await advance(14_000);
    expect(b.leads()).toBe(false);
    await advance(4_000); // 15 s and more since the last change: expired
    expect(b.leads()).toBe(true);
    expect(store.lease?.spec).toMatchObject({ holderIdentity: 'b', leaseTransitions: 1 });
    b.elector.stop();
  });

  it('a holder whose renewTime lies in the future (clock ahead) is still taken over once it stops renewing', async () => {
    const store = new Store();
    store.set({ holderIdentity: 'old', leaseDurationSeconds: 15, renewTime: '2027-01-01T00:00:00.000000Z' });
    const b = replica(store, 'b');
    await advance(18_000);
    expect(b.leads()).toBe(true);
    b.elector.stop();
  });

  it('never takes over from a holder that keeps renewing, whatever its clock says', async () => {
    const store = new Store();
    const a = replica(store, 'a', () => new Date('2020-01-01T00:00:00Z'));
    await advance(0);
    const b = replica(store, 'b');
    await advance(120_000);
    expect(a.leads()).toBe(true);
    expect(b.leads()).toBe(false);
    a.elector.stop();
    b.elector.stop();
  });

  it('renews on every retry period and stops leading once no renewal succeeded for the renew deadline', async () => {
    const store = new Store();
    const api = store.view('a');
    const a = new LeaderElector(api, { namespace: 'ns', name: 'l', identity: 'a', leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000, logger: log, monotonic: () => Date.now() });
    const lost = vi.fn();
    await a.run(lost);
    await advance(10_000);
    expect(api.requests).toBe(2 + 2 * 5); // GET (404) + POST to create, then GET + PATCH every 2 s
    store.down.add('a');
    await advance(9_000);
    expect(lost).not.toHaveBeenCalled();
    expect(a.fenced).toBe(true);
    await advance(2_000); // past the deadline (last renewal started at 10 s)
    expect(a.fenced).toBe(false);
    await advance(2_000);
    expect(lost).toHaveBeenCalledTimes(1);
    expect(a.isLeader).toBe(false);
    expect(() => a.assertFenced()).toThrow(LeaseNotHeldError);
    a.stop();
  });

  it('after an API outage longer than the lease, the old holder renews for its work in flight before the follower may take over; releasing hands over at once', async () => {
    const store = new Store();
    const a = replica(store, 'a');
    await advance(0);
    const b = replica(store, 'b');
    await advance(5_000);
    store.down.add('*'); // the API server is down for everyone
    await advance(60_000);
    expect(a.lost).toHaveBeenCalledTimes(1);
    expect(a.elector.fenced).toBe(false);
    expect(b.leads()).toBe(false);
    store.down.clear();
    // b saw nothing for 60 s: its observation starts again, while a renews within a retry period
    await advance(2_000);
    expect(a.elector.fenced).toBe(true); // the fence is back for a's reconciles in flight
    await advance(30_000);
    expect(b.leads()).toBe(false);
    expect(store.lease?.spec.holderIdentity).toBe('a');
    // a's work is written: it releases, b takes over on its next try
    await a.elector.release();
    expect(a.elector.fenced).toBe(false);
    await advance(3_000);
    expect(b.leads()).toBe(true);
    b.elector.stop();
  });

  it('a holder cut off while the follower can read loses the lease for good: its fence never returns', async () => {
    const store = new Store();
    const a = replica(store, 'a');
    await advance(0);
    const b = replica(store, 'b');
    await advance(5_000);
    store.down.add('a'); // a partition: only a cannot reach the API server
    await advance(11_000);
    expect(a.lost).toHaveBeenCalledTimes(1);
    expect(b.leads()).toBe(false); // a's last renewal was seen at 4 s: valid until 19 s
    await advance(6_000);
    expect(b.leads()).toBe(true);
    store.down.clear();
    await advance(10_000);
    expect(a.elector.fenced).toBe(false);
    let err: unknown;
    try {
      a.elector.assertFenced();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(LeaseNotHeldError);
    expect((err as LeaseNotHeldError).taken).toBe(true);
    expect(store.lease?.spec.holderIdentity).toBe('b');
    b.elector.stop();
  });

  it('a holder that sees another replica in the lease stops leading at once', async () => {
    const store = new Store();
    const a = replica(store, 'a');
    await advance(0);
    store.set({ holderIdentity: 'intruder', leaseDurationSeconds: 15 });
    await advance(2_000);
    expect(a.lost).toHaveBeenCalledTimes(1);
    expect(a.elector.fenced).toBe(false);
  });
});

describe('leader election timing', () => {
  it('refuses a renew deadline not shorter than the lease, and a retry period not shorter than the deadline', () => {
    expect(() => checkTiming(15_000, 10_000, 2_000)).not.toThrow();
    expect(() => checkTiming(10_000, 10_000, 2_000)).toThrow(/renew deadline \(10s\) must be shorter than the lease duration \(10s\)/);
    expect(() => checkTiming(15_000, 10_000, 10_000)).toThrow(/retry period \(10s\) must be shorter than the renew deadline \(10s\)/);
  });

  it('operator configuration says which setting is wrong and why', () => {
    expect(() => loadConfig({}, ['--lease-duration-seconds=10', '--renew-deadline-seconds=12'])).toThrow(
      /renewDeadlineSeconds: must be shorter than leaseDurationSeconds \(12 >= 10\)/,
    );
    expect(() => loadConfig({ TOKEN_OPERATOR_RETRY_PERIOD_SECONDS: '10' }, [])).toThrow(/retryPeriodSeconds: must be shorter than renewDeadlineSeconds \(10 >= 10\)/);
    expect(loadConfig({}, []).lostLeaseGraceSeconds).toBe(120);
  });
});
