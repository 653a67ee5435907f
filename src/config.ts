import { z } from 'zod';
import { parseCidr } from './providers/egress/addresses.js';
import { hostMatcher } from './providers/egress/policy.js';

const valid = (check: (s: string) => unknown) => (s: string) => {
  try {
    check(s);
    return true;
  } catch {
    return false;
  }
};

/**
 * Operator settings, from environment variables (what the Helm chart sets) with flags
 * for local runs. Parsed with zod so a typo fails at start-up with the variable's name.
 */
export const OperatorConfig = z.object({
  /** empty = all namespaces (cluster-wide mode) */
  watchNamespaces: z.array(z.string()).default([]),
  workers: z.coerce.number().int().min(1).max(256).default(8),
  kubeQps: z.coerce.number().min(1).default(50),
  kubeBurst: z.coerce.number().int().min(1).default(100),
  resyncSeconds: z.coerce.number().int().min(0).default(600),
  leaderElect: z.boolean().default(true),
  leaseNamespace: z.string().default('default'),
  leaseName: z.string().default('token-operator'),
  leaseDurationSeconds: z.coerce.number().int().min(2).default(15),
  renewDeadlineSeconds: z.coerce.number().int().min(1).default(10),
  retryPeriodSeconds: z.coerce.number().int().min(1).default(2),
  /**
   * After losing the lease, how long reconciles already running may take to finish (a one-time
   * credential the provider handed out, its Secret write retried through an API outage) before
   * the process exits. Meanwhile no new reconcile starts, and the lease stays fenced by this
   * process's renewals (runtime/leader-election.ts).
   */
  lostLeaseGraceSeconds: z.coerce.number().int().min(1).max(3600).default(120),
  identity: z.string().default(`${process.env.POD_NAME ?? 'local'}-${process.pid}`),
  healthPort: z.coerce.number().int().min(0).max(65535).default(8080),
  healthHost: z.string().default('0.0.0.0'),
  allowInsecureHttp: z.boolean().default(false),
  /**
   * Let provider calls reach loopback addresses (127.0.0.0/8, ::1): local development only, where
   * the provider simulators listen on 127.0.0.1. In a pod, loopback is the pod itself and its
   * sidecars (a mesh proxy's admin port), never a provider.
   */
  allowLoopbackEgress: z.boolean().default(false),
  /** ranges provider calls may never reach, on top of the built-in ones (pod, service and node networks) */
  egressDeniedCidrs: z.array(z.string().refine(valid(parseCidr), 'not a CIDR range (e.g. 10.0.0.0/8, fd00::/8)')).default([]),
  /** when set, provider calls reach only these hosts (`api.example.com`, `*.example.com`, an IP literal) */
  egressAllowedHosts: z.array(z.string().refine(valid(hostMatcher), 'not a host pattern (api.example.com, *.example.com or an IP address)')).default([]),
  /**
   * The largest Secret the operator reads as a resource's input (credentials, keys, data to
   * tokenize), in bytes of decoded data: a namespace user's Secret must not be a way to fill the
   * operator's memory. Larger ones stall the resource with reason SecretTooLarge.
   */
  maxInputSecretBytes: z.coerce.number().int().min(1024).max(1024 * 1024).default(256 * 1024),
  logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).default('info'),
  providerTimeoutSeconds: z.coerce.number().min(1).default(15),
  /** requests per second to each provider host, shared by all resources: never more in any one second (no burst) */
  providerQps: z.coerce.number().min(0.1).max(10_000).default(20),
  /** enable only some controllers, e.g. ["DeltaShareToken"] */
  controllers: z.array(z.enum(['DeltaShareToken', 'AccessToken', 'DataToken'])).default(['DeltaShareToken', 'AccessToken', 'DataToken']),
  /** rotations of one Secret within this window restart its workloads once, with the latest revision */
  rolloutDebounceSeconds: z.coerce.number().min(0).max(3600).default(10),
  /** also restart workloads annotated for stakater Reloader (secret.reloader.stakater.com/reload, reloader.stakater.com/auto) */
  actAsReloader: z.boolean().default(false),
  /**
   * Smallest DeltaShareToken overlap accepted: consumers must see the new Secret before the old
   * token dies (kubelet sync period, about a minute, plus its cache TTL). The CRD refuses < 2m.
   */
  minOverlapSeconds: z.coerce.number().int().min(0).default(120),
  /**
   * V8's old-generation growth before the next full GC, in percent (0 = V8's own choice).
   * V8 lets the heap reach 2.5-4x the live set before collecting; 50 keeps 10k tokens under
   * 256 MiB RSS at no measured CPU cost (bench/README.md). Node refuses this flag in
   * NODE_OPTIONS, so the operator sets it itself at start.
   */
  heapGrowingPercent: z.coerce.number().int().min(0).max(1000).default(50),
})
  // client-go's rules (leader-election.ts checkTiming): checked with leader election off too, so a
  // bad setting fails at start, not the day someone turns it on
  .superRefine((c, ctx) => {
    if (c.renewDeadlineSeconds >= c.leaseDurationSeconds) {
      ctx.addIssue({
        code: 'custom',
        path: ['renewDeadlineSeconds'],
        message: `must be shorter than leaseDurationSeconds (${c.renewDeadlineSeconds} >= ${c.leaseDurationSeconds}): a leader that cannot renew must stop before another replica may take over`,
      });
    }
    if (c.retryPeriodSeconds >= c.renewDeadlineSeconds) {
      ctx.addIssue({
        code: 'custom',
        path: ['retryPeriodSeconds'],
        message: `must be shorter than renewDeadlineSeconds (${c.retryPeriodSeconds} >= ${c.renewDeadlineSeconds}): the leader needs more than one try to renew`,
      });
    }
  });
export type OperatorConfig = z.infer<typeof OperatorConfig>;

const list = (v: string | undefined) => (v ? v.split(',').map((s) => s.trim()).filter(Boolean) : undefined);
const bool = (v: string | undefined) => (v === undefined ? undefined : ['1', 'true', 'yes'].includes(v.toLowerCase()));

/** Reads TOKEN_OPERATOR_* variables, then --flag=value arguments (flags win). */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, argv: string[] = process.argv.slice(2)): OperatorConfig {
  const flags = new Map<string, string>();
  for (const a of argv) {
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a);
    if (m) flags.set(m[1]!, m[2] ?? 'true');
  }
  const pick = (flag: string, envName: string) => flags.get(flag) ?? env[`TOKEN_OPERATOR_${envName}`];
  const raw = {
    watchNamespaces: list(pick('watch-namespaces', 'WATCH_NAMESPACES')),
    workers: pick('workers', 'WORKERS'),
    kubeQps: pick('kube-qps', 'KUBE_QPS'),
    kubeBurst: pick('kube-burst', 'KUBE_BURST'),
    resyncSeconds: pick('resync-seconds', 'RESYNC_SECONDS'),
    leaderElect: bool(pick('leader-elect', 'LEADER_ELECT')),
    leaseNamespace: pick('lease-namespace', 'LEASE_NAMESPACE') ?? env.POD_NAMESPACE,
    leaseName: pick('lease-name', 'LEASE_NAME'),
    leaseDurationSeconds: pick('lease-duration-seconds', 'LEASE_DURATION_SECONDS'),
    renewDeadlineSeconds: pick('renew-deadline-seconds', 'RENEW_DEADLINE_SECONDS'),
    retryPeriodSeconds: pick('retry-period-seconds', 'RETRY_PERIOD_SECONDS'),
    lostLeaseGraceSeconds: pick('lost-lease-grace-seconds', 'LOST_LEASE_GRACE_SECONDS'),
    identity: pick('identity', 'IDENTITY'),
    healthPort: pick('health-port', 'HEALTH_PORT'),
    healthHost: pick('health-host', 'HEALTH_HOST'),
    allowInsecureHttp: bool(pick('allow-insecure-http', 'ALLOW_INSECURE_HTTP')),
    allowLoopbackEgress: bool(pick('allow-loopback-egress', 'ALLOW_LOOPBACK_EGRESS')),
    egressDeniedCidrs: list(pick('egress-denied-cidrs', 'EGRESS_DENIED_CIDRS')),
    egressAllowedHosts: list(pick('egress-allowed-hosts', 'EGRESS_ALLOWED_HOSTS')),
    maxInputSecretBytes: pick('max-input-secret-bytes', 'MAX_INPUT_SECRET_BYTES'),
    logLevel: pick('log-level', 'LOG_LEVEL'),
    providerTimeoutSeconds: pick('provider-timeout-seconds', 'PROVIDER_TIMEOUT_SECONDS'),
    providerQps: pick('provider-qps', 'PROVIDER_QPS'),
    controllers: list(pick('controllers', 'CONTROLLERS')),
    rolloutDebounceSeconds: pick('rollout-debounce-seconds', 'ROLLOUT_DEBOUNCE_SECONDS'),
    actAsReloader: bool(pick('act-as-reloader', 'ACT_AS_RELOADER')),
    minOverlapSeconds: pick('min-overlap-seconds', 'MIN_OVERLAP_SECONDS'),
    heapGrowingPercent: pick('heap-growing-percent', 'HEAP_GROWING_PERCENT'),
  };
  const defined = Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined));
  const parsed = OperatorConfig.safeParse(defined);
  if (!parsed.success) {
    const why = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`invalid operator configuration: ${why}`);
  }
  return parsed.data;
}
