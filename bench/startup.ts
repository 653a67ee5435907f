/**
 * `npm run bench:startup [-- --entries=dist/main.js,dist/bundle/main.mjs --images=localhost/token-operator:dev --tokens=20 --runs=3]`
 *
 * What a build of the operator costs to start and to hold, so the image's entry point can be
 * compared with the plain compiled tree (dist/main.js + node_modules). For each entry file (run
 * with this Node) and each image (run with podman, as scripts/image.sh runs it), --runs times:
 *  - start: from spawn to the first 200 on /readyz (the informers have listed and watch);
 *  - RSS idle: VmRSS of the operator process 10 s after that, watching one empty namespace;
 *  - RSS with tokens: VmRSS 5 s after --tokens DeltaShareTokens (DDS simulator) are all Ready.
 * Every run watches a namespace of its own, on one fresh control plane. Prints a Markdown table
 * of medians. Not part of `npm test`.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { freePort, startControlPlane } from '../test/cluster/control-plane.js';
import { startDdsSimulator, type DdsSimulator } from '../test/simulators/dds/server.js';
import { KubeClient } from '../src/runtime/kube-client.js';

const arg = (name: string, def: string) => process.argv.find((x) => x.startsWith(`--${name}=`))?.slice(name.length + 3) ?? def;
const list = (v: string) => v.split(',').map((s) => s.trim()).filter(Boolean);
const ENTRIES = list(arg('entries', 'dist/main.js,dist/bundle/main.mjs'));
const IMAGES = list(arg('images', ''));
const TOKENS = Number(arg('tokens', '20'));
const RUNS = Number(arg('runs', '3'));
const root = join(import.meta.dirname, '..');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A started operator: the host PID whose memory is read, and how to stop it. */
interface Started {
  pid: number;
  stop(): Promise<void>;
}

interface Target {
  label: string;
  start(kubeconfig: string, port: number, namespace: string): Promise<Started>;
}

const operatorFlags = (port: number, namespace: string) => [
  '--leader-elect=false', `--health-port=${port}`, '--health-host=127.0.0.1', '--allow-insecure-http',
  '--log-level=warn', `--watch-namespaces=${namespace}`, `--lease-namespace=${namespace}`,
];

/** the chart's defaults for Node's young generation and glibc's arenas (values.yaml), as the image sets them */
const chartEnv = { NODE_OPTIONS: '--max-semi-space-size=2 --max-old-space-size-percentage=50', MALLOC_ARENA_MAX: '2' };

function entryTarget(entry: string): Target {
  return {
    label: entry,
    start: async (kubeconfig, port, namespace) => {
      const child: ChildProcess = spawn(process.execPath, [join(root, entry), ...operatorFlags(port, namespace)], {
        env: { ...process.env, ...chartEnv, KUBECONFIG: kubeconfig },
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      const exited = new Promise((r) => child.once('exit', r));
      return {
        pid: child.pid!,
        stop: async () => {
          child.kill('SIGTERM');
          await exited;
        },
      };
    },
  };
}

function imageTarget(image: string): Target {
  return {
    label: image,
    start: async (kubeconfig, port, namespace) => {
      // the image runs as 65532: hand it a readable copy of the kubeconfig
      const dir = mkdtempSync(join(tmpdir(), 'token-operator-startup-'));
      copyFileSync(kubeconfig, join(dir, 'config'));
      chmodSync(join(dir, 'config'), 0o644);
      const name = `token-operator-startup-${process.pid}-${port}`;
      execFileSync('podman', ['run', '-d', '--name', name, '--network', 'host', '--read-only', '--cap-drop', 'ALL',
        '--security-opt', 'no-new-privileges', '-v', `${dir}/config:/kube/config:ro`, '-e', 'KUBECONFIG=/kube/config',
        image, ...operatorFlags(port, namespace)], { env: imageEnv(), stdio: 'ignore' });
      const pid = Number(execFileSync('podman', ['inspect', '--format', '{{.State.Pid}}', name], { env: imageEnv(), encoding: 'utf8' }).trim());
      return {
        pid,
        stop: async () => {
          execFileSync('podman', ['rm', '-f', '-t', '10', name], { env: imageEnv(), stdio: 'ignore' });
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  };
}

/** podman with the containers.conf scripts/image.sh writes (ulimits, runc, host network) */
const imageEnv = () => ({ ...process.env, CONTAINERS_CONF: join(root, '.cache', 'image', 'containers.conf') });

function rssMiB(pid: number): number {
  const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb) / 1024;
}

async function readyAfter(port: number, startedAt: number): Promise<number> {
  for (;;) {
    const ok = await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.ok, () => false);
    if (ok) return performance.now() - startedAt;
    if (performance.now() - startedAt > 120_000) throw new Error('/readyz not 200 within 120 s');
    await sleep(20);
  }
}

async function createTokens(client: KubeClient, dds: DdsSimulator, namespace: string): Promise<void> {
  await client.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } });
  for (let i = 0; i < TOKENS; i++) {
    const name = `t${i}`;
    dds.state.addClient(`${namespace}-${name}`, 's');
    await client.create(`/api/v1/namespaces/${namespace}/secrets`, {
      apiVersion: 'v1', kind: 'Secret', metadata: { name: `creds-${name}` }, stringData: { client_id: `${namespace}-${name}`, client_secret: 's' },
    });
    await client.create(`/apis/token-operator.io/v1alpha1/namespaces/${namespace}/deltasharetokens`, {
      apiVersion: 'token-operator.io/v1alpha1', kind: 'DeltaShareToken', metadata: { name },
      spec: { dds: { apiUrl: dds.url, credentialsSecretRef: { name: `creds-${name}` }, allowInsecureHttp: true }, overlap: '1h', target: { secretName: `${name}-share` } },
    });
  }
}

async function allReady(client: KubeClient, namespace: string): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const list = await client.list(`/apis/token-operator.io/v1alpha1/namespaces/${namespace}/deltasharetokens`);
    const ready = list.items.filter((o) => (o.status as { conditions?: Array<{ type: string; status: string }> } | undefined)?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
    if (ready.length === TOKENS) return;
    if (Date.now() > deadline) throw new Error(`${ready.length}/${TOKENS} Ready after 120 s in ${namespace}`);
    await sleep(250);
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const dir = mkdtempSync(join(tmpdir(), 'token-operator-startup-cp-'));
const cp = await startControlPlane({ dir, binary: join(root, '.cache', 'bin', 'apiserver') });
const dds = await startDdsSimulator({ settings: { tokenRateLimit: { limit: 1_000_000, windowMs: 60_000 } } });
try {
  const kube = { env: { ...process.env, KUBECONFIG: cp.kubeconfigPath }, stdio: 'ignore' as const };
  execFileSync('kubectl', ['apply', '--server-side', '-f', join(root, 'crds')], kube);
  execFileSync('kubectl', ['wait', '--for=condition=Established', 'crd', '--all', '--timeout=60s'], kube);
  const kc = new KubeConfig();
  kc.loadFromFile(cp.kubeconfigPath);
  const client = new KubeClient(kc, { qps: 1000, burst: 1000 });
  const rows: string[] = [];
  const targets = [...ENTRIES.map(entryTarget), ...IMAGES.map(imageTarget)];
  for (const target of targets) {
    const start: number[] = [];
    const idle: number[] = [];
    const loaded: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      const namespace = `startup-${targets.indexOf(target)}-${run}`;
      await client.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: `${namespace}-idle` } });
      const port = await freePort();
      // the idle phase watches an empty namespace of its own; the token phase then a second operator on the tokens
      let t0 = performance.now();
      let op = await target.start(cp.kubeconfigPath, port, `${namespace}-idle`);
      try {
        start.push(await readyAfter(port, t0));
        await sleep(10_000);
        idle.push(rssMiB(op.pid));
      } finally {
        await op.stop();
      }
      await createTokens(client, dds, namespace);
      t0 = performance.now();
      op = await target.start(cp.kubeconfigPath, port, namespace);
      try {
        await readyAfter(port, t0);
        await allReady(client, namespace);
        await sleep(5_000);
        loaded.push(rssMiB(op.pid));
      } finally {
        await op.stop();
      }
      console.error(`[${target.label}] run ${run + 1}: /readyz after ${start.at(-1)!.toFixed(0)} ms, RSS idle ${idle.at(-1)!.toFixed(1)} MiB, with ${TOKENS} tokens ${loaded.at(-1)!.toFixed(1)} MiB`);
    }
    rows.push(`| ${target.label} | ${median(start).toFixed(0)} | ${median(idle).toFixed(1)} | ${median(loaded).toFixed(1)} |`);
  }
  console.log(`\nmedian of ${RUNS} runs\n\n| operator | start to /readyz (ms) | RSS idle (MiB) | RSS with ${TOKENS} tokens (MiB) |\n| --- | --- | --- | --- |\n${rows.join('\n')}`);
} finally {
  await dds.close();
  await cp.stop();
  rmSync(dir, { recursive: true, force: true });
}
