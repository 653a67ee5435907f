// `npm run cluster:up` / `cluster:down`: the local control plane for the quick start and
// for running tests against an already running cluster. State lives in .cache/cluster.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startControlPlane } from '../test/cluster/control-plane.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = join(root, '.cache', 'cluster');
const pidFile = join(dir, 'pid');
const port = Number(process.env.CLUSTER_PORT ?? 16443);

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
  if (running()) {
    console.log(`control plane already running; KUBECONFIG=${join(root, '.cache', 'kubeconfig')}`);
    return;
  }
  execFileSync('bash', [join(root, 'scripts', 'build-apiserver.sh')], { stdio: 'inherit' });
  const started = Date.now();
  const cp = await startControlPlane({ dir, binary: join(root, '.cache', 'bin', 'apiserver'), port, detached: true });
  writeFileSync(pidFile, String(cp.pid));
  copyFileSync(cp.kubeconfigPath, join(root, '.cache', 'kubeconfig'));
  console.log(`kube-apiserver ready at ${cp.url} in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  console.log(`export KUBECONFIG=${join(root, '.cache', 'kubeconfig')}`);
}

async function down(): Promise<void> {
  const pid = running();
  if (pid) {
    process.kill(pid, 'SIGTERM');
    for (let i = 0; i < 100 && running(); i++) await new Promise((r) => setTimeout(r, 100));
    if (running()) process.kill(pid, 'SIGKILL');
  }
  rmSync(pidFile, { force: true });
  if (process.argv.includes('--purge')) rmSync(dir, { recursive: true, force: true });
  console.log('control plane stopped');
}

const cmd = process.argv[2];
if (cmd === 'up') await up();
else if (cmd === 'down') await down();
else {
  console.error('usage: cluster.ts up|down [--purge]');
  process.exit(2);
}
