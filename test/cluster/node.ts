import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { KubeClient, type KubeObject } from '../../src/runtime/kube-client.js';
import { freePort, httpsOk, SERVICE_CIDR, startControlPlane, type ControlPlane } from './control-plane.js';
import { CLUSTER_CIDR, startContainerd } from './containerd.js';
import { startControllerManager } from './controller-manager.js';
import {
  deleteLinks,
  hostLeftovers,
  loadSnapshot,
  NODE_BRIDGE,
  POD_BRIDGE,
  processesNaming,
  removeChains,
  removeFixedPaths,
  removeKubeCgroups,
  restoreSysctls,
  saveSnapshot,
  snapshotHost,
  unmountNew,
  FIXED_PATHS,
} from './host.js';
import { importImages, pauseArchive, podmanArchive } from './images.js';
import { alive, startComponent, stopComponent, stopPid, waitUntil } from './process.js';

/**
 * A real one-node cluster on this machine: the test API server, kube-controller-manager and
 * kube-scheduler, containerd + runc + the CNI bridge, a kubelet, and kube-proxy (iptables
 * mode), so that pods run, Services route, ReplicaSets roll, the garbage collector collects
 * and namespaces finish deleting. Every Kubernetes part comes from the module in
 * test/cluster/apiserver (scripts/build-kube.sh); containerd, runc and the CNI plugins are
 * Debian's. See docs/test-node.md for the settings and why each is needed.
 *
 * Only one node can run on a machine (the kubelet and containerd use fixed host paths): a
 * lock in /run names the node that runs, and startNode() refuses a second one.
 */
export const NODE_NAME = 'token-operator-node';
/** The node's IP, on a bridge of its own: the kubelet refuses a loopback node IP. Pods reach the
 * API server (through the `kubernetes` Service) and the test's simulators on it. */
export const NODE_IP = '10.250.0.1';
export const LOCK_FILE = '/run/token-operator-node.lock';

export interface NodeOptions {
  /** repository root: binaries in .cache/bin, image archives in .cache/images */
  root: string;
  /** everything of this node lives here (logs stay after stopNode) */
  dir: string;
  /** the API server's port; default a free one */
  apiPort?: number;
  /** kubelet syncFrequency: how often it re-syncs pods, which bounds how late a Secret volume updates (default 1m) */
  syncFrequency?: string;
  /** locally built images (podman) to import, e.g. the operator's */
  images?: string[];
  /** let every process outlive this one (npm run cluster:up) */
  detached?: boolean;
  log?: (line: string) => void;
}

export interface TestNode {
  dir: string;
  cp: ControlPlane;
  kubeconfigPath: string;
  /** seconds from start to each milestone */
  timings: Record<string, number>;
  stop(): Promise<void>;
}

interface Lock {
  dir: string;
  pid: number;
  startedAt: string;
}

function readLock(): Lock | undefined {
  try {
    return JSON.parse(readFileSync(LOCK_FILE, 'utf8')) as Lock;
  } catch {
    return undefined;
  }
}

/** the node a lock names is running when any of its processes is */
export function runningNode(): Lock | undefined {
  const lock = readLock();
  return lock && processesNaming(lock.dir).length > 0 ? lock : undefined;
}

async function takeLock(dir: string, log: (l: string) => void): Promise<void> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(LOCK_FILE, JSON.stringify({ dir, pid: process.pid, startedAt: new Date().toISOString() } satisfies Lock), { flag: 'wx' });
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const other = readLock();
    if (other && processesNaming(other.dir).length > 0) {
      throw new Error(
        `a test node is already running on this machine (${other.dir}, started ${other.startedAt}): only one can run at a time, ` +
          `because the kubelet and containerd use fixed host paths. Stop it first (npm run cluster:down in that checkout).`,
      );
    }
    // left by a run that died: put its host changes back before starting anew
    log(`cleaning up after an earlier node that did not stop (${other?.dir ?? 'unknown'})`);
    if (other && existsSync(join(other.dir, 'host-before.json'))) await stopNode(other.dir);
    rmSync(LOCK_FILE, { force: true });
  }
  throw new Error(`could not take ${LOCK_FILE}`);
}

const bin = (root: string, name: string) => join(root, '.cache', 'bin', name);
/** this checkout's binaries (stopNode may run in a process that knows only the node's dir) */
const BIN = join(import.meta.dirname, '..', '..', '.cache', 'bin');

/** a containerd of the machine's own (Docker's, a real kubelet's): the fixed paths under /run/containerd are its */
const SYSTEM_CONTAINERD_SOCKET = '/run/containerd/containerd.sock';

export async function startNode(o: NodeOptions): Promise<TestNode> {
  const log = o.log ?? (() => undefined);
  if (existsSync(SYSTEM_CONTAINERD_SOCKET)) {
    throw new Error(`${SYSTEM_CONTAINERD_SOCKET} exists: this machine runs a containerd of its own, and the test node's containerd and kubelet would share its fixed paths (/run/containerd, /var/lib/kubelet); run the node tests on a machine without one`);
  }
  const t0 = Date.now();
  const timings: Record<string, number> = {};
  const mark = (what: string) => {
    timings[what] = Number(((Date.now() - t0) / 1000).toFixed(1));
    log(`${what} after ${timings[what]}s`);
  };
  if (process.getuid?.() !== 0) throw new Error('the test node needs root (kubelet, containerd, network and cgroups)');
  execFileSync('bash', [join(o.root, 'scripts', 'build-kube.sh'), 'apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubelet', 'kube-proxy', 'cri-reset'], { stdio: ['ignore', 'inherit', 'inherit'] });
  mark('binaries');
  await takeLock(o.dir, log);
  try {
    mkdirSync(o.dir, { recursive: true });
    const before = snapshotHost();
    saveSnapshot(join(o.dir, 'host-before.json'), before);

    // the node's IP on a bridge of its own (the kubelet refuses loopback; pods route to it)
    execFileSync('ip', ['link', 'add', NODE_BRIDGE, 'type', 'bridge']);
    execFileSync('ip', ['addr', 'add', `${NODE_IP}/24`, 'dev', NODE_BRIDGE]);
    execFileSync('ip', ['link', 'set', NODE_BRIDGE, 'up']);

    const containerd = await startContainerd(join(o.dir, 'containerd'), { detached: o.detached });
    mark('containerd');
    // in the background while the control plane starts
    const imported = (async () => {
      const archives = [pauseArchive(o.root), ...(await Promise.all((o.images ?? []).map((i) => podmanArchive(o.root, i))))];
      await importImages(containerd.socket, archives);
      mark('images');
    })();
    imported.catch(() => undefined);

    const cp = await startControlPlane({ dir: join(o.dir, 'control-plane'), binary: bin(o.root, 'apiserver'), port: o.apiPort, address: NODE_IP, detached: o.detached });
    mark('apiserver');
    await startControllerManager({ cp, binary: bin(o.root, 'kube-controller-manager'), controllers: ['*'], dir: o.dir, detached: o.detached });
    await startScheduler(o, cp);
    mark('controller-manager, scheduler');
    await startKubelet(o, cp, containerd.endpoint);
    await startKubeProxy(o, cp);
    const client = kubeClient(cp.kubeconfigPath);
    await waitUntil('node Ready', async () => nodeReady(await client.find<KubeObject>(`/api/v1/nodes/${NODE_NAME}`)), 120_000, join(o.dir, 'kubelet.log'));
    mark('node Ready');
    // pods need their namespace's ServiceAccount (ServiceAccount admission) and Services need kube-proxy's rules
    await waitUntil('default ServiceAccount', async () => (await client.find('/api/v1/namespaces/default/serviceaccounts/default')) !== undefined, 60_000);
    await waitUntil('kube-proxy rules for the kubernetes Service', () => kubernetesServiceRouted(), 60_000, join(o.dir, 'kube-proxy.log'));
    await imported;
    mark('ready');
    writeFileSync(join(o.dir, 'timings.json'), JSON.stringify(timings));
    return {
      dir: o.dir,
      cp,
      kubeconfigPath: cp.kubeconfigPath,
      timings,
      stop: () => stopNode(o.dir),
    };
  } catch (e) {
    log(`start-up failed, tearing down: ${String(e)}`);
    await stopNode(o.dir).catch((err: unknown) => log(`teardown after failed start-up: ${String(err)}`));
    throw e;
  }
}

export function kubeClient(kubeconfigPath: string): KubeClient {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  return new KubeClient(kc, { qps: 100, burst: 200 });
}

function nodeReady(n: KubeObject | undefined): boolean {
  const conditions = (n?.status as { conditions?: Array<{ type: string; status: string }> } | undefined)?.conditions ?? [];
  return conditions.some((c) => c.type === 'Ready' && c.status === 'True');
}

function kubernetesServiceRouted(): boolean {
  try {
    const first = SERVICE_CIDR.replace(/0\/\d+$/, '1');
    return execFileSync('iptables', ['-w', '-t', 'nat', '-S', 'KUBE-SERVICES'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).includes(`${first}/32`);
  } catch {
    return false;
  }
}

async function startScheduler(o: NodeOptions, cp: ControlPlane): Promise<void> {
  const port = await freePort();
  const c = startComponent({
    name: 'scheduler',
    binary: bin(o.root, 'kube-scheduler'),
    args: [`--kubeconfig=${cp.kubeconfigPath}`, '--leader-elect=false', '--bind-address=127.0.0.1', `--secure-port=${port}`, `--cert-dir=${join(o.dir, 'scheduler')}`, '--profiling=false', '--v=1'],
    dir: o.dir,
    detached: o.detached,
  });
  await waitUntil('kube-scheduler /healthz', () => {
    if (c.exited()) throw new Error(`kube-scheduler exited during start-up; see ${c.logPath}`);
    return httpsOk(`https://127.0.0.1:${port}/healthz`, { rejectUnauthorized: false });
  }, 60_000, c.logPath);
}

async function startKubelet(o: NodeOptions, cp: ControlPlane, runtimeEndpoint: string): Promise<void> {
  const dir = join(o.dir, 'kubelet');
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const config = {
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    address: NODE_IP,
    port,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    healthzPort: await freePort(),
    // a test node: anyone who reaches it may use it (the API server for logs/exec)
    authentication: { anonymous: { enabled: true }, webhook: { enabled: false } },
    authorization: { mode: 'AlwaysAllow' },
    containerRuntimeEndpoint: runtimeEndpoint,
    cgroupDriver: 'cgroupfs',
    // this machine has cgroup v1, which the next minor release refuses by default
    failCgroupV1: false,
    // imported images cannot be pulled again: never collect them
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    // a shared, busy disk must not evict the test's pods
    evictionHard: { 'memory.available': '100Mi', 'nodefs.available': '1%', 'imagefs.available': '1%', 'nodefs.inodesFree': '1%' },
    // the pods' Secret volumes update at most this long after the Secret changes (plus the
    // kubelet's cache TTL); the default 1m made updates take 58-73 s here
    syncFrequency: o.syncFrequency ?? '1m',
    podLogsDir: join(dir, 'pod-logs'),
    volumePluginDir: join(dir, 'volume-plugins'),
    resolvConf: '/etc/resolv.conf',
    shutdownGracePeriod: '0s',
    serializeImagePulls: false,
    failSwapOn: false,
    maxPods: 110,
  };
  writeFileSync(join(dir, 'config.yaml'), stringify(config));
  const c = startComponent({
    name: 'kubelet',
    binary: bin(o.root, 'kubelet'),
    args: [
      `--config=${join(dir, 'config.yaml')}`,
      `--kubeconfig=${cp.kubeconfigPath}`,
      `--root-dir=${join(dir, 'root')}`,
      `--cert-dir=${join(dir, 'pki')}`,
      `--node-ip=${NODE_IP}`,
      `--hostname-override=${NODE_NAME}`,
      '--v=1',
    ],
    dir: o.dir,
    detached: o.detached,
  });
  await waitUntil('kubelet /healthz', () => {
    if (c.exited()) throw new Error(`kubelet exited during start-up; see ${c.logPath}`);
    return fetch(`http://127.0.0.1:${config.healthzPort}/healthz`).then((r) => r.ok, () => false);
  }, 60_000, c.logPath);
}

function kubeProxyConfig(o: NodeOptions, cp: ControlPlane, healthzPort: number, metricsPort: number): string {
  return stringify({
    apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
    kind: 'KubeProxyConfiguration',
    mode: 'iptables',
    clientConnection: { kubeconfig: cp.kubeconfigPath },
    hostnameOverride: NODE_NAME,
    clusterCIDR: CLUSTER_CIDR,
    healthzBindAddress: `127.0.0.1:${healthzPort}`,
    metricsBindAddress: `127.0.0.1:${metricsPort}`,
    // leave the machine's sysctls alone: no conntrack limits, no route_localnet
    conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' },
    iptables: { localhostNodePorts: false, syncPeriod: '30s', minSyncPeriod: '0s' },
    nodePortAddresses: [`${NODE_IP}/32`],
  });
}

async function startKubeProxy(o: NodeOptions, cp: ControlPlane): Promise<void> {
  const healthzPort = await freePort();
  writeFileSync(join(o.dir, 'kube-proxy.yaml'), kubeProxyConfig(o, cp, healthzPort, await freePort()));
  const c = startComponent({ name: 'kube-proxy', binary: bin(o.root, 'kube-proxy'), args: [`--config=${join(o.dir, 'kube-proxy.yaml')}`, '--v=1'], dir: o.dir, detached: o.detached });
  await waitUntil('kube-proxy /healthz', () => {
    if (c.exited()) throw new Error(`kube-proxy exited during start-up; see ${c.logPath}`);
    return fetch(`http://127.0.0.1:${healthzPort}/healthz`).then((r) => r.status < 500, () => false);
  }, 60_000, c.logPath);
}

/**
 * Stops the node whose state is in `dir` and puts the machine back as it was: pods removed
 * through the CRI (so the CNI plugin frees their network), every process stopped by pid,
 * mounts, links, iptables chains, cgroups and fixed paths removed, sysctls restored. Safe to
 * run twice and from another process than the one that started the node.
 */
export async function stopNode(dir: string, log: (line: string) => void = () => undefined): Promise<void> {
  const snapshotFile = join(dir, 'host-before.json');
  if (!existsSync(snapshotFile)) return;
  const before = loadSnapshot(snapshotFile);
  const t0 = Date.now();
  const mark = (what: string) => log(`${what} after ${((Date.now() - t0) / 1000).toFixed(1)}s`);
  // Every step runs even when one before it failed (a process that would not die must not leave
  // the mounts, chains and sysctls behind); the failures are reported together at the end.
  const failures: string[] = [];
  const step = async (what: string, fn: () => unknown) => {
    try {
      await fn();
    } catch (e) {
      failures.push(`${what}: ${e instanceof Error ? e.message : String(e)}`);
    }
  };
  // the kubelet first: it would restart what we remove
  await step('stop the kubelet', () => stopComponent(dir, 'kubelet'));
  mark('kubelet stopped');
  const socket = join(dir, 'containerd', 'containerd.sock');
  const containerdPid = join(dir, 'containerd', 'containerd.pid');
  if (existsSync(containerdPid) && alive(Number(readFileSync(containerdPid, 'utf8')))) {
    try {
      execFileSync(join(BIN, 'cri-reset'), [`unix://${socket}`], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
    } catch {
      /* whatever it could not remove is removed below, more bluntly */
    }
  }
  mark('pods removed');
  await step('stop kube-proxy', () => stopComponent(dir, 'kube-proxy'));
  const proxyConfig = join(dir, 'kube-proxy.yaml');
  if (existsSync(proxyConfig)) {
    // kube-proxy --cleanup removes its own iptables rules and exits
    try {
      execFileSync(join(BIN, 'kube-proxy'), ['--cleanup', `--config=${proxyConfig}`], { stdio: 'ignore', timeout: 60_000 });
    } catch {
      /* removeChains below */
    }
  }
  mark('kube-proxy stopped, its rules removed');
  for (const name of ['scheduler', 'controller-manager']) await step(`stop ${name}`, () => stopComponent(dir, name));
  await step('stop the API server', () => stopComponent(join(dir, 'control-plane'), 'apiserver', 5000));
  mark('control plane stopped');
  await step('stop containerd', () => stopComponent(join(dir, 'containerd'), 'containerd'));
  mark('containerd stopped');
  // containerd's shims outlive it; after cri-reset there should be none
  for (const p of processesNaming(dir)) await step(`stop process ${p.pid}`, () => stopPid(p.pid, 2000));
  await step('unmount', () => unmountNew(before, [dir, ...FIXED_PATHS]));
  // network namespaces CNI left (a pod cri-reset could not stop): their veths go with them
  await step('delete links', () => deleteLinks([POD_BRIDGE, NODE_BRIDGE]));
  await step('remove iptables chains', () => removeChains(before));
  await step('remove cgroups', () => removeKubeCgroups());
  await step('remove fixed paths', () => removeFixedPaths(before));
  await step('restore sysctls', () => restoreSysctls(before));
  mark('host state restored');
  // the data (etcd, images, kubelet and containerd state); the logs stay for reading
  for (const d of ['containerd', 'kubelet', 'control-plane/etcd']) rmSync(join(dir, d), { recursive: true, force: true });
  const lock = readLock();
  if (lock?.dir === dir) rmSync(LOCK_FILE, { force: true });
  rmSync(snapshotFile, { force: true });
  writeFileSync(join(dir, 'host-before.stopped.json'), JSON.stringify(before));
  if (failures.length) throw new Error(`stopping the node in ${dir} failed in part:\n  ${failures.join('\n  ')}`);
}

/**
 * What the node left on the machine after stopNode(dir), compared with the state before it
 * started: an empty list means the machine is clean.
 */
export function nodeLeftovers(dir: string): string[] {
  const file = existsSync(join(dir, 'host-before.json')) ? join(dir, 'host-before.json') : join(dir, 'host-before.stopped.json');
  const problems = hostLeftovers(loadSnapshot(file), dir);
  const lock = readLock();
  if (lock?.dir === dir) problems.push(`${LOCK_FILE} still names this node`);
  return problems;
}
