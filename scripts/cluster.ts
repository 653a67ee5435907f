// `npm run cluster:up` / `cluster:down`: the local cluster for the quick start and for running
// tests against an already running cluster.
//   cluster:up                      the API server alone (state in .cache/cluster)
//   cluster:up -- --node            a real one-node cluster: API server, controller-manager,
//                                   scheduler, containerd, kubelet, kube-proxy (root; state in
//                                   .cache/node); --image=NAME imports a local podman image,
//                                   --sync-frequency=5s makes Secret volumes update sooner
//   cluster:down                    stops either and leaves nothing behind (checked)
// Either way the kubeconfig is .cache/kubeconfig.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startControlPlane } from '../test/cluster/control-plane.js';
import { alive as processAlive } from '../test/cluster/process.js';
import { nodeLeftovers, runningNode, startNode, stopNode } from '../test/cluster/node.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = join(root, '.cache', 'cluster');
const nodeDir = join(root, '.cache', 'node');
const kubeconfig = join(root, '.cache', 'kubeconfig');
const pidFile = join(dir, 'pid');
const port = Number(process.env.CLUSTER_PORT ?? 16443);
const flag = (name: string) => process.argv.filter((a) => a.startsWith(`--${name}=`)).map((a) => a.slice(name.length + 3));

function running(): number | undefined {
  if (!existsSync(pidFile)) return undefined;
  const pid = Number(readFileSync(pidFile, 'utf8'));
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}

async function up(): Promise<void> {
  if (process.argv.includes('--node')) return upNode();
  if (running()) {
    console.log(`control plane already running; KUBECONFIG=${kubeconfig}`);
    return;
  }
  if (runningNode()) throw new Error('a test node is running (npm run cluster:down first)');
  execFileSync('bash', [join(root, 'scripts', 'build-apiserver.sh')], { stdio: 'inherit' });
  const started = Date.now();
  const cp = await startControlPlane({ dir, binary: join(root, '.cache', 'bin', 'apiserver'), port, detached: true });
  writeFileSync(pidFile, String(cp.pid));
  copyFileSync(cp.kubeconfigPath, kubeconfig);
  console.log(`kube-apiserver ready at ${cp.url} in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  console.log(`export KUBECONFIG=${kubeconfig}`);
}

async function upNode(): Promise<void> {
  if (running()) throw new Error('a control plane without a node is running (npm run cluster:down first)');
  const node = runningNode();
  if (node?.dir === nodeDir) {
    console.log(`node already running; KUBECONFIG=${kubeconfig}`);
    return;
  }
  const n = await startNode({
    root,
    dir: nodeDir,
    apiPort: port,
    images: flag('image'),
    syncFrequency: flag('sync-frequency')[0],
    detached: true,
    log: (l) => console.log(`[node] ${l}`),
  });
  copyFileSync(n.kubeconfigPath, kubeconfig);
  console.log(`one-node cluster ready at ${n.cp.url} in ${n.timings.ready}s (logs in ${nodeDir})`);
  console.log(`export KUBECONFIG=${kubeconfig}`);
}

async function down(): Promise<void> {
  const pid = running();
  if (pid) {
    process.kill(pid, 'SIGTERM');
    for (let i = 0; i < 100 && running(); i++) await new Promise((r) => setTimeout(r, 100));
    if (running()) process.kill(pid, 'SIGKILL');
    console.log('control plane stopped');
  }
  rmSync(pidFile, { force: true });
  if (existsSync(join(nodeDir, 'host-before.json'))) {
    const started = Date.now();
    await stopNode(nodeDir);
    const left = nodeLeftovers(nodeDir);
    if (left.length > 0) throw new Error(`the node left this behind:\n  ${left.join('\n  ')}`);
    console.log(`node stopped in ${((Date.now() - started) / 1000).toFixed(1)}s; the machine is as it was before (processes, mounts, links, iptables, cgroups, sysctls)`);
  }
  // A node another run started (the e2e suite's, in a temporary directory) that outlived that
  // run (interrupted, killed): its owner is gone, so nothing else will stop it.
  const other = runningNode();
  if (other && other.dir !== nodeDir) {
    if (processAlive(other.pid)) {
      console.log(`a test node of another run is running (${other.dir}, process ${other.pid}): left to that run`);
    } else {
      await stopNode(other.dir);
      console.log(`stopped a test node left by a run that ended without stopping it (${other.dir})`);
    }
  }
  if (process.argv.includes('--purge')) {
    rmSync(dir, { recursive: true, force: true });
    rmSync(nodeDir, { recursive: true, force: true });
  }
}

const cmd = process.argv[2];
if (cmd === 'up') await up();
else if (cmd === 'down') await down();
else {
  console.error('usage: cluster.ts up [--node [--image=NAME]... [--sync-frequency=5s]] | down [--purge]');
  process.exit(2);
}
