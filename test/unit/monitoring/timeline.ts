/**
 * Series for promtool's rule tests, made by playing a token's life forward in time the way the
 * operator publishes it (src/runtime/metrics.ts): expiry, planned rotation, issue time, Ready,
 * Stalled and suspend per token, counters per kind and provider. One sample per scrape (STEP);
 * promtool's time starts at 0, so timestamps are seconds from the start of the test.
 */

export const STEP = 30;
export const JOB = 'token-operator-metrics';
export const INSTANCE = '10.1.2.3:8080';
const OPERATOR_NAMESPACE = 'token-operator';
/** how long a rotation takes once due: the reconcile and the provider call */
const ROTATION_TAKES = 2;

export interface TokenId {
  kind: string;
  namespace: string;
  name: string;
}

export interface TokenLife {
  /** seconds from issue to expiry (or, with expires: false, the refresh interval) */
  lifetime: number;
  /** when the current credential was issued (may be before 0) */
  issuedAt?: number;
  /** share of the lifetime after which the operator rotates (default 0.64: rotateBeforePercent 33 and some jitter) */
  rotateAt?: number;
  /** a cron window: the planned rotation time for a credential issued at `issued` */
  plan?: (issued: number, expires: number) => number;
  /** false: the credential has no expiry (a DataToken resolving data), only a planned refresh */
  expires?: boolean;
  /** from then on the operator does nothing: no rotation, no status change (a wedged operator) */
  stuckFrom?: number;
  /** rotations due in [from, until) fail and are retried; Ready is False while one is failing */
  failing?: { from: number; until?: number };
  /** Ready False in these intervals, whatever else happens (failures that are not rotations) */
  notReadyDuring?: Array<[number, number]>;
  /** from then on Stalled: refused, a human must act (Ready False, no rotation) */
  stalledFrom?: number;
  /** spec.suspend: no rotation; Ready False once expired */
  suspended?: boolean;
}

export interface Series {
  series: string;
  values: string;
}

/** promtool's expanding notation, run-length encoded: `5x3` is 5 5 5 5, but `_x3` is three missing samples */
export function encode(samples: Array<number | undefined>): string {
  const out: string[] = [];
  for (let i = 0; i < samples.length; ) {
    let j = i;
    while (j + 1 < samples.length && samples[j + 1] === samples[i]) j++;
    if (samples[i] === undefined) out.push(`_x${j - i + 1}`);
    else out.push(j > i ? `${samples[i]}x${j - i}` : String(samples[i]));
    i = j + 1;
  }
  return out.join(' ');
}

const selector = (name: string, labels: Record<string, string>) =>
  `${name}{${Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .join(',')}}`;

export class Timeline {
  readonly times: number[];
  private readonly out: Series[] = [];
  /** rotation outcomes by kind and result: when each happened */
  private readonly rotations = new Map<string, number[]>();

  constructor(readonly horizon: number) {
    this.times = Array.from({ length: Math.floor(horizon / STEP) + 1 }, (_, i) => i * STEP);
  }

  /** a series of the operator's target (honor_labels: the token's namespace label wins, the rest come from the target) */
  add(name: string, labels: Record<string, string>, value: (t: number) => number | undefined): this {
    this.out.push({ series: selector(name, { job: JOB, instance: INSTANCE, ...labels }), values: encode(this.times.map(value)) });
    return this;
  }

  /** up, leader and build info of a healthy operator target, unless told otherwise */
  operator(o: { up?: (t: number) => number | undefined; leader?: (t: number) => number | undefined } = {}): this {
    const ns = { namespace: OPERATOR_NAMESPACE };
    this.add('up', ns, o.up ?? (() => 1));
    this.add('token_operator_leader', ns, o.leader ?? (() => 1));
    return this.add('token_operator_build_info', { ...ns, version: '0.1.0', node_version: 'v24.21.0' }, () => 1);
  }

  /**
   * Counts a rotation outcome of a kind at time t. The operator starts every kind's counters at 0
   * (OperatorMetrics.registerKind), so each of the three series exists from the first scrape.
   */
  private count(kind: string, result: string, t: number): void {
    this.kind(kind);
    this.rotations.get(`${kind}\u0000${result}`)!.push(t);
  }

  /** a kind the operator runs: its rotation counters exist (at 0) */
  kind(kind: string): this {
    for (const r of ['issued', 'rotated', 'failed']) if (!this.rotations.has(`${kind}\u0000${r}`)) this.rotations.set(`${kind}\u0000${r}`, []);
    return this;
  }

  /** counts `result` once per scrape in [from, until) (failures retried with back-off, roughly one per scrape) */
  countEachStep(kind: string, result: string, from: number, until: number): this {
    for (const t of this.times) if (t >= from && t < until) this.count(kind, result, t);
    return this;
  }

  /** plays one token's life over the timeline and adds its per-token series */
  token(id: TokenId, life: TokenLife): this {
    const expires = life.expires !== false;
    const planOf = (issued: number) => {
      const e = issued + life.lifetime;
      return life.plan ? life.plan(issued, e) : issued + life.lifetime * (life.rotateAt ?? 0.64);
    };
    let issued = life.issuedAt ?? 0;
    let next = planOf(issued);
    this.kind(id.kind);
    if (issued >= 0) this.count(id.kind, 'issued', issued);
    const rows: Array<{ e?: number; n: number; i: number; ready: boolean; stalled: boolean }> = [];
    let frozen: (typeof rows)[number] | undefined;
    for (const t of this.times) {
      if (life.stuckFrom !== undefined && t >= life.stuckFrom) {
        rows.push((frozen ??= rows[rows.length - 1] ?? { n: next, i: issued, ready: true, stalled: false }));
        continue;
      }
      const stalled = life.stalledFrom !== undefined && t >= life.stalledFrom;
      let failingNow = false;
      // every rotation that came due by now, unless it fails (then it happens when failures stop)
      while (!stalled && !life.suspended && next + ROTATION_TAKES <= t) {
        const f = life.failing;
        const failsAt = (at: number) => f !== undefined && at >= f.from && (f.until === undefined || at < f.until);
        const at = failsAt(next) ? f!.until : next;
        if (at === undefined || at + ROTATION_TAKES > t) {
          failingNow = true;
          break;
        }
        issued = at + ROTATION_TAKES;
        next = planOf(issued);
        this.count(id.kind, 'rotated', issued);
      }
      const expired = expires && t >= issued + life.lifetime;
      const notReady = (life.notReadyDuring ?? []).some(([a, b]) => t >= a && t < b);
      const ready = !stalled && !failingNow && !notReady && !(life.suspended && expired);
      rows.push({ ...(expires ? { e: issued + life.lifetime } : {}), n: next, i: issued, ready, stalled });
    }
    if (life.failing) {
      // one failed attempt per scrape while a due rotation fails
      rows.forEach((r, idx) => {
        if (!r.ready && !r.stalled && life.failing && this.times[idx]! >= life.failing.from) this.count(id.kind, 'failed', this.times[idx]!);
      });
    }
    if (life.stalledFrom !== undefined) this.countEachStep(id.kind, 'failed', life.stalledFrom, this.horizon + 1);
    const labels = { kind: id.kind, namespace: id.namespace, name: id.name };
    const row = (t: number) => rows[t / STEP]!;
    if (expires) this.add('token_operator_token_expiration_timestamp_seconds', labels, (t) => row(t).e);
    this.add('token_operator_token_next_rotation_timestamp_seconds', labels, (t) => row(t).n);
    this.add('token_operator_token_issued_timestamp_seconds', labels, (t) => row(t).i);
    for (const c of ['True', 'False', 'Unknown']) {
      this.add('token_operator_token_ready_status', { ...labels, condition: c }, (t) => ((row(t).ready ? 'True' : 'False') === c ? 1 : 0));
    }
    // present only while true, as the operator publishes them
    this.add('token_operator_token_stalled', labels, (t) => (row(t).stalled ? 1 : undefined));
    this.add('token_operator_token_suspended', labels, () => (life.suspended ? 1 : undefined));
    return this;
  }

  /** provider calls per scrape interval by outcome, as a counter; an outcome's series appears with its first call (prom-client) */
  providerCalls(provider: string, perStep: (t: number) => Partial<Record<string, number>>): this {
    const totals = new Map<string, Array<number | undefined>>();
    this.times.forEach((t, idx) => {
      for (const [outcome, n] of Object.entries(perStep(t))) {
        let c = totals.get(outcome);
        if (!c) totals.set(outcome, (c = this.times.map(() => undefined)));
        for (let k = idx; k < this.times.length; k++) c[k] = (c[k] ?? 0) + (n ?? 0);
      }
    });
    for (const [outcome, c] of totals) this.add('token_operator_provider_calls_total', { provider, call: 'rotate', outcome }, (t) => c[t / STEP]);
    return this;
  }

  series(): Series[] {
    const counters = [...this.rotations].map(([key, events]) => {
      const [kind, result] = key.split('\u0000') as [string, string];
      const values = this.times.map((t) => events.filter((e) => e <= t).length);
      return { series: selector('token_operator_rotations_total', { job: JOB, instance: INSTANCE, namespace: OPERATOR_NAMESPACE, kind, result }), values: encode(values) };
    });
    return [...this.out, ...counters];
  }
}

/** the labels an alert about this token carries */
export const tokenAlert = (id: TokenId, severity: string) => ({ job: JOB, instance: INSTANCE, ...id, severity });
