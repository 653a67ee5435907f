/**
 * `npm run bench:hostile [-- --hostile=300 --victims=20 --seconds=180 --body-kib=64 --token-kib=16 --node-flags="..."]`
 *
 * One hostile tenant against one honest one, on a fresh real kube-apiserver, with the compiled
 * operator (`dist/main.js`) run as the chart runs it (its memory settings, workers, provider
 * rate, resync):
 *  - namespace `hostile`: --hostile resources, half DeltaShareTokens and half OIDC AccessTokens,
 *    each at its own URL (its own issuer; --ports origins) on a server of the bench's that answers
 *    every call with a body of --body-kib, carrying credentials of --token-kib (the largest the
 *    operator accepts: 16 KiB, a header's worth), short-lived so they rotate all the time, and
 *    discovery documents padded to the body size;
 *  - namespace `victim`: --victims GNAP AccessTokens at the GNAP simulator, living 30 s, so each
 *    rotates about every 20 s.
 * Prints the operator's RSS (sampled each second, and VmHWM), its heap, the hostile resources'
 * states, and every victim rotation's lateness (rotation time minus the planned nextRotationTime),
 * with any victim token seen expired. --operator-root runs another build of the operator (a
 * checkout of an older commit, built with `npx tsc -p tsconfig.build.json`) under the same load.
 * Not part of `npm test`.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateJwk } from '@interledger/http-signature-utils';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeClient, type KubeObject } from '../src/runtime/kube-client.js';
import { freePort, startControlPlane } from '../test/cluster/control-plane.js';
import { startGnapSimulator } from '../test/simulators/gnap/server.js';
import { chartLimitMiB, chartValues, podNodeFlags } from './pod-flags.js';
import { cpuSeconds } from './proc.js';

const arg = (name: string, def: string) => {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  return a === undefined ? def : a.slice(name.length + 3);
};
const HOSTILE = Number(arg('hostile', '300'));
const VICTIMS = Number(arg('victims', '20'));
const SECONDS = Number(arg('seconds', '180'));
const BODY = Number(arg('body-kib', '64')) * 1024;
const TOKEN = Number(arg('token-kib', '16')) * 1024;
const PORTS = Number(arg('ports', '16'));
const VICTIM_LIFETIME_S = 30;
const root = join(import.meta.dirname, '..');
const operatorRoot = arg('operator-root', root);
/** extra operator flags, e.g. --operator-args="--kube-qps=1000 --kube-burst=2000" (default: the chart's settings) */
const OPERATOR_ARGS = arg('operator-args', '').split(' ').filter(Boolean);
const values = chartValues;
/** Node flags for the operator (default: the chart's nodeOptions, as Node applies them in the pod) */
const NODE_FLAGS = podNodeFlags(arg('node-flags', values.nodeOptions ?? ''));
const LIMIT_MIB = chartLimitMiB ?? 256;

// ---- the hostile tenant's endpoints -------------------------------------------------------

let served = 0;
let servedBytes = 0;

/** `prefix` then characters up to `n` in all: a credential of exactly that length, unique by `seq` */
const credential = (prefix: string, seq: number, n: number) => `${prefix}${seq}-`.padEnd(n, 'x');

/** JSON padded with an extra field up to the body size (a field the operator does not use) */
function padded(body: Record<string, unknown>): string {
  const base = JSON.stringify(body);
  const room = BODY - base.length - 16;
  return room <= 0 ? base : JSON.stringify({ ...body, padding: 'p'.repeat(room) });
}

function hostileAnswer(req: IncomingMessage, origin: string): string | undefined {
  const url = new URL(req.url ?? '/', origin);
  const p = url.pathname;
  const seq = served;
  const soon = new Date(Date.now() + 150_000).toISOString();
  if (p.endsWith('/auth/token')) return padded({ access_token: credential('zt', seq, TOKEN), token_type: 'bearer', expires_in: 3600 });
  if (p.endsWith('/dds-tokens')) {
    const link = `${origin}/delta_sharing/retrieve_config.html?${credential('act', seq, 64)}`;
    return padded({ items: [{ id: `t${seq}`, status: 'ACTIVE', activation_link: link, expiration_time: soon }] });
  }
  if (p.startsWith('/api/2.1/unity-catalog/public/data_sharing_activation/')) {
    // the endpoint as long as the operator accepts (4 KiB), the bearer token as long as a credential may be
    return padded({ shareCredentialsVersion: 1, endpoint: `${origin}/delta/${'e'.repeat(3900)}`, bearerToken: credential('bt', seq, TOKEN), expirationTime: soon });
  }
  if (p.endsWith('/shares')) return padded({ items: [{ name: 'share' }] });
  const realm = /^(\/realms\/[^/]+)\//.exec(p)?.[1];
  if (realm && p.endsWith('/.well-known/openid-configuration')) {
    const issuer = `${origin}${realm}`;
    return padded({
      issuer,
      token_endpoint: `${issuer}/protocol/openid-connect/token`,
      revocation_endpoint: `${issuer}/protocol/openid-connect/revoke`,
      jwks_uri: `${issuer}/certs`,
      scopes_supported: Array.from({ length: 200 }, (_, i) => `scope-${i}`),
    });
  }
  if (realm && p.endsWith('/protocol/openid-connect/token')) {
    return padded({ access_token: credential('at', seq, TOKEN), refresh_token: credential('rt', seq, TOKEN), token_type: 'Bearer', expires_in: 45 });
  }
  return undefined;
}

/**
 * The hostile endpoints run in a process of their own (this file with --hostile-server): writing
 * hundreds of MiB of answers would otherwise slow the bench's own event loop, and with it the
 * victims' provider simulator, and the victims' lateness would measure the bench, not the operator.
 */
async function spawnHostile(): Promise<{ origins: string[]; stats(): Promise<{ served: number; bytes: number }>; close(): Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', import.meta.filename, '--hostile-server', `--body-kib=${BODY / 1024}`, `--token-kib=${TOKEN / 1024}`, `--ports=${PORTS}`], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const origins = await new Promise<string[]>((resolve, reject) => {
    child.once('message', (m) => resolve((m as { origins: string[] }).origins));
    child.once('exit', (code) => reject(new Error(`hostile server exited (${code})`)));
  });
  return {
    origins,
    stats: () =>
      new Promise((resolve) => {
        child.once('message', (m) => resolve(m as { served: number; bytes: number }));
        child.send('stats');
      }),
    close: async () => {
      child.kill('SIGKILL');
    },
  };
}

async function startHostile(): Promise<{ origins: string[]; close(): Promise<void> }> {
  const servers: Server[] = [];
  const origins: string[] = [];
  for (let i = 0; i < PORTS; i++) {
    let origin = '';
    // it takes back the 16 KiB credentials it hands out (Node's own limit for all headers is 16 KiB)
    const server = createServer({ maxHeaderSize: 2 * 1024 * 1024 }, (req: IncomingMessage, res: ServerResponse) => {
      req.resume();
      req.on('end', () => {
        const body = hostileAnswer(req, origin);
        served++;
        if (body === undefined) {
          if (process.env.HOSTILE_DEBUG) console.error(`hostile 404: ${req.method} ${req.url}`);
          return void res.writeHead(404).end();
        }
        servedBytes += body.length;
        res.writeHead(200, { 'content-type': 'application/json' }).end(body);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    servers.push(server);
    origins.push(origin);
  }
  return {
    origins,
    close: async () => {
      for (const s of servers) {
        s.closeAllConnections();
        await new Promise<void>((r) => s.close(() => r()));
      }
    },
  };
}

// ---- set-up --------------------------------------------------------------------------------

async function secret(client: KubeClient, ns: string, name: string, data: Record<string, string>): Promise<void> {
  await client.create(`/api/v1/namespaces/${ns}/secrets`, { apiVersion: 'v1', kind: 'Secret', metadata: { name }, stringData: data });
}

const crPath = (plural: string, ns: string, name?: string) => `/apis/token-operator.io/v1alpha1/namespaces/${ns}/${plural}${name ? `/${name}` : ''}`;

async function createHostile(client: KubeClient, origins: string[]): Promise<void> {
  await client.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'hostile' } });
  await secret(client, 'hostile', 'creds', { client_id: 'c', client_secret: 's', refresh_token: 'seed' });
  for (let i = 0; i < HOSTILE; i++) {
    const origin = origins[i % origins.length]!;
    const obj: KubeObject =
      i % 2 === 0
        ? {
            apiVersion: 'token-operator.io/v1alpha1',
            kind: 'DeltaShareToken',
            metadata: { name: `h${i}` },
            spec: { dds: { apiUrl: `${origin}/tenant-${i}`, credentialsSecretRef: { name: 'creds' }, allowInsecureHttp: true }, overlap: '2m', target: { secretName: `h${i}-share` } },
          }
        : {
            apiVersion: 'token-operator.io/v1alpha1',
            kind: 'AccessToken',
            metadata: { name: `h${i}` },
            spec: {
              oidc: { issuerUrl: `${origin}/realms/hostile-${i}`, clientId: 'c', refreshTokenSecretRef: { name: 'creds', key: 'refresh_token' }, allowInsecureHttp: true },
              target: { secretName: `h${i}-token` },
            },
          };
    await client.create(crPath(i % 2 === 0 ? 'deltasharetokens' : 'accesstokens', 'hostile'), obj);
  }
}

async function createVictims(client: KubeClient, gnap: Awaited<ReturnType<typeof startGnapSimulator>>): Promise<void> {
  await client.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'victim' } });
  for (let i = 0; i < VICTIMS; i++) {
    const pem = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const wallet = gnap.walletAddressUrl(`victim-${i}`);
    gnap.registerClientKey(wallet, generateJwk({ privateKey: createPrivateKey(pem), keyId: 'k1' }));
    const t = gnap.issueToken(undefined, { walletAddressUrl: wallet });
    await secret(client, 'victim', `v${i}-key`, { 'private.pem': pem });
    await secret(client, 'victim', `v${i}-grant`, { access_token: t.value, manage_url: t.manageUrl });
    await client.create(crPath('accesstokens', 'victim'), {
      apiVersion: 'token-operator.io/v1alpha1',
      kind: 'AccessToken',
      metadata: { name: `v${i}` },
      spec: {
        gnap: {
          walletAddressUrl: wallet,
          keyId: 'k1',
          privateKeySecretRef: { name: `v${i}-key`, key: 'private.pem' },
          accessTokenSecretRef: { name: `v${i}-grant`, key: 'access_token' },
          manageUrlSecretRef: { name: `v${i}-grant`, key: 'manage_url' },
          allowInsecureHttp: true,
        },
        target: { secretName: `v${i}-token` },
      },
    });
  }
}

// ---- measuring -----------------------------------------------------------------------------

function procStatus(pid: number): { rss: number; hwm: number } {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const mib = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(text)?.[1] ?? 0) / 1024;
  return { rss: mib('VmRSS'), hwm: mib('VmHWM') };
}

interface VictimSeen {
  revision: number;
  nextRotation?: number;
}

type Status = { revision?: number; nextRotationTime?: string; lastRotationTime?: string; expirationTime?: string; conditions?: Array<{ type: string; status: string; reason: string }> };

async function list(client: KubeClient, plural: string, ns: string): Promise<Array<KubeObject & { status?: Status }>> {
  return (await client.get<KubeObject & { items: Array<KubeObject & { status?: Status }> }>(crPath(plural, ns))).items;
}

const pct = (xs: number[], p: number) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]! : NaN);

async function main(): Promise<void> {
  execFileSync('bash', [join(root, 'scripts', 'build-apiserver.sh')], { stdio: 'inherit' });
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: operatorRoot, stdio: 'inherit' });
  const dir = mkdtempSync(join(tmpdir(), 'token-operator-hostile-'));
  const cp = await startControlPlane({ dir, binary: join(root, '.cache', 'bin', 'apiserver') });
  const hostile = await spawnHostile();
  const gnap = await startGnapSimulator({ accessTokenExpirySeconds: VICTIM_LIFETIME_S });
  let op: ChildProcess | undefined;
  try {
    const kubeEnv = { ...process.env, KUBECONFIG: cp.kubeconfigPath };
    execFileSync('kubectl', ['apply', '--server-side', '-f', join(root, 'crds')], { env: kubeEnv, stdio: 'ignore' });
    execFileSync('kubectl', ['wait', '--for=condition=Established', 'crd', '--all', '--timeout=60s'], { env: kubeEnv, stdio: 'ignore' });
    const kc = new KubeConfig();
    kc.loadFromFile(cp.kubeconfigPath);
    const client = new KubeClient(kc, { qps: 1000, burst: 1000 });
    await createVictims(client, gnap);
    await createHostile(client, hostile.origins);
    console.error(`created ${HOSTILE} hostile resources over ${PORTS} origins (bodies ${BODY / 1024} KiB, credentials ${TOKEN / 1024} KiB) and ${VICTIMS} victims`);

    const port = await freePort();
    const nodeFlags = NODE_FLAGS;
    op = spawn(process.execPath, [...nodeFlags, join(operatorRoot, 'dist', 'main.js'), '--leader-elect=false', `--health-port=${port}`, '--health-host=127.0.0.1',
      '--allow-insecure-http', '--allow-loopback-egress', '--log-level=warn', '--lease-namespace=default', ...OPERATOR_ARGS], {
      env: { ...kubeEnv, ...(values.mallocArenaMax ? { MALLOC_ARENA_MAX: String(values.mallocArenaMax) } : {}) },
      stdio: ['ignore', 'ignore', 'ignore'],
    });
    const exited = new Promise<number | null>((r) => op!.once('exit', (code) => r(code)));
    let died: number | null | undefined;
    void exited.then((c) => (died = c));

    const started = Date.now();
    const rssSamples: number[] = [];
    let peakHeap = 0;
    const seen = new Map<string, VictimSeen>();
    const lateness: number[] = [];
    let expiredSightings = 0;
    for (let tick = 0; Date.now() - started < SECONDS * 1000 && died === undefined; tick++) {
      await new Promise((r) => setTimeout(r, 1000));
      try {
        rssSamples.push(procStatus(op.pid!).rss);
      } catch {
        break;
      }
      if (tick % 5 === 4) {
        const text = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text()).catch(() => '');
        const heap = Number(/^token_operator_nodejs_heap_size_used_bytes (\S+)/m.exec(text)?.[1] ?? 0) / 2 ** 20;
        peakHeap = Math.max(peakHeap, heap);
      }
      const now = Date.now();
      for (const v of await list(client, 'accesstokens', 'victim')) {
        const s = v.status ?? {};
        const key = v.metadata!.name!;
        const prev = seen.get(key);
        const revision = s.revision ?? 0;
        if (prev && revision > prev.revision && prev.nextRotation !== undefined && s.lastRotationTime) {
          lateness.push(Date.parse(s.lastRotationTime) - prev.nextRotation);
        }
        if (s.expirationTime && Date.parse(s.expirationTime) < now) expiredSightings++;
        seen.set(key, { revision, ...(s.nextRotationTime ? { nextRotation: Date.parse(s.nextRotationTime) } : {}) });
      }
      if (tick % 30 === 29) console.error(`t=${tick + 1}s RSS ${rssSamples.at(-1)!.toFixed(0)} MiB, victim rotations ${lateness.length}`);
    }
    const hwm = died === undefined ? procStatus(op.pid!).hwm : NaN;
    const hostileStates = new Map<string, number>();
    const examples = new Map<string, string>();
    for (const plural of ['deltasharetokens', 'accesstokens']) {
      for (const h of await list(client, plural, 'hostile')) {
        const ready = h.status?.conditions?.find((c) => c.type === 'Ready');
        const k = `${plural === 'deltasharetokens' ? 'DST' : 'AT'} ${ready ? `${ready.status}/${ready.reason}` : 'no status'}`;
        hostileStates.set(k, (hostileStates.get(k) ?? 0) + 1);
        if (ready && !examples.has(k)) examples.set(k, (ready as { message?: string }).message ?? '');
      }
    }
    const cpu = died === undefined ? cpuSeconds(op.pid!) : NaN;
    const { served, bytes: servedBytes } = await hostile.stats();
    const lines = [
      `operator ${operatorRoot === root ? '(this checkout)' : operatorRoot}: ${died === undefined ? 'alive' : `EXITED (code ${died})`} after ${((Date.now() - started) / 1000).toFixed(0)} s`,
      `RSS MiB: peak ${hwm.toFixed(0)} (VmHWM), max sampled ${Math.max(...rssSamples).toFixed(0)}, median ${pct(rssSamples, 50).toFixed(0)}, last ${rssSamples.at(-1)?.toFixed(0)} (chart limit ${LIMIT_MIB}); heap used peak ${peakHeap.toFixed(0)} MiB; CPU ${cpu.toFixed(0)} s`,
      `hostile: ${HOSTILE} resources, ${served} answers (${(servedBytes / 2 ** 20).toFixed(0)} MiB served); states ${JSON.stringify(Object.fromEntries(hostileStates))}`,
      ...[...examples].map(([k, m]) => `  ${k}: ${m.slice(0, 200)}`),
      `victims: ${VICTIMS} tokens living ${VICTIM_LIFETIME_S} s, ${lateness.length} rotations; lateness vs planned nextRotationTime: p50 ${(pct(lateness, 50) / 1000).toFixed(1)} s, p95 ${(pct(lateness, 95) / 1000).toFixed(1)} s, max ${(Math.max(...lateness) / 1000).toFixed(1)} s; expired tokens seen: ${expiredSightings}`,
    ];
    console.log(lines.join('\n'));
  } finally {
    op?.kill('SIGKILL');
    await hostile.close();
    await gnap.close();
    await cp.stop();
  }
}

if (process.argv.includes('--hostile-server')) {
  const { origins } = await startHostile();
  process.send!({ origins });
  process.on('message', () => process.send!({ served, bytes: servedBytes }));
} else {
  await main();
  process.exit(0);
}
