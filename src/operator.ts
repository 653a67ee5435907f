import { randomBytes } from 'node:crypto';
import type http from 'node:http';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { API_VERSION, GROUP_VERSION, KINDS, type TargetTemplate } from './api/index.js';
import type { OperatorConfig } from './config.js';
import { tokenKinds } from './controllers/kinds.js';
import { claimOf } from './controllers/shared/ownership.js';
import { digestTemplatedData } from './controllers/shared/secret-state.js';
import { ResourceIndex } from './controllers/shared/resource-index.js';
import type { OperatorEnv } from './controllers/shared/kind.js';
import { duringLivenessCheck } from './controllers/shared/liveness.js';
import { tokenReconciler } from './controllers/shared/token-reconciler.js';
import { fetchHttpClient, type HttpClient, type ObservedCall } from './providers/http.js';
import { createProviders, type ProviderTable } from './providers/registry.js';
import { egressAgent, installGlobalDispatcher, type EgressAgentOptions } from './providers/egress/connector.js';
import { EgressPolicy } from './providers/egress/policy.js';
import { apiServerEndpoints } from './runtime/api-server-endpoints.js';
import { Controller } from './runtime/controller.js';
import { WorkerPool } from './runtime/worker-pool.js';
import { KubeEventRecorder } from './runtime/events.js';
import { startHealthServer } from './runtime/health.js';
import { Informer, InformerSet, type ObjectCache } from './runtime/informer.js';
import { loadKubeAccess, type KubeAccess } from './runtime/kube-access.js';
import { KubeApiError, KubeClient, resourcePath, type KubeObject } from './runtime/kube-client.js';
import { LeaderElector } from './runtime/leader-election.js';
import { ProviderError } from './providers/errors.js';
import { OperatorMetrics } from './runtime/metrics.js';
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE } from './runtime/secret-writer.js';
import { after, systemClock, type Clock } from './schedule/clock.js';
import { shareTemplate } from './template/shape.js';

/** how often the API server's endpoints are read again for the egress policy */
const API_SERVER_REFRESH_MS = 5 * 60_000;

export const VERSION_STRING = process.env.TOKEN_OPERATOR_VERSION ?? '0.1.0';

/** Replaceable parts, for tests (an injected clock, an impersonated client). */
export interface OperatorDeps {
  kubeConfig?: KubeConfig | KubeAccess;
  clock?: Clock;
  logger: Logger;
  /** impersonate this user for every API call (proves chart RBAC) */
  impersonate?: string;
  http?: HttpClient;
  /** replace provider factories (tests wrap a real provider to lose a reply or crash after one) */
  providers?: Partial<ProviderTable>;
  /** test seams of the egress policy: a resolver (a DNS server of the test's), trust roots, a connect counter */
  egress?: Pick<EgressAgentOptions, 'resolver' | 'ca' | 'onConnect'>;
  /** also make the policy the process-wide default for fetch (main.ts: a library calling fetch itself meets it too) */
  globalEgress?: boolean;
  /** every API request (path: the URL path without the query) */
  onKubeRequest?: (verb: string, resource: string, code: number, path: string) => void;
  /** how the process ends after losing the lease (default process.exit; tests observe it) */
  exit?: (code: number) => void;
}

export interface Operator {
  client: KubeClient;
  metrics: OperatorMetrics;
  controllers: Map<string, Controller<KubeObject>>;
  health?: http.Server;
  ready(): boolean;
  /** queue every resource now (tests time-travel, then call this) */
  enqueueAll(): void;
  stop(): Promise<void>;
}

/** label values with a handful of distinct values (secretLabels() in runtime/secret-writer.ts) */
const SHARED_LABELS = new Set([MANAGED_BY_LABEL, 'token-operator.io/owner-kind']);

/**
 * One copy of strings that thousands of cached objects repeat (apiVersion, kind, namespace,
 * finalizer, owner kind): JSON.parse gives every object its own copy of any string longer than
 * 10 characters. Only fields with few distinct values come here; the pool stops growing at 10,000.
 */
const pool = new Map<string, string>();
function intern<S extends string | undefined>(s: S): S {
  if (s === undefined) return s;
  const found = pool.get(s);
  if (found !== undefined) return found as S;
  if (pool.size < 10_000) pool.set(s, s);
  return s;
}

/**
 * One copy of annotation values that many cached Secrets repeat but that a tenant can vary (the
 * keys a template writes, its digest): a bounded pool of short strings, oldest out first, so a
 * flood of distinct values costs at most the pool and only loses the sharing.
 */
const recent = new Map<string, string>();
const RECENT_MAX = 1024;
const RECENT_MAX_CHARS = 512;
function share(s: string): string {
  if (s.length > RECENT_MAX_CHARS) return s;
  const found = recent.get(s);
  if (found !== undefined) return found;
  if (recent.size >= RECENT_MAX) recent.delete(recent.keys().next().value!);
  recent.set(s, s);
  return s;
}
/** annotations whose values repeat across the Secrets of one template (ownership.ts, target-content.ts) */
const SHARED_ANNOTATIONS = ['token-operator.io/written-keys', 'token-operator.io/template'];

const OWN_PREFIX = 'token-operator.io/';
const OWN_GROUP = 'token-operator.io/';
/** base64 characters of data kept for a labelled Secret that no resource of ours owns */
const FOREIGN_SECRET_DATA_CHARS = 64 * 1024;

/**
 * The labels and annotations the controllers read: the managed-by label and the operator's own
 * `token-operator.io/` keys. Everything else on a namespace user's object (annotations alone may
 * take 256 KiB per object) stays out of the cache. Unchanged maps are kept as they are.
 */
function ours(map: Record<string, string>, labels: boolean): Record<string, string> {
  const keep = (k: string) => k.startsWith(OWN_PREFIX) || (labels && k === MANAGED_BY_LABEL);
  const keys = Object.keys(map);
  const kept = keys.every(keep) ? map : Object.fromEntries(keys.filter(keep).map((k) => [k, map[k]!]));
  if (labels) for (const k of Object.keys(kept)) if (SHARED_LABELS.has(k)) kept[k] = intern(kept[k]!);
  return kept;
}

function dataChars(obj: KubeObject): number {
  let n = 0;
  for (const v of Object.values((obj.data ?? {}) as Record<string, string>)) n += v.length;
  return n;
}

/**
 * What the caches keep of an object (the caches are the operator's memory floor: one entry per
 * resource and per managed Secret). Metadata keeps exactly the fields the controllers read: name,
 * namespace, uid, resourceVersion (write-through ordering, finalizer patches, events), generation,
 * labels (managed-by check) and annotations (rotate request; the Secret's revision, expiry and
 * token id) of our own, finalizers, deletionTimestamp and ownerReferences (the Secret's owner).
 * Dropped: managedFields, creationTimestamp and the other bookkeeping fields, and every other
 * label and annotation (kubectl's last-applied copy of the object among them). spec, status and
 * data stay whole: the CRDs bound every spec field, status is ours and is diffed against the
 * cache before every write (status-writer.ts), and Secret data is hashed for drift detection
 * (secret-state.ts); only a large labelled Secret no resource of ours owns loses its data.
 * Nothing writes a cached object back to the API server (no update/PUT), so a trimmed copy never
 * replaces a field on the server.
 *
 * The new metadata object is built in one go (a fast-mode object): `delete` on the parsed one
 * would turn it into a dictionary, several hundred bytes more per object.
 */
export function trimCached(obj: KubeObject): KubeObject {
  const m = obj.metadata;
  if (obj.apiVersion !== undefined) obj.apiVersion = intern(obj.apiVersion);
  if (obj.kind !== undefined) obj.kind = intern(obj.kind);
  if (!m) return obj;
  const meta: NonNullable<KubeObject['metadata']> = { name: m.name, namespace: intern(m.namespace), uid: m.uid, resourceVersion: m.resourceVersion };
  if (m.generation !== undefined) meta.generation = m.generation;
  if (m.labels) meta.labels = ours(m.labels, true);
  if (m.annotations) {
    const a = (meta.annotations = ours(m.annotations, false));
    for (const k of SHARED_ANNOTATIONS) if (a[k] !== undefined) a[k] = share(a[k]);
  }
  if (m.finalizers) meta.finalizers = m.finalizers.map(intern);
  if (m.deletionTimestamp !== undefined) meta.deletionTimestamp = m.deletionTimestamp;
  if (m.ownerReferences) {
    for (const r of m.ownerReferences) {
      r.apiVersion = intern(r.apiVersion);
      r.kind = intern(r.kind);
    }
    meta.ownerReferences = m.ownerReferences;
  }
  obj.metadata = meta;
  // A Secret wearing our label without being ours (no owner of our group): its data is never
  // read, and whoever can write Secrets in a namespace can make many of them, up to 1 MiB each.
  if (obj.kind === 'Secret' && !m.ownerReferences?.some((r) => r.apiVersion.startsWith(OWN_GROUP)) && dataChars(obj) > FOREIGN_SECRET_DATA_CHARS) obj.data = {};
  // Resources stamped from one chart repeat one spec.target.template: one shared, frozen copy.
  const target = (obj.spec as { target?: { template?: unknown } } | undefined)?.target;
  if (obj.apiVersion === API_VERSION && target?.template && typeof target.template === 'object') target.template = shareTemplate(target.template as TargetTemplate);
  // Conditions set in one reconcile share their lastTransitionTime: one string, not a copy each.
  const conditions = (obj.status as { conditions?: unknown } | undefined)?.conditions;
  if (Array.isArray(conditions)) {
    let last: unknown;
    for (const c of conditions as Array<{ lastTransitionTime?: unknown }>) {
      if (typeof last === 'string' && c?.lastTransitionTime === last) c.lastTransitionTime = last;
      else last = c?.lastTransitionTime;
    }
  }
  return obj;
}

function cache(
  client: KubeClient,
  logger: Logger,
  cfg: OperatorConfig,
  clock: Clock,
  r: { group: string; version: string; plural: string },
  labelSelector?: string,
  transform: (obj: KubeObject) => KubeObject = trimCached,
): ObjectCache<KubeObject> {
  const make = (ns?: string) =>
    new Informer<KubeObject>(client, {
      path: resourcePath(r, ns),
      ...(labelSelector ? { labelSelector } : {}),
      resyncMs: cfg.resyncSeconds * 1000,
      transform,
      clock,
      logger: logger.child({ informer: r.plural, ...(ns ? { namespace: ns } : {}) }),
    });
  if (cfg.watchNamespaces.length === 0) return make();
  return new InformerSet(cfg.watchNamespaces.map((ns) => [ns, make(ns)] as [string, Informer<KubeObject>]));
}

/** The HMAC key for status.secretHMAC, kept in a Secret beside the lease so it survives restarts. */
async function hmacKey(client: KubeClient, namespace: string): Promise<Buffer> {
  const path = `/api/v1/namespaces/${namespace}/secrets/token-operator-hmac-key`;
  const found = await client.find(path);
  const existing = (found?.data as Record<string, string> | undefined)?.key;
  if (existing) return Buffer.from(existing, 'base64');
  const key = randomBytes(32);
  try {
    await client.create(`/api/v1/namespaces/${namespace}/secrets`, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'token-operator-hmac-key', namespace, labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE } },
      data: { key: key.toString('base64') },
    });
    return key;
  } catch (e) {
    if (e instanceof KubeApiError && e.status === 409) return hmacKey(client, namespace);
    throw e;
  }
}

export async function startOperator(cfg: OperatorConfig, deps: OperatorDeps): Promise<Operator> {
  const logger = deps.logger;
  const metrics = new OperatorMetrics(VERSION_STRING);
  const kc = deps.kubeConfig ?? (await loadKubeAccess());
  const clock = deps.clock ?? systemClock;
  const onRequest = (verb: string, resource: string, code: number, seconds: number, path: string) => {
    metrics.apiRequests.inc({ verb, resource, code: String(code) });
    if (verb !== 'watch') metrics.apiLatency.observe({ verb, resource }, seconds);
    deps.onKubeRequest?.(verb, resource, code, path);
  };
  // The lease is renewed on a client of its own: its own rate limiter and connections, so a
  // renewal never queues behind a herd of reconciles (client-go gives leader election its own too).
  const elector = cfg.leaderElect
    ? new LeaderElector(new KubeClient(kc, { qps: 5, burst: 10, onRequest, ...(deps.impersonate ? { impersonate: deps.impersonate } : {}) }), {
        namespace: cfg.leaseNamespace,
        name: cfg.leaseName,
        identity: cfg.identity,
        leaseDurationMs: cfg.leaseDurationSeconds * 1000,
        renewDeadlineMs: cfg.renewDeadlineSeconds * 1000,
        retryPeriodMs: cfg.retryPeriodSeconds * 1000,
        logger,
        clock,
      })
    : undefined;
  // With leader election, every write and every provider call needs the lease (the fence,
  // leader-election.ts): a replica that lost it cannot act on a resource a successor may own.
  const client = new KubeClient(kc, {
    qps: cfg.kubeQps,
    burst: cfg.kubeBurst,
    ...(deps.impersonate ? { impersonate: deps.impersonate } : {}),
    ...(elector ? { writeGate: () => elector.assertFenced() } : {}),
    onRequest,
  });
  const observe = (o: ObservedCall) => {
    metrics.providerCalls.inc({ provider: o.provider, call: o.call, outcome: o.outcome });
    if (duringLivenessCheck()) metrics.livenessProviderCalls.inc({ provider: o.provider });
    metrics.providerLatency.observe({ provider: o.provider, call: o.call }, o.seconds);
    if (o.outcome === 'egress-denied') metrics.egressDenied.inc({ provider: o.provider });
  };
  // Every provider call, and every URL a provider hands back, passes this policy (egress/policy.ts).
  const egress = new EgressPolicy({
    allowLoopback: cfg.allowLoopbackEgress,
    allowInsecureHttp: cfg.allowInsecureHttp,
    deniedCidrs: cfg.egressDeniedCidrs,
    allowedHosts: cfg.egressAllowedHosts,
  });
  const refreshApiServer = async () => egress.setApiServerEndpoints(await apiServerEndpoints(client, logger));
  await refreshApiServer();
  // control-plane nodes come and go: look again now and then
  let refreshing = true;
  let cancelRefresh = () => {};
  const refreshLater = () => {
    if (refreshing) cancelRefresh = after(clock, API_SERVER_REFRESH_MS, () => void refreshApiServer().catch(() => undefined).finally(refreshLater));
  };
  const stopApiServerRefresh = () => {
    refreshing = false;
    cancelRefresh();
  };
  refreshLater();
  const egressOptions: EgressAgentOptions = {
    policy: egress,
    ...deps.egress,
    // the address is for the administrator; status names the host only
    onDenied: (d) => logger.warn({ host: d.host, rule: d.rule, ...(d.address ? { address: d.address } : {}) }, 'egress refused'),
  };
  if (deps.globalEgress) await installGlobalDispatcher(egressAgent(egressOptions));
  const unfenced = deps.http ?? fetchHttpClient({ timeoutMs: cfg.providerTimeoutSeconds * 1000, perHostRate: { qps: cfg.providerQps }, egress: egressOptions });
  const http: HttpClient = elector
    ? async (req) => {
        if (!elector.fenced) throw new ProviderError('Retryable', 'not sent: this replica does not hold the leader lease', { provider: 'operator', call: 'lease' });
        return unfenced(req);
      }
    : unfenced;

  // Only Secrets the operator manages are cached, never every Secret of the cluster.
  // A templated Secret's values are the template's rendering, never read: the cache keeps its keys and an HMAC.
  const secrets = cache(client, logger, cfg, clock, { group: '', version: 'v1', plural: 'secrets' }, `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`, (obj) =>
    digestTemplatedData(trimCached(obj), env.hmacKey),
  );
  const env: OperatorEnv = {
    client,
    clock,
    events: new KubeEventRecorder(client, 'token-operator', logger),
    metrics,
    secrets,
    allowInsecureHttp: cfg.allowInsecureHttp,
    maxInputSecretBytes: cfg.maxInputSecretBytes,
    hmacKey: Buffer.alloc(0),
    rollout: { debounceMs: cfg.rolloutDebounceSeconds * 1000, actAsReloader: cfg.actAsReloader },
    resources: new ResourceIndex(),
  };

  // One instance of every provider for the process (shared caches: one zDirect token per app,
  // one Privicore login per profile, discovered OIDC issuers), one skeleton per kind.
  const providers = createProviders({ http, clock, observe, allowInsecureHttp: cfg.allowInsecureHttp }, deps.providers);
  const implementations = tokenKinds({ minOverlapSeconds: cfg.minOverlapSeconds });
  const kinds = KINDS.filter((k) => cfg.controllers.includes(k.kind));

  const controllers = new Map<string, Controller<KubeObject>>();
  const crCaches: ObjectCache<KubeObject>[] = [];
  // `workers` per kind, pooled: a kind with a backlog uses the slots the others leave idle
  const pool = new WorkerPool(cfg.workers * Math.max(1, kinds.length));
  const cacheOfKind = new Map<string, ObjectCache<KubeObject>>();
  for (const { kind, plural } of kinds) {
    const informer = cache(client, logger, cfg, clock, { ...GROUP_VERSION, plural });
    crCaches.push(informer);
    cacheOfKind.set(kind, informer);
    env.resources.track(kind, informer);
    const reconcile = tokenReconciler(implementations[kind], providers[kind], informer, env);
    controllers.set(kind, new Controller({ kind, informer, reconcile, workers: pool.size, pool, logger, metrics, clock }));
  }
  // Write-through: what our own writes returned goes into the caches at once, whoever wrote it
  // (status, finalizers, Secrets), so a reconcile never sees a stale copy of its own write.
  client.onWritten((obj) => {
    if (obj.apiVersion === API_VERSION) cacheOfKind.get(obj.kind ?? '')?.upsert(obj);
    else if (obj.kind === 'Secret' && obj.metadata?.labels?.[MANAGED_BY_LABEL] === MANAGED_BY_VALUE) secrets.upsert(obj);
  });
  // A change to a managed Secret (edit, delete) wakes its owner: drift is repaired level-triggered.
  // (Not on resync: the owners' own resync reconciles every token anyway; this one doubled the pass.)
  // (Orphan and Merge Secrets carry no owner reference: their claim labels say whose they are.)
  const ownerOf = (secret: KubeObject) => {
    const claim = claimOf(secret);
    const controller = claim && controllers.get(claim.kind);
    return controller && { controller, key: `${secret.metadata?.namespace}/${claim.name}` };
  };
  secrets.on((event, secret) => {
    if (event === 'resync') return;
    const o = ownerOf(secret);
    o?.controller.notify(o.key, event, secret.metadata?.resourceVersion);
  });
  // our own Secret writes, so their watch echoes do not wake the owner again
  secrets.onUpsert((secret) => {
    const o = ownerOf(secret);
    o?.controller.noteOwnWrite(o.key, secret.metadata?.resourceVersion);
  });

  let cachesSynced = false;
  let leading = !cfg.leaderElect;
  let health: http.Server | undefined;
  if (cfg.healthPort > 0) {
    // A follower is ready as soon as it runs: it is a healthy standby, and a rollout with
    // replicaCount > 1 must not wait for a lease it can never hold.
    health = await startHealthServer(cfg.healthPort, cfg.healthHost, { live: () => true, ready: () => (leading ? cachesSynced : true) }, metrics.registry);
  }

  let stopped = false;
  const startControllers = async () => {
    env.hmacKey = await hmacKey(client, cfg.leaseNamespace);
    secrets.start();
    for (const c of crCaches) c.start();
    await Promise.all([secrets.synced, ...crCaches.map((c) => c.synced)]);
    cachesSynced = true;
    if (stopped || !leading) return; // stopped, or lost the lease while the caches filled
    for (const c of controllers.values()) c.start();
    logger.info({ controllers: [...controllers.keys()], namespaces: cfg.watchNamespaces.length ? cfg.watchNamespaces : 'all' }, 'controllers started');
  };

  /**
   * Lost the lease: start no new reconcile, let the ones running finish (they may hold a one-time
   * credential the provider already handed out, whose Secret write retries through an API
   * outage) for at most lostLeaseGraceSeconds, then exit so the process restarts clean. Meanwhile
   * the elector keeps renewing the lease for them and gates their writes and provider calls on it
   * (the fence): a successor cannot act on any resource before they have written or given up.
   * The lease is released at once when all of them ended; after the grace it is left to expire.
   */
  const drainAndExit = async (elector: LeaderElector) => {
    leading = false;
    metrics.leader.set(0);
    logger.error({ graceSeconds: cfg.lostLeaseGraceSeconds }, 'leadership lost: no new reconciles; waiting for the running ones, then exiting');
    let cancel: (() => void) | undefined;
    const drained = await Promise.race([
      Promise.all([...controllers.values()].map((c) => c.stop())).then(() => true),
      new Promise<false>((r) => (cancel = after(clock, cfg.lostLeaseGraceSeconds * 1000, () => r(false), true))),
    ]);
    cancel?.();
    if (drained) await elector.release();
    else elector.stop();
    logger.error({ drained }, drained ? 'running reconciles finished; lease released; exiting' : 'reconciles still running after the grace period; exiting');
    if (deps.exit) deps.exit(1);
    else process.exit(1);
  };

  if (elector) {
    // Followers keep the process alive and ready-to-serve metrics; only the leader reconciles.
    void elector
      .run(() => void drainAndExit(elector))
      .then(async () => {
        if (stopped) return;
        leading = true;
        metrics.leader.set(1);
        await startControllers();
      });
  } else {
    metrics.leader.set(1);
    await startControllers();
  }

  return {
    client,
    metrics,
    controllers,
    ...(health ? { health } : {}),
    ready: () => cachesSynced && leading,
    enqueueAll: () => {
      for (const c of controllers.values()) c.enqueueAll();
    },
    stop: async () => {
      stopped = true;
      stopApiServerRefresh();
      await Promise.all([...controllers.values()].map((c) => c.stop()));
      secrets.stop();
      for (const c of crCaches) c.stop();
      await elector?.release();
      await new Promise<void>((r) => (health ? health.close(() => r()) : r()));
    },
  };
}
