import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * token_operator_* metrics (Prometheus naming: base units, _total counters,
 * _timestamp_seconds gauges). Labels are kinds, namespaces, names, providers and call
 * names: never a token, token id or URL.
 */
export class OperatorMetrics {
  readonly registry = new Registry();

  readonly expiration = new Gauge({
    name: 'token_operator_token_expiration_timestamp_seconds',
    help: 'When the credential in the target Secret expires (unix seconds).',
    labelNames: ['kind', 'namespace', 'name'] as const,
    registers: [this.registry],
  });
  readonly nextRotation = new Gauge({
    name: 'token_operator_token_next_rotation_timestamp_seconds',
    help: 'When the operator plans to renew the credential (unix seconds).',
    labelNames: ['kind', 'namespace', 'name'] as const,
    registers: [this.registry],
  });
  readonly ready = new Gauge({
    name: 'token_operator_token_ready_status',
    help: 'Ready condition of each token, one series per condition status (1 = current).',
    labelNames: ['kind', 'namespace', 'name', 'condition'] as const,
    registers: [this.registry],
  });
  readonly rotations = new Counter({
    name: 'token_operator_rotations_total',
    help: 'Attempts to issue or renew credentials, by kind and result (issued, rotated, failed).',
    labelNames: ['kind', 'result'] as const,
    registers: [this.registry],
  });
  readonly providerCalls = new Counter({
    name: 'token_operator_provider_calls_total',
    help: 'Calls to external token APIs by provider, call and outcome (HTTP status or error class).',
    labelNames: ['provider', 'call', 'outcome'] as const,
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

  /** Publishes a token's times and readiness; called after every reconcile. */
  observeToken(
    kind: string,
    namespace: string,
    name: string,
    t: { expiration?: string; nextRotation?: string; ready?: 'True' | 'False' | 'Unknown' },
  ): void {
    const l = { kind, namespace, name };
    if (t.expiration) this.expiration.set(l, Date.parse(t.expiration) / 1000);
    else this.expiration.remove(l);
    if (t.nextRotation) this.nextRotation.set(l, Date.parse(t.nextRotation) / 1000);
    else this.nextRotation.remove(l);
    for (const c of ['True', 'False', 'Unknown'] as const) this.ready.set({ ...l, condition: c }, t.ready === c ? 1 : 0);
  }

  /** Deletes every per-token series when the resource is gone. */
  forgetToken(kind: string, namespace: string, name: string): void {
    const l = { kind, namespace, name };
    this.expiration.remove(l);
    this.nextRotation.remove(l);
    for (const condition of ['True', 'False', 'Unknown']) this.ready.remove({ ...l, condition });
  }
}
