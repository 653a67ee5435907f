/**
 * `npm run bench [-- --sizes=1000,5000,10000 --workers=16 --latency-ms=20 --kinds=dds,gnap,datatoken]`
 *
 * Against a fresh real kube-apiserver per size and the simulators of the kinds used (all with
 * the same provider latency --latency-ms), measures:
 *  - scale: time for N tokens (spread over 100 namespaces, round-robin over --kinds:
 *    dds = DeltaShareToken / DDS simulator, gnap = AccessToken in GNAP mode / GNAP simulator,
 *    datatoken = DataToken in source mode / Privicore simulator) to become Ready, the
 *    operator's peak RSS and heap, API requests by verb, provider calls (all simulators);
 *  - floor: a bare client doing the minimum per token (one provider call to that token's
 *    simulator, one Secret create, one status patch) at the same concurrency; ratio operator / floor;
 *  - steady state: API writes and provider calls over several resync periods (goal 0), with the
 *    liveness checks (spec.liveness, default 1h) that fall into that window counted apart: their
 *    number, provider calls, and highest rate in any second (10k tokens at 1h: about 2.8/s);
 *  - herd: --herd tokens asked to rotate at the same instant: the highest provider request
 *    rate seen in any 1 s window versus the configured limit, and the spread of rotations;
 *  - fairness: --herd more tokens in ONE namespace asked to rotate at once, then, with that herd
 *    queued, one token of each kind in a second namespace: how long the second namespace's
 *    rotations took (fair reconcile slots: a few reconciles, not the whole herd).
 * With --template every token's target Secret is shaped by a spec.target.template (TEMPLATES
 * below: env vars, a config file, an Authorization header, an annotation), and a sample of the
 * Secrets is checked to hold exactly the templated keys.
 * Prints a table. Not part of `npm test`.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuSeconds } from './proc.js';
import { chartValues, podNodeFlags } from './pod-flags.js';
import { generateJwk } from '@interledger/http-signature-utils';
import { KubeConfig } from '@kubernetes/client-node';
import { freePort, startControlPlane, type ControlPlane } from '../test/cluster/control-plane.js';
import { startDdsSimulator, type DdsSimulator } from '../test/simulators/dds/server.js';
import { startGnapSimulator, type GnapSimulator } from '../test/simulators/gnap/server.js';
import { startPrivicoreSimulator, type PrivicoreSimulator } from '../test/simulators/privicore/server.js';
import pino from 'pino';
import YAML from 'yaml';
import { Informer } from '../src/runtime/informer.js';
import { maxInAnyWindow } from '../test/support/rate.js';
import { KubeClient, type KubeObject } from '../src/runtime/kube-client.js';
import { MANAGED_BY_LABEL } from '../src/runtime/secret-writer.js';

const arg = (name: string, def: string) => {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  return a === undefined ? def : a.slice(name.length + 3);
};
const SIZES = arg('sizes', '1000').split(',').map(Number);
const WORKERS = Number(arg('workers', '16'));
const LATENCY = Number(arg('latency-ms', '20'));
const NAMESPACES = Number(arg('namespaces', '100'));
const PROVIDER_QPS = Number(arg('provider-qps', '400'));
const KUBE_QPS = Number(arg('kube-qps', '1000'));
const RESYNC = Number(arg('resync-seconds', '15'));
/**
 * Resync while converging: the chart's default. A resync reconciles every token, so the bench's
 * short steady-state period (15 s) during convergence would bill 10k tokens a full extra pass
 * every 15 s that no installation pays; the steady-state phase restarts the operator with it instead.
 */
const shippedResync = (YAML.parse(readFileSync(join(import.meta.dirname, '..', 'charts', 'token-operator', 'values.yaml'), 'utf8')) as { resyncSeconds?: number }).resyncSeconds ?? 600;
const CONVERGE_RESYNC = Number(arg('converge-resync-seconds', String(shippedResync)));
const HERD = Number(arg('herd', '1000'));
/** token kinds; the N tokens go round-robin over them */
const KIND_INFO = {
  dds: { kind: 'DeltaShareToken', plural: 'deltasharetokens', targetSuffix: '-share' },
  gnap: { kind: 'AccessToken', plural: 'accesstokens', targetSuffix: '-token' },
  datatoken: { kind: 'DataToken', plural: 'datatokens', targetSuffix: '-out' },
} as const;
type Kind = keyof typeof KIND_INFO;
const KINDS = [...new Set(arg('kinds', 'dds,gnap,datatoken').split(',').map((k) => k.trim()).filter(Boolean))] as Kind[];
for (const k of KINDS) if (!(k in KIND_INFO)) throw new Error(`--kinds: unknown kind "${k}" (known: ${Object.keys(KIND_INFO).join(', ')})`);
if (!KINDS.length) throw new Error('--kinds: name at least one kind');
/** --quick: convergence and floor only (no steady-state or herd phase), for tuning loops */
const QUICK = process.argv.includes('--quick');
/** --operator-only: convergence (and, unless --quick, steady state and herd) without the floor runs: for memory and profile work */
const OPERATOR_ONLY = process.argv.includes('--operator-only');
/** the two-namespace fairness phase: always in a full run; --fairness adds it to --quick */
const FAIRNESS = !QUICK || process.argv.includes('--fairness');
/** Node flags for the operator process; by default what the chart ships (values.yaml nodeOptions) */
const NODE_FLAGS = podNodeFlags(arg('node-flags', chartValues.nodeOptions ?? ''));
/** glibc malloc arenas for the operator process; by default what the chart ships (values.yaml mallocArenaMax; 0 = glibc's default) */
const shippedArenas = chartValues.mallocArenaMax ?? 0;
const MALLOC_ARENA_MAX = Number(arg('malloc-arena-max', String(shippedArenas)));
/** write a V8 CPU profile of the operator process into this directory */
const PROFILE_DIR = arg('cpu-prof-dir', '');
/** write a V8 heap snapshot of the converged operator into this directory (for bench/heap-top.ts; taken after the peak RSS is read) */
const HEAP_SNAPSHOT_DIR = arg('heap-snapshot-dir', '');
/** append the operator's standard output (its logs, and e.g. --trace-gc lines from --node-flags) to this file */
const OPERATOR_OUT = arg('operator-out', '');
const root = join(import.meta.dirname, '..');
/** --template: a spec.target.template on every token, per kind (the README's common shapes, with helpers) */
const TEMPLATE = process.argv.includes('--template');
const TEMPLATES = {
  dds: {
    data: {
      DELTA_SHARING_TOKEN: '{{bearerToken}}',
      'profile.share': '{{{config.share}}}',
      authorization: 'Bearer {{bearerToken}}',
      'client.json': '{"endpoint": {{#json}}{{endpoint}}{{/json}}, "token": {{#json}}{{bearerToken}}{{/json}}}',
    },
    annotations: { 'bench.example.com/expires': '{{expirationTime}}' },
  },
  gnap: {
    data: { ACCESS_TOKEN: '{{access_token}}', authorization: 'GNAP {{access_token}}', 'client.json': '{"token": {{#json}}{{access_token}}{{/json}}}' },
    annotations: { 'bench.example.com/expires': '{{expires_at}}' },
  },
  datatoken: {
    mergePolicy: 'Merge',
    data: { REPORT_TOKEN: '{{data_token}}', 'token.b64': '{{#base64}}{{data_token}}{{/base64}}', CONTEXT: '{{#upper}}{{context}}{{/upper}}' },
  },
} as const;

interface Row {
  n: number;
  operatorS: number;
  floorS: number;
  peakRssMiB: number;
  peakHeapMiB: number;
  apiByVerb: Record<string, number>;
  providerCalls: number;
  steadyWrites: number;
  /** provider calls in the steady-state window that were not liveness checks (goal 0) */
  steadyProviderCalls: number;
  /** liveness checks in the steady-state window, their provider calls, and the most calls any simulator saw in one second */
  liveness: { checks: number; calls: number; perS: number; maxInAnyS: number; windowS: number };
  herdMaxRate: number;
  herdSpreadS: number;
  herdP50S: number;
  fairness?: Fairness;
  /** CPU seconds used while converging: [API server, operator, bench process (simulator + polling)] */
  opCpu: [number, number, number];
  /** CPU seconds used by the floor run: [API server, bench process (simulator + floor client)] */
  floorCpu: [number, number];
  /** the design floor (designFloor): seconds, and CPU seconds [API server, bench process] */
  designFloorS: number;
  designFloorCpu: [number, number];
}

async function pool<T>(items: T[], concurrency: number, fn: (t: T) => Promise<void>): Promise<void> {
  let i = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (i < items.length) await fn(items[i++]!);
    }),
  );
}

function kubeClient(cp: ControlPlane): KubeClient {
  const kc = new KubeConfig();
  kc.loadFromFile(cp.kubeconfigPath);
  return new KubeClient(kc, { qps: 5000, burst: 5000 });
}

const crPath = (kind: Kind, ns: string, name?: string) => `/apis/token-operator.io/v1alpha1/namespaces/${ns}/${KIND_INFO[kind].plural}${name ? `/${name}` : ''}`;

/** the simulators of the kinds in use */
interface Sims {
  dds?: DdsSimulator;
  gnap?: GnapSimulator;
  privicore?: PrivicoreSimulator;
}

interface Item {
  ns: string;
  name: string;
  kind: Kind;
}

async function createSecret(client: KubeClient, ns: string, name: string, data: Record<string, string>): Promise<void> {
  await client.create(`/api/v1/namespaces/${ns}/secrets`, { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: ns }, stringData: data });
}

/** per simulator in use: how many provider requests it has seen, and their arrival times (ms) from an index on */
function providerLogs(s: Sims): Array<{ sim: string; length: number; timesFrom: (i: number) => number[] }> {
  const out: Array<{ sim: string; length: number; timesFrom: (i: number) => number[] }> = [];
  if (s.dds) {
    const log = s.dds.state.log;
    out.push({ sim: 'dds', length: log.length, timesFrom: (i) => log.slice(i).map((e) => e.at.getTime()) });
  }
  if (s.gnap) {
    const log = s.gnap.state.requests;
    out.push({ sim: 'gnap', length: log.length, timesFrom: (i) => log.slice(i).map((e) => e.at) });
  }
  if (s.privicore) {
    const log = s.privicore.log;
    out.push({ sim: 'privicore', length: log.length, timesFrom: (i) => log.slice(i).map((e) => e.at) });
  }
  return out;
}

const providerCalls = (s: Sims) => providerLogs(s).reduce((sum, l) => sum + l.length, 0);

/** The provider-side setup a person would do for one token, and its Secrets (not timed). */
async function seed(client: KubeClient, sims: Sims, { ns, name, kind }: Item): Promise<void> {
  switch (kind) {
    case 'dds':
      sims.dds!.state.addClient(`${ns}-${name}`, 's');
      await createSecret(client, ns, `creds-${name}`, { client_id: `${ns}-${name}`, client_secret: 's' });
      return;
    case 'gnap': {
      // as test/support/fixtures.ts gnapFixture: the client wallet's own key, a grant token
      const gnap = sims.gnap!;
      const privateKeyPem = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
      const wallet = gnap.walletAddressUrl(`${ns}-${name}`);
      gnap.registerClientKey(wallet, generateJwk({ privateKey: createPrivateKey(privateKeyPem), keyId: 'k1' }));
      const t = gnap.issueToken(undefined, { walletAddressUrl: wallet });
      await createSecret(client, ns, `${name}-key`, { 'private.pem': privateKeyPem });
      await createSecret(client, ns, `${name}-grant`, { access_token: t.value, manage_url: t.manageUrl });
      return;
    }
    case 'datatoken':
      await createSecret(client, ns, `${name}-data`, { 'key.pem': `bench data ${ns}/${name}` });
      return;
  }
}

function tokenObject(sims: Sims, { ns, name, kind }: Item): KubeObject {
  const base = { apiVersion: 'token-operator.io/v1alpha1', kind: KIND_INFO[kind].kind, metadata: { name } };
  const target = { secretName: `${name}${KIND_INFO[kind].targetSuffix}`, ...(TEMPLATE ? { template: TEMPLATES[kind] } : {}) };
  switch (kind) {
    case 'dds':
      return {
        ...base,
        spec: {
          dds: { apiUrl: sims.dds!.url, credentialsSecretRef: { name: `creds-${name}` }, allowInsecureHttp: true },
          overlap: '5m',
          verify: false,
          target,
        },
      };
    case 'gnap':
      return {
        ...base,
        spec: {
          gnap: {
            walletAddressUrl: sims.gnap!.walletAddressUrl(`${ns}-${name}`),
            keyId: 'k1',
            privateKeySecretRef: { name: `${name}-key`, key: 'private.pem' },
            accessTokenSecretRef: { name: `${name}-grant`, key: 'access_token' },
            manageUrlSecretRef: { name: `${name}-grant`, key: 'manage_url' },
            allowInsecureHttp: true,
          },
          target,
        },
      };
    case 'datatoken':
      return {
        ...base,
        spec: {
          privicore: { apiUrl: sims.privicore!.url, profileSecretRef: { name: 'privicore-profile' }, allowInsecureHttp: true },
          source: { secretKeyRef: { name: `${name}-data`, key: 'key.pem' }, context: 'bench.scale' },
          target,
        },
      };
  }
}

/** N tokens over min(namespaces, N) namespaces, round-robin over KINDS; with their credentials when withCreds */
async function createTokens(client: KubeClient, sims: Sims, prefix: string, n: number, withCreds: boolean, namespaces = NAMESPACES): Promise<Item[]> {
  const nss = Array.from({ length: Math.min(namespaces, n) }, (_, i) => `${prefix}-${i}`);
  await pool(nss, 16, (ns) => client.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }).then(() => undefined));
  const items: Item[] = Array.from({ length: n }, (_, i) => ({ ns: nss[i % nss.length]!, name: `t${i}`, kind: KINDS[i % KINDS.length]! }));
  if (withCreds && sims.privicore) {
    // one Privicore profile per namespace: its DataTokens share the profile's login
    const dtNamespaces = [...new Set(items.filter((it) => it.kind === 'datatoken').map((it) => it.ns))];
    await pool(dtNamespaces, 16, async (ns) => {
      sims.privicore!.addProfile(`bench-${ns}`, `pw-${ns}`);
      await createSecret(client, ns, 'privicore-profile', { username: `bench-${ns}`, password: `pw-${ns}` });
    });
  }
  await pool(items, 64, async (it) => {
    if (withCreds) await seed(client, sims, it);
    const obj = tokenObject(sims, it);
    obj.metadata = { ...obj.metadata, labels: { [RUN_LABEL]: prefix } };
    await client.create(crPath(it.kind, it.ns), obj);
  });
  return items;
}

/**
 * Watches the tokens (one watch costs the API server far less than listing 10k objects every
 * second, which would slow the very thing measured) and notes when each became Ready.
 */
class ReadyTracker {
  private readonly ready = new Set<string>();
  readonly rotations = new Map<string, number>();
  /** when this watch saw each token's lastRotationTime change (Date.now()): the rotation's Secret and status are written */
  readonly rotationSeen = new Map<string, number>();
  allReadyAt = 0;
  private readonly informers: Array<Informer<KubeObject>>;

  constructor(client: KubeClient, private readonly expected: number) {
    // all three kinds, whichever --kinds are used: a kind without tokens costs one idle watch
    this.informers = Object.values(KIND_INFO).map(({ plural }) => {
      const informer = new Informer<KubeObject>(client, { path: `/apis/token-operator.io/v1alpha1/${plural}`, logger: pino({ level: 'silent' }) });
      informer.on((event, o) => {
        const key = `${plural}/${o.metadata?.namespace}/${o.metadata?.name}`;
        const st = o.status as { conditions?: Array<{ type: string; status: string }>; lastRotationTime?: string } | undefined;
        if (event !== 'delete' && st?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) this.ready.add(key);
        else this.ready.delete(key);
        if (st?.lastRotationTime) {
          const at = Date.parse(st.lastRotationTime);
          if (this.rotations.get(key) !== at) this.rotationSeen.set(key, Date.now());
          this.rotations.set(key, at);
        }
        if (!this.allReadyAt && this.ready.size >= this.expected) this.allReadyAt = performance.now();
      });
      return informer;
    });
  }

  async start(): Promise<void> {
    for (const i of this.informers) i.start();
    await Promise.all(this.informers.map((i) => i.synced));
  }

  /** Ready count per plural */
  readyByPlural(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const key of this.ready) {
      const plural = key.slice(0, key.indexOf('/'));
      out[plural] = (out[plural] ?? 0) + 1;
    }
    return out;
  }

  get readyCount(): number {
    return this.ready.size;
  }

  stop(): void {
    for (const i of this.informers) i.stop();
  }
}

/** Waits until the API server has been nearly idle (< 5 % of a core) for a second, so one phase's leftovers do not bill the next. */
async function settle(pid: number): Promise<void> {
  const until = Date.now() + 60_000;
  while (Date.now() < until) {
    const c0 = cpuSeconds(pid);
    await new Promise((r) => setTimeout(r, 1000));
    if (cpuSeconds(pid) - c0 < 0.05) return;
  }
}

const selfCpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

function procStatus(pid: number): { rss: number; hwm: number } {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(text)?.[1] ?? 0) / 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

async function scrape(port: number): Promise<Map<string, number>> {
  const text = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text());
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

function sumMetric(m: Map<string, number>, prefix: string, filter: (labels: string) => boolean = () => true): number {
  let s = 0;
  for (const [k, v] of m) if (k.startsWith(prefix) && filter(k)) s += v;
  return s;
}

/** mean of a histogram per label value (sum / count), e.g. reconcile seconds by kind */
function histogramMeans(m: Map<string, number>, name: string, label: string): Map<string, [number, number]> {
  const acc = new Map<string, [number, number]>();
  for (const [k, v] of m) {
    const part = k.startsWith(`${name}_sum{`) ? 0 : k.startsWith(`${name}_count{`) ? 1 : -1;
    if (part < 0) continue;
    const key = new RegExp(`${label}="([^"]*)"`).exec(k)?.[1] ?? '';
    const e = acc.get(key) ?? [0, 0];
    e[part as 0 | 1] += v;
    acc.set(key, e);
  }
  return acc;
}

/** the operator's own latency metrics: how long reconciles, API requests and provider calls took */
function latencyMeans(m: Map<string, number>): string {
  const fmtMs = (name: string, label: string) =>
    [...histogramMeans(m, name, label)].map(([k, [sum, n]]) => `${k} ${((sum / Math.max(n, 1)) * 1000).toFixed(0)} ms ×${n}`).join(', ');
  return [
    `reconcile ${fmtMs('token_operator_reconcile_duration_seconds', 'kind')}`,
    `API ${fmtMs('token_operator_kube_api_request_duration_seconds', 'verb')}`,
    `provider ${fmtMs('token_operator_provider_call_duration_seconds', 'provider')}`,
  ].join('; ');
}

function apiByVerb(m: Map<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of m) {
    const verb = /^token_operator_kube_api_requests_total\{verb="([a-z]+)"/.exec(k)?.[1];
    if (verb) out[verb] = (out[verb] ?? 0) + v;
  }
  return out;
}

const writes = (m: Map<string, number>) => sumMetric(m, 'token_operator_kube_api_requests_total', (k) => /verb="(create|patch|update|delete)"/.test(k));

/** SIGUSR2 → the operator writes Heap.*.heapsnapshot into HEAP_SNAPSHOT_DIR; waits until the file stops growing */
async function heapSnapshot(op: ChildProcess): Promise<string> {
  mkdirSync(HEAP_SNAPSHOT_DIR, { recursive: true });
  const before = new Set(readdirSync(HEAP_SNAPSHOT_DIR));
  op.kill('SIGUSR2');
  let last = -1;
  for (let i = 0; i < 600; i++) {
    await new Promise((r) => setTimeout(r, 1000));
    const file = readdirSync(HEAP_SNAPSHOT_DIR).find((f) => !before.has(f) && f.endsWith('.heapsnapshot'));
    if (!file) continue;
    const size = statSync(join(HEAP_SNAPSHOT_DIR, file)).size;
    if (size > 0 && size === last) return join(HEAP_SNAPSHOT_DIR, file);
    last = size;
  }
  throw new Error('no heap snapshot after 10 min');
}

function startOperator(cp: ControlPlane, port: number, resyncSeconds: number): ChildProcess {
  return spawn(process.execPath, [...NODE_FLAGS, ...(PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`] : []),
    ...(HEAP_SNAPSHOT_DIR ? ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${HEAP_SNAPSHOT_DIR}`] : []), join(root, 'dist', 'main.js'),
    '--leader-elect=false', `--health-port=${port}`, '--health-host=127.0.0.1', '--allow-insecure-http', '--allow-loopback-egress', '--log-level=warn',
    `--workers=${WORKERS}`, `--kube-qps=${KUBE_QPS}`, `--kube-burst=${KUBE_QPS * 2}`, `--provider-qps=${PROVIDER_QPS}`,
    `--resync-seconds=${resyncSeconds}`, '--lease-namespace=default', '--controllers=DeltaShareToken,AccessToken,DataToken'], {
    env: { ...process.env, KUBECONFIG: cp.kubeconfigPath, ...(MALLOC_ARENA_MAX > 0 ? { MALLOC_ARENA_MAX: String(MALLOC_ARENA_MAX) } : {}) },
    stdio: ['ignore', OPERATOR_OUT ? openSync(OPERATOR_OUT, 'a') : 'ignore', 'inherit'],
  });
}

/** per kind, one cheap authenticated GET at its simulator (credentials obtained here, untimed) */
async function floorCalls(sims: Sims): Promise<Partial<Record<Kind, () => Promise<Response>>>> {
  const calls: Partial<Record<Kind, () => Promise<Response>>> = {};
  if (sims.dds) {
    const dds = sims.dds;
    dds.state.addClient('floor', 's');
    const tok = (await fetch(`${dds.url}/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from('floor:s').toString('base64')}` },
      body: 'grant_type=client_credentials',
    }).then((r) => r.json())) as { access_token: string };
    calls.dds = () => fetch(`${dds.url}/dds-tokens`, { headers: { authorization: `Bearer ${tok.access_token}` } });
  }
  if (sims.gnap) {
    const gnap = sims.gnap;
    const wallet = gnap.walletAddressUrl('floor');
    gnap.registerClientKey(wallet, generateJwk({ privateKey: generateKeyPairSync('ed25519').privateKey, keyId: 'k1' }));
    const t = gnap.issueToken(undefined, { walletAddressUrl: wallet });
    calls.gnap = () => fetch(`${gnap.url}/resource`, { headers: { authorization: `GNAP ${t.value}` } });
  }
  if (sims.privicore) {
    const pc = sims.privicore;
    pc.addProfile('floor', 'floor-pw');
    const auth = (await fetch(`${pc.url}/profile/authenticate`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'username=floor&password=floor-pw',
    }).then((r) => r.json())) as { authorizationToken: string };
    calls.datatoken = () => fetch(`${pc.url}/profile/retrieve-token-expiry`, { headers: { 'x-dpt-authorization': auth.authorizationToken } });
  }
  return calls;
}

/** --template: a sample of the target Secrets (30 per kind) holds exactly the keys its template names (Merge: plus the default keys). */
async function checkTemplated(client: KubeClient, items: Item[]): Promise<string> {
  const sample = KINDS.flatMap((k) => items.filter((it) => it.kind === k).slice(0, 30));
  let good = 0;
  const bad: string[] = [];
  await pool(sample, 16, async ({ ns, name, kind }) => {
    const secret = await client.find<KubeObject & { data?: Record<string, string> }>(`/api/v1/namespaces/${ns}/secrets/${name}${KIND_INFO[kind].targetSuffix}`);
    const t = TEMPLATES[kind];
    const keys = Object.keys(secret?.data ?? {});
    const want = Object.keys(t.data);
    const ok = want.every((k) => keys.includes(k)) && ('mergePolicy' in t || keys.length === want.length) && !!secret?.metadata?.annotations?.['token-operator.io/template'];
    if (ok) good++;
    else bad.push(`${ns}/${name}: ${keys.join(',')}`);
  });
  if (bad.length) throw new Error(`--template: ${bad.length} of ${sample.length} Secrets do not hold their templated keys, e.g. ${bad.slice(0, 3).join('; ')}`);
  return `${good} of ${sample.length} sampled Secrets hold exactly their templated keys`;
}

async function floor(client: KubeClient, sims: Sims, items: Item[]): Promise<number> {
  const calls = await floorCalls(sims);
  const started = performance.now();
  // the operator runs WORKERS reconciles per kind at once: the same total here
  await pool(items, WORKERS * KINDS.length, async ({ ns, name, kind }) => {
    const r = await calls[kind]!();
    await r.text();
    if (!r.ok) throw new Error(`floor: ${kind} provider call answered ${r.status}`);
    await client.create(`/api/v1/namespaces/${ns}/secrets`, { apiVersion: 'v1', kind: 'Secret', metadata: { name: `${name}${KIND_INFO[kind].targetSuffix}` }, stringData: { bearerToken: 'x' } });
    await client.patch(`${crPath(kind, ns, name)}/status`, { status: { conditions: [{ type: 'Ready', status: 'True', reason: 'Floor', message: '', lastTransitionTime: new Date().toISOString() }] } }, 'merge');
  });
  return (performance.now() - started) / 1000;
}

/** the Secrets a token of each kind reads its inputs from (as seed() creates them) */
const inputSecrets = (kind: Kind, name: string): string[] =>
  kind === 'dds' ? [`creds-${name}`] : kind === 'gnap' ? [`${name}-key`, `${name}-grant`] : ['privicore-profile', `${name}-data`];
/** which simulator serves each kind (the names providerLogs uses) */
const SIM_OF: Record<Kind, string> = { dds: 'dds', gnap: 'gnap', datatoken: 'privicore' };
const RUN_LABEL = 'bench.token-operator.io/run';

/**
 * The design floor: what any operator must do per token to give the design's guarantees
 * (ARCHITECTURE.md), with none of this operator's machinery. Watches of the three kinds and of
 * its managed Secrets (an operator's cache), then per token at the operator's concurrency: GET
 * its input Secrets, for GNAP a status mark before the call (the old token dies at once), as
 * many provider calls as the operator made per token of that kind, the state Secret (POST),
 * the target Secret (server-side apply), the status patch, and an Event in the background.
 * The operator over this is what its own implementation costs; this over the bare floor is
 * what the guarantees cost.
 */
async function designFloor(client: KubeClient, sims: Sims, items: Item[], callsPerToken: Record<Kind, number>): Promise<number> {
  const calls = await floorCalls(sims);
  const started = performance.now();
  const selector = `${RUN_LABEL}=dfloor`;
  const crs = Object.fromEntries(Object.entries(KIND_INFO).map(([k, { plural }]) => [k, new Informer<KubeObject>(client, {
    path: `/apis/token-operator.io/v1alpha1/${plural}`, labelSelector: selector, logger: pino({ level: 'silent' }),
  })])) as Record<Kind, Informer<KubeObject>>;
  const secrets = new Informer<KubeObject>(client, { path: '/api/v1/secrets', labelSelector: `${MANAGED_BY_LABEL}=token-operator,${selector}`, logger: pino({ level: 'silent' }) });
  const informers = [...Object.values(crs), secrets];
  for (const i of informers) i.start();
  await Promise.all(informers.map((i) => i.synced));
  const events: Array<Promise<unknown>> = [];
  await pool(items, WORKERS * KINDS.length, async ({ ns, name, kind }) => {
    const cr = crs[kind].get(ns, name);
    if (!cr?.metadata?.uid) throw new Error(`design floor: ${kind} ${ns}/${name} not in the cache`);
    const owner = { apiVersion: 'token-operator.io/v1alpha1', kind: KIND_INFO[kind].kind, name, uid: cr.metadata.uid };
    const status = `${crPath(kind, ns, name)}/status`;
    // ownership (ARCHITECTURE rule 6): a finalizer to hand the Secret back on delete, and a look
    // at the target before any provider call (it must not be someone else's)
    await client.patch(crPath(kind, ns, name), [
      { op: 'test', path: '/metadata/resourceVersion', value: cr.metadata.resourceVersion },
      { op: 'add', path: '/metadata/finalizers', value: ['token-operator.io/finalizer'] },
    ], 'json');
    const target = `${name}${KIND_INFO[kind].targetSuffix}`;
    if (await client.find(`/api/v1/namespaces/${ns}/secrets/${target}`)) throw new Error(`design floor: ${ns}/${target} exists`);
    for (const s of inputSecrets(kind, name)) await client.get(`/api/v1/namespaces/${ns}/secrets/${s}`);
    if (kind === 'gnap') await client.patch(status, { status: { pendingRefreshSince: new Date().toISOString() } }, 'merge');
    for (let c = 0; c < callsPerToken[kind]; c++) {
      const r = await calls[kind]!();
      await r.text();
      if (!r.ok) throw new Error(`design floor: ${kind} provider call answered ${r.status}`);
    }
    const data = { bearerToken: `x-${ns}-${name}` };
    await client.create(`/api/v1/namespaces/${ns}/secrets`, {
      apiVersion: 'v1', kind: 'Secret', type: 'Opaque',
      metadata: { name: `token-operator-state-${owner.uid}`, labels: { 'token-operator.io/state': 'true' }, ownerReferences: [{ ...owner, controller: true, blockOwnerDeletion: true }] },
      data: { 'state.json': Buffer.from(JSON.stringify({ version: 1, revision: 1, data })).toString('base64') },
    });
    // created with a POST: it fails if someone else created the Secret meanwhile
    await client.create(`/api/v1/namespaces/${ns}/secrets`, {
      apiVersion: 'v1', kind: 'Secret', type: 'Opaque',
      metadata: {
        name: target,
        labels: { [MANAGED_BY_LABEL]: 'token-operator', [RUN_LABEL]: 'dfloor', 'token-operator.io/owner-uid': owner.uid },
        annotations: { 'token-operator.io/revision': '1', 'token-operator.io/created-by': owner.uid },
        ownerReferences: [{ ...owner, controller: true, blockOwnerDeletion: true }],
      },
      data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
    });
    const now = new Date();
    await client.patch(status, { status: {
      observedGeneration: cr.metadata.generation, revision: 1, secretHMAC: `hmac-sha256:${'0'.repeat(32)}`, lastRotationTime: now.toISOString(),
      expirationTime: new Date(now.getTime() + 86_400_000).toISOString(), pendingRefreshSince: null,
      conditions: [{ type: 'Ready', status: 'True', reason: 'Issued', message: `Secret ${name}${KIND_INFO[kind].targetSuffix} revision 1`, lastTransitionTime: now.toISOString(), observedGeneration: cr.metadata.generation }],
    } }, 'merge');
    events.push(client.create(`/api/v1/namespaces/${ns}/events`, {
      apiVersion: 'v1', kind: 'Event', metadata: { name: `${name}.${now.getTime().toString(16)}`, namespace: ns },
      involvedObject: { ...owner, namespace: ns }, type: 'Normal', reason: 'Issued', message: `Secret ${name} revision 1`,
      source: { component: 'token-operator' }, firstTimestamp: now.toISOString(), lastTimestamp: now.toISOString(), count: 1,
    }));
  });
  await Promise.all(events);
  const s = (performance.now() - started) / 1000;
  for (const i of informers) i.stop();
  return s;
}

interface Fairness {
  herd: number;
  herdP50S: number;
  herdLastS: number;
  /** per kind: seconds from the second namespace's rotate-now annotation to its rotation being seen */
  victimS: Partial<Record<Kind, number>>;
  /** herd rotations finished between the second namespace's annotations and the last of its rotations */
  herdAhead: number;
}

const rotateNow = (client: KubeClient, it: Item, value: string) =>
  client.patch(crPath(it.kind, it.ns, it.name), { metadata: { annotations: { 'token-operator.io/rotate': value } } }, 'merge');

/**
 * Two tenants on the running operator: HERD tokens in one namespace ("hostile") and one token of
 * each kind in another. Both converge; then every hostile token is asked to rotate at once, and
 * once those requests are all in, the other namespace's tokens (rotations due now, as far as the
 * operator can tell). With FIFO slots they waited for the whole herd.
 */
async function fairness(client: KubeClient, sims: Sims, tracker: ReadyTracker, n: number): Promise<Fairness> {
  const key = (it: Item) => `${KIND_INFO[it.kind].plural}/${it.ns}/${it.name}`;
  const before = tracker.readyCount;
  const hostile = await createTokens(client, sims, 'hostile', HERD, true, 1);
  const victims = await createTokens(client, sims, 'victim', KINDS.length, true, 1);
  const deadline = Date.now() + 900_000;
  while (tracker.readyCount < before + hostile.length + victims.length) {
    if (Date.now() > deadline) throw new Error(`fairness: only ${tracker.readyCount - before}/${hostile.length + victims.length} Ready after 15 min`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const herdStart = Date.now();
  await pool(hostile, 64, (it) => rotateNow(client, it, 'fairness-herd').then(() => undefined));
  const victimAt = new Map<string, number>();
  const victimsAnnotated = Date.now();
  await Promise.all(victims.map(async (it) => {
    victimAt.set(key(it), Date.now());
    await rotateNow(client, it, 'fairness-due');
  }));
  const seenAfter = (it: Item, since: number) => {
    const t = tracker.rotationSeen.get(key(it));
    return t !== undefined && t >= since ? t : undefined;
  };
  const done = () => victims.every((it) => seenAfter(it, victimAt.get(key(it))!)) && hostile.every((it) => seenAfter(it, herdStart));
  while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  const herdTimes = hostile.map((it) => seenAfter(it, herdStart)).filter((t): t is number => t !== undefined).sort((a, b) => a - b);
  const victimS: Partial<Record<Kind, number>> = {};
  let lastVictim = 0;
  for (const it of victims) {
    const t = seenAfter(it, victimAt.get(key(it))!);
    if (t === undefined) continue;
    victimS[it.kind] = (t - victimAt.get(key(it))!) / 1000;
    lastVictim = Math.max(lastVictim, t);
  }
  const result: Fairness = {
    herd: hostile.length,
    herdP50S: herdTimes.length ? (herdTimes[Math.floor(herdTimes.length / 2)]! - herdStart) / 1000 : 0,
    herdLastS: herdTimes.length ? (herdTimes[herdTimes.length - 1]! - herdStart) / 1000 : 0,
    victimS,
    herdAhead: herdTimes.filter((t) => t >= victimsAnnotated && t <= lastVictim).length,
  };
  console.error(`[n=${n}] fairness: herd of ${result.herd} in one namespace (${herdTimes.length} rotated, p50 ${result.herdP50S.toFixed(1)} s, last ${result.herdLastS.toFixed(1)} s); the other namespace's rotations took ${JSON.stringify(victimS)} s; ${result.herdAhead} herd rotations finished while they waited`);
  return result;
}

async function runSize(n: number): Promise<Row> {
  const dir = mkdtempSync(join(tmpdir(), 'token-operator-bench-'));
  const cp = await startControlPlane({ dir, binary: join(root, '.cache', 'bin', 'apiserver') });
  const sims: Sims = {};
  if (KINDS.includes('dds')) sims.dds = await startDdsSimulator({ latencyMs: LATENCY, settings: { tokenRateLimit: { limit: 1_000_000, windowMs: 60_000 } } });
  // a day's lifetime (Rafiki's default is 600 s): no scheduled rotation falls into the measured phases, as with DDS's 90 days
  if (KINDS.includes('gnap')) sims.gnap = await startGnapSimulator({ latencyMs: LATENCY, accessTokenExpirySeconds: 86_400 });
  if (KINDS.includes('datatoken')) sims.privicore = await startPrivicoreSimulator({ latencyMs: LATENCY });
  let op: ChildProcess | undefined;
  try {
    execFileSync('kubectl', ['apply', '--server-side', '-f', join(root, 'crds')], { env: { ...process.env, KUBECONFIG: cp.kubeconfigPath }, stdio: 'ignore' });
    execFileSync('kubectl', ['wait', '--for=condition=Established', 'crd', '--all', '--timeout=60s'], { env: { ...process.env, KUBECONFIG: cp.kubeconfigPath }, stdio: 'ignore' });
    const client = kubeClient(cp);
    const t0 = performance.now();
    const opItems = await createTokens(client, sims, 'op', n, true);
    console.error(`[n=${n}] created ${n} tokens (${KINDS.join(', ')}) + credentials in ${((performance.now() - t0) / 1000).toFixed(1)}s`);

    const tracker = new ReadyTracker(client, n);
    await tracker.start();
    await settle(cp.pid);
    const port = await freePort();
    const providerBefore = providerCalls(sims);
    const bySimBefore = new Map(providerLogs(sims).map((l) => [l.sim, l.length]));
    const started = performance.now();
    const apiCpu0 = cpuSeconds(cp.pid);
    const self0 = selfCpu();
    op = startOperator(cp, port, CONVERGE_RESYNC);
    let peakHeap = 0;
    let peakHeapTotal = 0;
    // what the RSS is made of, at every scrape: the sample with the highest RSS is printed
    let atPeak = { rss: 0, heapUsed: 0, heapTotal: 0, external: 0, at: 0 };
    let atFirst: typeof atPeak | undefined;
    // heap figures come from the operator's /metrics: sampled every 2 s (each scrape costs it CPU)
    for (let tick = 0; !tracker.allReadyAt; tick++) {
      await new Promise((r) => setTimeout(r, 100));
      if (tick % 20 === 19) {
        const m = await scrape(port).catch(() => undefined);
        if (m) peakHeap = Math.max(peakHeap, (m.get('token_operator_nodejs_heap_size_used_bytes') ?? 0) / 2 ** 20);
        if (m) peakHeapTotal = Math.max(peakHeapTotal, (m.get('token_operator_nodejs_heap_size_total_bytes') ?? 0) / 2 ** 20);
        const rss = procStatus(op.pid!).rss;
        const mib = (k: string) => (m?.get(k) ?? 0) / 2 ** 20;
        const sample = { rss, heapUsed: mib('token_operator_nodejs_heap_size_used_bytes'), heapTotal: mib('token_operator_nodejs_heap_size_total_bytes'), external: mib('token_operator_nodejs_external_memory_bytes'), at: (performance.now() - started) / 1000 };
        if (m) atFirst ??= sample;
        if (m && rss > atPeak.rss) atPeak = sample;
      }
      if (performance.now() - started > 1800_000) throw new Error(`only ${tracker.readyCount}/${n} Ready after 30 min: ${JSON.stringify(tracker.readyByPlural())}`);
    }
    const readyAt = tracker.allReadyAt;
    const operatorS = (readyAt - started) / 1000;
    const opCpu: [number, number, number] = [cpuSeconds(cp.pid) - apiCpu0, cpuSeconds(op.pid!), selfCpu() - self0];
    const converged = await scrape(port);
    const providerCallsN = providerCalls(sims) - providerBefore;
    // provider calls per token of each kind while converging: the design floor makes as many
    const callsPerToken = Object.fromEntries(KINDS.map((k) => {
      const sim = providerLogs(sims).find((l) => l.sim === SIM_OF[k])!;
      return [k, Math.max(1, Math.round((sim.length - bySimBefore.get(sim.sim)!) / opItems.filter((it) => it.kind === k).length))];
    })) as Record<Kind, number>;
    console.error(`[n=${n}] reconciles ${sumMetric(converged, 'token_operator_reconcile_total')}, queue adds ${sumMetric(converged, 'token_operator_workqueue_adds_total')}`);
    console.error(`[n=${n}] Ready by kind ${JSON.stringify(tracker.readyByPlural())}; provider calls by simulator ${providerLogs(sims).map((l) => `${l.sim}:${l.length}`).join(' ')}`);
    console.error(`[n=${n}] where a reconcile's time goes (means): ${latencyMeans(converged)}`);
    console.error(`[n=${n}] operator: all Ready in ${operatorS.toFixed(1)}s; RSS peak ${procStatus(op.pid!).hwm.toFixed(0)} MiB, heap peak used ${peakHeap.toFixed(0)} / committed ${peakHeapTotal.toFixed(0)} MiB`);
    const parts = (s: typeof atPeak) => `${s.rss.toFixed(0)} MiB at ${s.at.toFixed(0)} s: heap used ${s.heapUsed.toFixed(0)} / committed ${s.heapTotal.toFixed(0)} MiB, external ${s.external.toFixed(0)} MiB, the rest (code, stacks, malloc) ${(s.rss - s.heapTotal - s.external).toFixed(0)} MiB`;
    console.error(`[n=${n}] RSS, first sample ${atFirst ? parts(atFirst) : 'none'}; highest sampled ${parts(atPeak)}`);
    if (TEMPLATE) console.error(`[n=${n}] templates: ${await checkTemplated(client, opItems)}`);
    const hwmBeforeSnapshot = procStatus(op.pid!).hwm;
    if (HEAP_SNAPSHOT_DIR) console.error(`[n=${n}] heap snapshot: ${await heapSnapshot(op)}`);

    // steady state: let status writes that raced with the last Ready check settle, then restart
    // the operator with the short resync period and count from its start: its first pass over
    // every token (a restart) and three resyncs must write nothing and call no provider
    if (!QUICK) await new Promise((r) => setTimeout(r, 5000));
    // a heap snapshot raises the process's RSS: the figure is the one read before it
    const convergedHwm = HEAP_SNAPSHOT_DIR ? hwmBeforeSnapshot : procStatus(op.pid!).hwm;
    let steadyWrites = 0;
    let steadyProviderCalls = 0;
    const liveness = { checks: 0, calls: 0, perS: 0, maxInAnyS: 0, windowS: 0 };
    if (!QUICK) {
      const exited = new Promise((r) => op!.once('exit', r));
      op.kill('SIGTERM');
      await exited;
      const simBefore = providerCalls(sims);
      const logsBefore = providerLogs(sims).map((l) => l.length);
      const windowStart = performance.now();
      op = startOperator(cp, port, RESYNC);
      await new Promise((r) => setTimeout(r, RESYNC * 3 * 1000 + 2000));
      const after = await scrape(port);
      liveness.windowS = (performance.now() - windowStart) / 1000;
      steadyWrites = writes(after);
      // Liveness checks (default every hour, at each token's own phase point: a restart spreads
      // them over the hour) fall into this window too; they are what spec.liveness costs, not a
      // no-op resync's, so they are counted apart (token_operator_liveness_provider_calls_total).
      liveness.checks = sumMetric(after, 'token_operator_liveness_checks_total');
      liveness.calls = sumMetric(after, 'token_operator_liveness_provider_calls_total');
      liveness.perS = liveness.calls / liveness.windowS;
      liveness.maxInAnyS = Math.max(0, ...providerLogs(sims).map((l, i) => maxInAnyWindow(l.timesFrom(logsBefore[i]!).sort((x, y) => x - y), 1000)));
      steadyProviderCalls = providerCalls(sims) - simBefore - liveness.calls;
      console.error(
        `[n=${n}] steady state (restart + ${RESYNC * 3}s, reconciles ${sumMetric(after, 'token_operator_reconcile_total')}): ${steadyWrites} writes, ${steadyProviderCalls} provider calls besides ` +
          `${liveness.checks} liveness checks (${liveness.calls} provider calls, ${liveness.perS.toFixed(2)}/s, at most ${liveness.maxInAnyS} in any second at one simulator; ` +
          `${(n / 3600).toFixed(2)} checks/s expected at the default 1h interval)`,
      );
    }

    // herd: ask min(HERD, n) tokens (the first ones, so round-robin over the kinds) to rotate at the same instant
    // the restarted operator's peak RSS after each phase (VmHWM only grows): which phase sets the whole run's peak
    const phaseHwm: string[] = [];
    if (!QUICK) phaseHwm.push(`restart + steady state ${procStatus(op.pid!).hwm.toFixed(0)}`);
    const herd = QUICK ? [] : opItems.slice(0, Math.min(HERD, n));
    const herdStart = Date.now();
    const logStarts = providerLogs(sims).map((l) => l.length);
    await pool(herd, 64, async ({ ns, name, kind }) => {
      await client.patch(crPath(kind, ns, name), { metadata: { annotations: { 'token-operator.io/rotate': 'herd' } } }, 'merge');
    });
    const herdDone = () => [...tracker.rotations.values()].filter((t) => t >= herdStart - 1000).length;
    while (herdDone() < herd.length && Date.now() - herdStart < 900_000) await new Promise((r) => setTimeout(r, 200));
    if (herdDone() < herd.length) console.error(`[n=${n}] herd: only ${herdDone()}/${herd.length} rotated after 15 min`);
    // the per-host limit applies to each simulator (origin) on its own: the highest rate any one of them saw
    const herdRates = providerLogs(sims).map((l, i) => {
      // any second, wherever it starts: what the limiter promises (whole clock seconds would miss a burst across two)
      const times = l.timesFrom(logStarts[i]!).sort((x, y) => x - y);
      return { sim: l.sim, calls: l.length - logStarts[i]!, max: maxInAnyWindow(times, 1000) };
    });
    const herdMaxRate = Math.max(0, ...herdRates.map((r) => r.max));
    if (herd.length) console.error(`[n=${n}] herd of ${herd.length}: provider calls / max req/s by simulator ${herdRates.map((r) => `${r.sim}:${r.calls}/${r.max}`).join(' ')}`);
    const herdTimes = herd.length ? [...tracker.rotations.values()].filter((t) => t >= herdStart - 1000).sort((a, b) => a - b) : [];
    const herdSpreadS = herdTimes.length ? (herdTimes[herdTimes.length - 1]! - herdStart) / 1000 : 0;
    const herdP50S = herdTimes.length ? (herdTimes[Math.floor(herdTimes.length / 2)]! - herdStart) / 1000 : 0;
    if (herd.length) phaseHwm.push(`herd ${procStatus(op.pid!).hwm.toFixed(0)}`);
    const fair = FAIRNESS ? await fairness(client, sims, tracker, n) : undefined;
    if (fair) phaseHwm.push(`fairness ${procStatus(op.pid!).hwm.toFixed(0)}`);
    if (phaseHwm.length) console.error(`[n=${n}] peak RSS of the restarted operator (MiB), after: ${phaseHwm.join(', ')}; converging: ${convergedHwm.toFixed(0)}`);
    const mem = procStatus(op.pid!);
    mem.hwm = Math.max(mem.hwm, convergedHwm);
    const exited = new Promise((r) => op!.once('exit', r));
    op.kill('SIGTERM');
    await exited; // lets --cpu-prof write its profile
    op = undefined;

    if (OPERATOR_ONLY) {
      tracker.stop();
      const skipped = Number.NaN;
      return { n, operatorS, floorS: skipped, designFloorS: skipped, designFloorCpu: [skipped, skipped], peakRssMiB: mem.hwm, peakHeapMiB: peakHeap, apiByVerb: apiByVerb(converged), providerCalls: providerCallsN, steadyWrites, steadyProviderCalls, liveness, herdMaxRate, herdSpreadS, herdP50S, ...(fair ? { fairness: fair } : {}), opCpu, floorCpu: [skipped, skipped] };
    }
    // the readiness watch stays open through the floor run: both sides pay for one observer
    const floorItems = await createTokens(client, sims, 'floor', n, false);
    await settle(cp.pid);
    const floorApi0 = cpuSeconds(cp.pid);
    const floorSelf0 = selfCpu();
    const floorS = await floor(client, sims, floorItems);
    const floorCpu: [number, number] = [cpuSeconds(cp.pid) - floorApi0, selfCpu() - floorSelf0];
    console.error(`[n=${n}] floor: ${floorS.toFixed(1)}s`);
    const dfloorItems = await createTokens(client, sims, 'dfloor', n, true);
    await settle(cp.pid);
    const dfloorApi0 = cpuSeconds(cp.pid);
    const dfloorSelf0 = selfCpu();
    const designFloorS = await designFloor(client, sims, dfloorItems, callsPerToken);
    const designFloorCpu: [number, number] = [cpuSeconds(cp.pid) - dfloorApi0, selfCpu() - dfloorSelf0];
    console.error(`[n=${n}] design floor (provider calls per token ${JSON.stringify(callsPerToken)}): ${designFloorS.toFixed(1)}s`);
    tracker.stop();
    return {
      n,
      operatorS,
      floorS,
      designFloorS,
      designFloorCpu,
      peakRssMiB: mem.hwm,
      peakHeapMiB: peakHeap,
      apiByVerb: apiByVerb(converged),
      providerCalls: providerCallsN,
      steadyWrites,
      steadyProviderCalls,
      liveness,
      herdMaxRate,
      herdSpreadS,
      herdP50S,
      ...(fair ? { fairness: fair } : {}),
      opCpu,
      floorCpu,
    };
  } finally {
    op?.kill('SIGKILL');
    await Promise.all([sims.dds?.close(), sims.gnap?.close(), sims.privicore?.close()]);
    await cp.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

execFileSync('bash', [join(root, 'scripts', 'build-apiserver.sh')], { stdio: 'inherit' });
execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
const rows: Row[] = [];
for (const n of SIZES) rows.push(await runSize(n));

const fmt = (v: number, d = 1) => v.toFixed(d);
console.log(`\ntoken-operator scale benchmark — ${new Date().toISOString()}; ${TEMPLATE ? 'a spec.target.template on every token; ' : ''}workers=${WORKERS}, kinds ${KINDS.join(',')} (round-robin), provider latency ${LATENCY} ms, provider limit ${PROVIDER_QPS}/s, kube QPS ${KUBE_QPS}, resync ${CONVERGE_RESYNC}s while converging and ${RESYNC}s after a restart for steady state and herd, node flags "${NODE_FLAGS.join(" ")}", MALLOC_ARENA_MAX ${MALLOC_ARENA_MAX || 'unset'}`);
console.log('| tokens | operator s | floor s | ratio | design floor s | operator / design floor | peak RSS MiB | peak heap MiB | API requests (verb: count) | provider calls | steady writes | steady provider calls (besides liveness) | liveness checks / calls in the window (calls/s, max in any 1 s) | herd max req/s (limit) | herd p50 s | herd spread s | CPU s operator run (API server / operator / sim) | CPU s floor run (API server / sim+client) | CPU s design floor run (API server / sim+client) |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  const verbs = Object.entries(r.apiByVerb).sort().map(([v, c]) => `${v}:${c}`).join(' ');
  const cpu = r.opCpu.map((c) => fmt(c)).join(' / ');
  const floorCpu = r.floorCpu.map((c) => fmt(c)).join(' / ');
  const designFloorCpu = r.designFloorCpu.map((c) => fmt(c)).join(' / ');
  console.log(`| ${r.n} | ${fmt(r.operatorS)} | ${fmt(r.floorS)} | ${fmt(r.operatorS / r.floorS, 2)} | ${fmt(r.designFloorS)} | ${fmt(r.operatorS / r.designFloorS, 2)} | ${fmt(r.peakRssMiB, 0)} | ${fmt(r.peakHeapMiB, 0)} | ${verbs} | ${r.providerCalls} | ${r.steadyWrites} | ${r.steadyProviderCalls} | ${r.liveness.checks} / ${r.liveness.calls} in ${fmt(r.liveness.windowS, 0)} s (${fmt(r.liveness.perS, 2)}/s, max ${r.liveness.maxInAnyS}) | ${r.herdMaxRate} (${PROVIDER_QPS}) | ${fmt(r.herdP50S)} | ${fmt(r.herdSpreadS)} | ${cpu} | ${floorCpu} | ${designFloorCpu} |`);
}

const fair = rows.filter((r) => r.fairness);
if (fair.length) {
  console.log(`\nFairness (one namespace's herd, then one token of each kind in another namespace; provider latency ${LATENCY} ms, limit ${PROVIDER_QPS}/s per host):`);
  console.log(`| tokens (converged) | herd tokens in one namespace | herd p50 s | herd last s | other namespace rotated after s (${KINDS.join(' / ')}) | herd rotations finished meanwhile |`);
  console.log('|---|---|---|---|---|---|');
  for (const r of fair) {
    const f = r.fairness!;
    console.log(`| ${r.n} | ${f.herd} | ${fmt(f.herdP50S)} | ${fmt(f.herdLastS)} | ${KINDS.map((k) => (f.victimS[k] === undefined ? '-' : fmt(f.victimS[k]!))).join(' / ')} | ${f.herdAhead} |`);
  }
}
