import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

type TokenLabel = 'kind' | 'namespace' | 'name' | 'condition';
type Family = Awaited<ReturnType<Gauge<TokenLabel>['get']>>;
type Ready = 'True' | 'False' | 'Unknown';
const CONDITIONS: readonly Ready[] = ['True', 'False', 'Unknown'];

/** What the per-token series say about one token: a few fields instead of a prom-client series per gauge. */
interface TokenState {
  kind: string;
  namespace: string;
  name: string;
  /** unix seconds; undefined: no series */
  expiration: number | undefined;
  nextRotation: number | undefined;
  /** when the credential in the Secret was issued (unix seconds): with expiration, its lifetime */
  issued: number | undefined;
  /** the Ready condition's status: 1 for it, 0 for the other two (all 0 when undefined) */
  ready: Ready | undefined;
  /** Stalled=True: only a human can fix it */
  stalled: boolean;
  /** spec.suspend: no provider calls, so no rotation is expected */
  suspended: boolean;
}

type Emit = (value: number, condition?: Ready) => void;

/**
 * A gauge whose series are made at scrape time from the per-token states. prom-client keeps
 * every series as a label object plus a label-string key (about 200 bytes each): five series
 * per token were a tenth of the operator's heap per token. The exposition is the same.
 */
class TokenGauge extends Gauge<TokenLabel> {
  constructor(
    private readonly config: { name: string; help: string; labelNames: readonly TokenLabel[]; registers: Registry[] },
    private readonly states: () => Iterable<TokenState>,
    /** calls emit once per series of the token (with the condition label for the ready gauge) */
    private readonly seriesOf: (t: TokenState, emit: Emit) => void,
  ) {
    super(config);
  }

  override async get(): Promise<Family> {
    const values: Family['values'] = [];
    for (const t of this.states()) {
      this.seriesOf(t, (value, condition) =>
        values.push({ labels: condition === undefined ? { kind: t.kind, namespace: t.namespace, name: t.name } : { kind: t.kind, namespace: t.namespace, name: t.name, condition }, value }),
      );
    }
    return { ...(await super.get()), values };
  }

  /**
   * The family in the Prometheus text format, exactly as prom-client's registry prints get(),
   * one string per series: at 10,000 tokens its generic path (label objects, Object.entries,
   * a WeakMap entry per series) made some 40 MiB of garbage and took a few hundred ms per scrape.
   */
  exposition(): string {
    const { name } = this.config;
    const lines = [`# HELP ${name} ${escapeString(this.config.help)}`, `# TYPE ${name} gauge`];
    for (const t of this.states()) {
      const prefix = `${name}{kind="${escapeLabelValue(t.kind)}",namespace="${escapeLabelValue(t.namespace)}",name="${escapeLabelValue(t.name)}"`;
      this.seriesOf(t, (value, condition) => lines.push(`${prefix}${condition === undefined ? '' : `,condition="${condition}"`}} ${valueString(value)}`));
    }
    return lines.join('\n');
  }
}

// prom-client's formatting (lib/registry.js, lib/util.js), for TokenGauge.exposition()
function escapeString(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}
function escapeLabelValue(s: string): string {
  return /[\\\n"]/.test(s) ? escapeString(s).replace(/"/g, '\\"') : s;
}
function valueString(v: number): string {
  if (Number.isNaN(v)) return 'Nan';
  if (!Number.isFinite(v)) return v < 0 ? '-Inf' : '+Inf';
  return `${v}`;
}

/**
 * Prints TokenGauges with their own formatter; everything else, and any registry set up
 * differently (default labels, OpenMetrics), the prom-client way. getMetricsAsString is what
 * prom-client's metrics() calls for each metric; should a prom-client release stop calling it,
 * the TokenGauges' get() still gives the same text, only slower.
 */
class OperatorRegistry extends Registry {
  private defaultLabelsSet = false;

  override setDefaultLabels(labels: object): void {
    this.defaultLabelsSet = true;
    super.setDefaultLabels(labels);
  }

  async getMetricsAsString(metric: unknown): Promise<string> {
    if (metric instanceof TokenGauge && !this.defaultLabelsSet && this.contentType === Registry.PROMETHEUS_CONTENT_TYPE) return metric.exposition();
    return (Registry.prototype as unknown as { getMetricsAsString(this: Registry, m: unknown): Promise<string> }).getMetricsAsString.call(this, metric);
  }
}

/**
 * token_operator_* metrics (Prometheus naming: base units, _total counters,
 * _timestamp_seconds gauges). Labels are kinds, namespaces, names, providers and call
 * names: never a token, token id or URL.
 */
export class OperatorMetrics {
  readonly registry: Registry = new OperatorRegistry();

  /**
   * per-token state behind the token gauges, by kind, namespace and name (nested maps: no
   * key string per token beyond the name the state holds anyway)
   */
  private readonly tokens = new Map<string, Map<string, Map<string, TokenState>>>();

  // registered by their constructors; fed by observeToken/forgetToken only
  private readonly expiration = this.tokenGauge('token_operator_token_expiration_timestamp_seconds', 'When the credential in the target Secret expires (unix seconds).', (t, emit) => {
    if (t.expiration !== undefined) emit(t.expiration);
  });
  private readonly nextRotation = this.tokenGauge('token_operator_token_next_rotation_timestamp_seconds', 'When the operator plans to renew the credential (unix seconds).', (t, emit) => {
    if (t.nextRotation !== undefined) emit(t.nextRotation);
  });
  // The alerts (charts/token-operator/templates/prometheusrule.yaml) measure lateness relative
  // to the credential's lifetime (expiration - issued): a 5-minute token and a 90-day one
  // cannot share a fixed threshold.
  private readonly issued = this.tokenGauge('token_operator_token_issued_timestamp_seconds', 'When the credential in the target Secret was issued or last renewed (unix seconds).', (t, emit) => {
    if (t.issued !== undefined) emit(t.issued);
  });
  // Rare states, so a series only while true: at 10,000 tokens a 0 per token for each was 20,000
  // lines and some 2 MB more per scrape, for nothing the alerts (`== 1`, `unless … == 1`) need.
  private readonly stalled = this.tokenGauge('token_operator_token_stalled', 'Present (1) while the token is Stalled: only a human can fix it (its Stalled condition says what).', (t, emit) => {
    if (t.stalled) emit(1);
  });
  private readonly suspended = this.tokenGauge('token_operator_token_suspended', 'Present (1) while spec.suspend is true: no provider calls, so no rotation is due.', (t, emit) => {
    if (t.suspended) emit(1);
  });
  private readonly ready = this.tokenGauge(
    'token_operator_token_ready_status',
    'Ready condition of each token, one series per condition status (1 = current).',
    (t, emit) => {
      for (const c of CONDITIONS) emit(t.ready === c ? 1 : 0, c);
    },
    ['condition'],
  );
  readonly rotations = new Counter({
    name: 'token_operator_rotations_total',
    help: 'Attempts to issue or renew credentials, by kind and result (issued, rotated, failed).',
    labelNames: ['kind', 'result'] as const,
    registers: [this.registry],
  });
  readonly revokeAbandoned = new Counter({
    name: 'token_operator_revoke_abandoned_total',
    help:
      'Resources released on delete without a successful revoke at the provider, by kind and reason ' +
      '(SkipRevoke, Suspended, NamespaceTerminating, InputGone, RevokeTimeout): their credential may still be valid there.',
    labelNames: ['kind', 'reason'] as const,
    registers: [this.registry],
  });
  // by kind only: a revoked credential is rare, its resource is named in the Warning event and the
  // Ready condition; a per-token series would be another 10,000 series at 10,000 tokens
  readonly credentialRevoked = new Counter({
    name: 'token_operator_credential_revoked_total',
    help: 'Credentials a liveness check found dead at the provider (revoked out of band, session ended, deleted), by kind; each is then replaced.',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly livenessChecks = new Counter({
    name: 'token_operator_liveness_checks_total',
    help: 'Liveness checks of issued credentials at the provider (spec.liveness), by kind and result (alive, revoked, unknown).',
    labelNames: ['kind', 'result'] as const,
    registers: [this.registry],
  });
  readonly livenessProviderCalls = new Counter({
    name: 'token_operator_liveness_provider_calls_total',
    help: 'The part of token_operator_provider_calls_total that liveness checks made, by provider: the steady-state cost of spec.liveness.',
    labelNames: ['provider'] as const,
    registers: [this.registry],
  });
  readonly providerCalls = new Counter({
    name: 'token_operator_provider_calls_total',
    help: 'Calls to external token APIs by provider, call and outcome (HTTP status or error class).',
    labelNames: ['provider', 'call', 'outcome'] as const,
    registers: [this.registry],
  });
  /** the host is in the operator's logs, never a label: one series per provider, whatever tenants point at */
  readonly egressDenied = new Counter({
    name: 'token_operator_egress_denied_total',
    help: 'Provider calls the egress policy refused before connecting (a URL or a resolved address it does not allow), by provider.',
    labelNames: ['provider'] as const,
    registers: [this.registry],
  });
  readonly providerLatency = new Histogram({
    name: 'token_operator_provider_call_duration_seconds',
    help: 'Latency of calls to external token APIs.',
    labelNames: ['provider', 'call'] as const,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly reconciles = new Counter({
    name: 'token_operator_reconcile_total',
    help: 'Reconciles by kind and result (success, error, requeue).',
    labelNames: ['kind', 'result'] as const,
    registers: [this.registry],
  });
  readonly reconcileDuration = new Histogram({
    name: 'token_operator_reconcile_duration_seconds',
    help: 'Duration of reconciles by kind.',
    labelNames: ['kind'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({
    name: 'token_operator_workqueue_depth',
    help: 'Keys waiting in the work queue, by kind.',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly queueAdds = new Counter({
    name: 'token_operator_workqueue_adds_total',
    help: 'Keys added to the work queue, by kind.',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly apiRequests = new Counter({
    name: 'token_operator_kube_api_requests_total',
    help: 'Requests to the Kubernetes API by verb, resource and status code.',
    labelNames: ['verb', 'resource', 'code'] as const,
    registers: [this.registry],
  });
  readonly apiLatency = new Histogram({
    name: 'token_operator_kube_api_request_duration_seconds',
    help: 'Latency of Kubernetes API requests (watches excluded), by verb and resource; time spent in the client rate limiter not included.',
    labelNames: ['verb', 'resource'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly buildInfo = new Gauge({
    name: 'token_operator_build_info',
    help: 'Build information; always 1.',
    labelNames: ['version', 'node_version'] as const,
    registers: [this.registry],
  });
  readonly leader = new Gauge({
    name: 'token_operator_leader',
    help: '1 while this replica leads.',
    registers: [this.registry],
  });

  constructor(version: string, defaults = true) {
    this.buildInfo.set({ version, node_version: process.version }, 1);
    if (defaults) collectDefaultMetrics({ register: this.registry, prefix: 'token_operator_' });
  }

  /**
   * Starts a kind's rotation counters at 0: `increase()` cannot see the first count of a series
   * that is born at 1, so the first success after a restart would not end a "rotations failing" alert.
   */
  registerKind(kind: string): void {
    for (const result of ['issued', 'rotated', 'failed']) this.rotations.inc({ kind, result }, 0);
    this.credentialRevoked.inc({ kind }, 0);
    for (const result of ['alive', 'revoked', 'unknown']) this.livenessChecks.inc({ kind, result }, 0);
  }

  /** Publishes a token's times, readiness, Stalled and suspend; called after every reconcile. */
  observeToken(
    kind: string,
    namespace: string,
    name: string,
    t: { expiration?: string; nextRotation?: string; issued?: string; ready?: Ready; stalled?: boolean; suspended?: boolean },
  ): void {
    let byNs = this.tokens.get(kind);
    if (!byNs) this.tokens.set(kind, (byNs = new Map()));
    let byName = byNs.get(namespace);
    if (!byName) byNs.set(namespace, (byName = new Map()));
    let s = byName.get(name);
    if (!s) {
      s = { kind, namespace, name, expiration: undefined, nextRotation: undefined, issued: undefined, ready: undefined, stalled: false, suspended: false };
      byName.set(name, s);
    }
    s.expiration = t.expiration ? Date.parse(t.expiration) / 1000 : undefined;
    s.nextRotation = t.nextRotation ? Date.parse(t.nextRotation) / 1000 : undefined;
    s.issued = t.issued ? Date.parse(t.issued) / 1000 : undefined;
    s.ready = t.ready;
    s.stalled = t.stalled === true;
    s.suspended = t.suspended === true;
  }

  /** Deletes every per-token series when the resource is gone. */
  forgetToken(kind: string, namespace: string, name: string): void {
    const byNs = this.tokens.get(kind);
    const byName = byNs?.get(namespace);
    if (!byNs || !byName?.delete(name)) return;
    if (byName.size === 0) byNs.delete(namespace);
  }

  /** A per-token gauge (labels kind, namespace, name, plus `extra`), its series made at scrape time from the states. */
  private tokenGauge(name: string, help: string, seriesOf: (t: TokenState, emit: Emit) => void, extra: readonly TokenLabel[] = []): TokenGauge {
    return new TokenGauge({ name, help, labelNames: ['kind', 'namespace', 'name', ...extra], registers: [this.registry] }, () => this.states(), seriesOf);
  }

  private *states(): Iterable<TokenState> {
    for (const byNs of this.tokens.values()) for (const byName of byNs.values()) yield* byName.values();
  }
}
