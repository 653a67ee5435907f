// `npm run dev` (after scripts/setup.sh): the README's "run it" command. Brings up the local
// cluster, the provider simulators and the operator, applies one sample of each kind from
// deploy/samples/, and shows them Ready. `npm run dev:down` stops everything.
//
//   npm run dev                     API server alone, the operator as a local process
//   npm run dev -- --in-cluster     a real one-node cluster (root), the operator as pods from the
//                                   Helm chart, its image built offline by scripts/image.sh
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { helmBinary } from './chart.js';
import { DEFAULT_ENDPOINTS, sampleObjects, type GnapGrant } from './samples.js';
import { NODE_IP } from '../test/cluster/node.js';
import { KINDS } from '../src/api/index.js';
import { checkAll, formatChecks, type TokenObject } from './dev-check.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const ALL_KINDS = KINDS.map((k) => k.plural).join(',');
const dir = join(root, '.cache', 'quickstart');
const kubeconfig = join(root, '.cache', 'kubeconfig');
const env = { ...process.env, KUBECONFIG: kubeconfig, HELM_CACHE_HOME: join(root, '.cache', 'helm'), HELM_CONFIG_HOME: join(root, '.cache', 'helm') };
const kubectl = (...args: string[]) => execFileSync('kubectl', args, { env, encoding: 'utf8' });
const IMAGE = { repository: 'localhost/token-operator', tag: 'dev' };
const RELEASE = { name: 'token-operator', namespace: 'token-operator' };

function startBackground(name: string, cmd: string, args: string[], extraEnv: Record<string, string> = {}): void {
  const log = openSync(join(dir, `${name}.log`), 'a');
  const child = spawn(cmd, args, { cwd: root, env: { ...env, ...extraEnv }, detached: true, stdio: ['ignore', log, log] });
  child.unref();
  writeFileSync(join(dir, `${name}.pid`), String(child.pid));
}

function stopBackground(name: string): void {
  const pidFile = join(dir, `${name}.pid`);
  if (!existsSync(pidFile)) return;
  try {
    process.kill(-Number(readFileSync(pidFile, 'utf8')), 'SIGTERM');
  } catch {
    /* already gone */
  }
  rmSync(pidFile, { force: true });
}

async function waitUntil(what: string, ok: () => boolean | Promise<boolean>, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (logs in ${dir})`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

const answers = (url: string) => fetch(url).then((r) => r.ok, () => false);

// Ports, for running a second copy beside another (the default is what the samples name).
const HEALTH_PORT = Number(process.env.DEV_HEALTH_PORT ?? 18080);
const SIM_PORTS: Record<keyof typeof DEFAULT_ENDPOINTS, string | undefined> = {
  dds: process.env.DDS_SIM_PORT,
  gnap: process.env.GNAP_SIM_PORT,
  privicore: process.env.PRIVICORE_SIM_PORT,
};

/**
 * The simulators keep their state in memory. Restarting them while the cluster keeps its
 * resources (a second `npm run dev`) would leave every sample holding a credential the new
 * simulators never issued: running ones are kept, with their grant.
 */
async function simulatorsRunning(grantFile: string, privicoreUrl: string): Promise<boolean> {
  const pidFile = join(dir, 'simulators.pid');
  if (!existsSync(pidFile) || !existsSync(grantFile)) return false;
  try {
    process.kill(-Number(readFileSync(pidFile, 'utf8')), 0);
  } catch {
    return false;
  }
  return answers(`${privicoreUrl}/health`);
}

/**
 * Ready is not enough: every sample's credential is presented to its simulator (dev-check.ts).
 * A mismatch (simulators restarted empty under a cluster that kept its data) is what the
 * samples' one-minute liveness check finds and repairs: wait for it, up to a few minutes.
 */
async function checkCredentials(): Promise<boolean> {
  const readSecret = (ns: string, name: string) => {
    try {
      const s = JSON.parse(kubectl('get', 'secret', '-n', ns, name, '-o', 'json')) as { data?: Record<string, string> };
      return Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
    } catch {
      return undefined;
    }
  };
  const tokens = () => (JSON.parse(kubectl('get', ALL_KINDS, '-A', '-o', 'json')) as { items: TokenObject[] }).items;
  let checks = await checkAll(tokens(), readSecret);
  const ok = () => checks.every((c) => c.ready && c.accepted !== false);
  const deadline = Date.now() + 180_000;
  while (!ok() && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 2000));
    checks = await checkAll(tokens(), readSecret);
  }
  console.log(`every sample's credential presented to its simulator:\n${formatChecks(checks)}`);
  return ok();
}

async function up(inCluster: boolean): Promise<void> {
  mkdirSync(dir, { recursive: true });
  if (inCluster) {
    execFileSync('bash', ['scripts/image.sh', 'build'], { cwd: root, stdio: 'inherit', env: { ...process.env, IMAGE: `${IMAGE.repository}:${IMAGE.tag}` } });
    execFileSync('npx', ['tsx', 'scripts/cluster.ts', 'up', '--node', `--image=${IMAGE.repository}:${IMAGE.tag}`, '--sync-frequency=5s'], { cwd: root, stdio: 'inherit' });
  } else {
    execFileSync('npx', ['tsx', 'scripts/cluster.ts', 'up'], { cwd: root, stdio: 'inherit' });
    kubectl('apply', '--server-side', '-f', join(root, 'crds'));
    kubectl('wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all');
  }

  // the simulators listen where the operator can reach them: the node's IP for pods
  const host = inCluster ? NODE_IP : '127.0.0.1';
  const endpoints = Object.fromEntries(
    Object.entries(DEFAULT_ENDPOINTS).map(([k, u]) => {
      const port = SIM_PORTS[k as keyof typeof DEFAULT_ENDPOINTS];
      return [k, (port ? u.replace(/:\d+$/, `:${port}`) : u).replace('127.0.0.1', host)];
    }),
  ) as typeof DEFAULT_ENDPOINTS;
  const grantFile = join(dir, 'gnap-grant.json');
  if (await simulatorsRunning(grantFile, endpoints.privicore)) {
    console.log('simulators already running: kept, with the credentials they issued');
  } else {
    stopBackground('simulators');
    rmSync(grantFile, { force: true });
    startBackground('simulators', 'npx', ['tsx', 'test/simulators/main.ts', '--write-gnap-grant', grantFile], { SIM_HOST: host });
    await waitUntil('simulators', async () => existsSync(grantFile) && (await answers(`${endpoints.privicore}/health`)));
  }

  stopBackground('operator');
  if (inCluster) {
    const started = Date.now();
    execFileSync(helmBinary(root), [
      'upgrade', '--install', RELEASE.name, join(root, 'charts', 'token-operator'),
      '--namespace', RELEASE.namespace, '--create-namespace',
      '--set', `image.repository=${IMAGE.repository}`, '--set', `image.tag=${IMAGE.tag}`,
      // two replicas: one leads, one stands by (the chart's default is one)
      '--set', 'replicaCount=2',
      // the simulators speak plain http
      '--set', 'allowInsecureHttp=true',
      '--wait', '--timeout', '5m',
    ], { env, stdio: 'inherit' });
    console.log(`operator pods Ready ${((Date.now() - started) / 1000).toFixed(1)}s after helm install`);
  } else {
    startBackground('operator', 'npx', [
      'tsx', 'src/main.ts',
      '--allow-insecure-http', '--allow-loopback-egress', '--leader-elect=false', `--health-port=${HEALTH_PORT}`, '--health-host=127.0.0.1',
      '--lease-namespace=default', '--resync-seconds=60',
    ]);
    await waitUntil('operator /readyz', () => answers(`http://127.0.0.1:${HEALTH_PORT}/readyz`));
  }

  const samples = sampleObjects(root, endpoints, JSON.parse(readFileSync(grantFile, 'utf8')) as GnapGrant);
  if (inCluster) samples.push(...demoWorkload(samples));
  execFileSync('kubectl', ['apply', '-f', '-'], { env, input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: samples }), encoding: 'utf8' });
  await waitUntil('all samples Ready', () => {
    const list = JSON.parse(kubectl('get', ALL_KINDS, '-A', '-o', 'json')) as {
      items: Array<{ status?: { conditions?: Array<{ type: string; status: string }> } }>;
    };
    return list.items.length > 0 && list.items.every((i) => i.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
  }, 90_000).catch((e: unknown) => console.error(String(e)));
  console.log(kubectl('get', ALL_KINDS, '-A'));
  if (!(await checkCredentials())) process.exitCode = 1;
  if (inCluster) {
    const svc = JSON.parse(kubectl('get', 'service', '-n', RELEASE.namespace, '-l', 'app.kubernetes.io/name=token-operator', '-o', 'json')) as { items: Array<{ spec: { clusterIP: string } }> };
    console.log(kubectl('get', 'pods', '-n', RELEASE.namespace, '-o', 'wide'));
    console.log(`operator logs: kubectl logs -n ${RELEASE.namespace} deploy/token-operator   metrics: curl http://${svc.items[0]?.spec.clusterIP}:8080/metrics
rotate the DeltaShareToken and watch its reader roll: kubectl annotate dst -n token-demo zalando-dds token-operator.io/rotate="$(date -Iseconds)" --overwrite; kubectl get pods -n token-demo -w`);
  } else {
    console.log(`operator logs: ${join(dir, 'operator.log')}   metrics: http://127.0.0.1:${HEALTH_PORT}/metrics`);
  }
  console.log(`export KUBECONFIG=${kubeconfig}
stop everything: npm run dev:down`);
}

/**
 * In-cluster only: a workload that mounts the DeltaShareToken sample's Secret, listed in its
 * rolloutRestart, so a rotation visibly rolls it. It prints when its copy of the credential
 * expires (never the credential).
 */
function demoWorkload(samples: ReturnType<typeof sampleObjects>): ReturnType<typeof sampleObjects> {
  const dst = samples.find((o) => o.kind === 'DeltaShareToken');
  if (!dst?.spec) return [];
  const target = dst.spec.target as { secretName: string; rolloutRestart?: unknown[] };
  target.rolloutRestart = [{ kind: 'Deployment', name: 'share-reader' }];
  const labels = { app: 'share-reader' };
  const script = "setInterval(()=>console.log(new Date().toISOString(),'credential expires',require('fs').readFileSync('/share/expirationTime','utf8')),10000)";
  return [{
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'share-reader', namespace: dst.metadata.namespace },
    spec: {
      replicas: 1,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          // node as PID 1 ignores SIGTERM: do not wait the default 30 s for it
          terminationGracePeriodSeconds: 2,
          containers: [{
            name: 'reader', image: `${IMAGE.repository}:${IMAGE.tag}`, command: ['node', '-e', script],
            volumeMounts: [{ name: 'share', mountPath: '/share', readOnly: true }],
            securityContext: { runAsNonRoot: true, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
          }],
          volumes: [{ name: 'share', secret: { secretName: target.secretName } }],
        },
      },
    },
  }];
}

async function down(): Promise<void> {
  stopBackground('operator');
  stopBackground('simulators');
  // Stops the API server or the whole node, whichever runs (the operator's pods go with the
  // node). The simulators' state is gone with them: a cluster that kept its data would come
  // back with every sample holding a credential no simulator knows. Both start from scratch.
  execFileSync('npx', ['tsx', 'scripts/cluster.ts', 'down', '--purge'], { cwd: root, stdio: 'inherit' });
  rmSync(join(dir, 'gnap-grant.json'), { force: true });
  console.log(`the cluster's data (${join(root, '.cache', 'cluster')}) is discarded with the simulators' state: the next npm run dev starts from scratch`);
}

if (process.argv[2] === 'down') await down();
else await up(process.argv.includes('--in-cluster'));
