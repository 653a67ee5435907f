// `npm run dev` (after scripts/setup.sh): the README's "run it" command. Brings up the local
// control plane, the provider simulators and the operator, applies one sample of each kind
// from deploy/samples/, and shows them Ready. `npm run dev:down` stops everything.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { KINDS } from '../src/api/index.js';
import { checkAll, formatChecks, type TokenObject } from './dev-check.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const ALL_KINDS = KINDS.map((k) => k.plural).join(',');
const dir = join(root, '.cache', 'quickstart');
const kubeconfig = join(root, '.cache', 'kubeconfig');
const env = { ...process.env, KUBECONFIG: kubeconfig };
const kubectl = (...args: string[]) => execFileSync('kubectl', args, { env, encoding: 'utf8' });

function startBackground(name: string, cmd: string, args: string[]): void {
  const log = openSync(join(dir, `${name}.log`), 'a');
  const child = spawn(cmd, args, { cwd: root, env, detached: true, stdio: ['ignore', log, log] });
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
const SIM_PORTS = { 18081: process.env.DDS_SIM_PORT, 18083: process.env.GNAP_SIM_PORT, 18084: process.env.PRIVICORE_SIM_PORT };
/** a sample file's text, pointed at the simulators' ports */
const sampleText = (file: string) =>
  Object.entries(SIM_PORTS).reduce((text, [def, port]) => (port ? text.replaceAll(`127.0.0.1:${def}`, `127.0.0.1:${port}`) : text), readFileSync(file, 'utf8'));

/**
 * The simulators keep their state in memory. Restarting them while the cluster keeps its
 * resources (a second `npm run dev`) would leave every sample holding a credential the new
 * simulators never issued: running ones are kept, with their grant.
 */
async function simulatorsRunning(grantFile: string): Promise<boolean> {
  const pidFile = join(dir, 'simulators.pid');
  if (!existsSync(pidFile) || !existsSync(grantFile)) return false;
  try {
    process.kill(-Number(readFileSync(pidFile, 'utf8')), 0);
  } catch {
    return false;
  }
  return answers(`http://127.0.0.1:${SIM_PORTS[18084] ?? 18084}/health`);
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

async function up(): Promise<void> {
  mkdirSync(dir, { recursive: true });
  execFileSync('npx', ['tsx', 'scripts/cluster.ts', 'up'], { cwd: root, stdio: 'inherit' });
  kubectl('apply', '--server-side', '-f', join(root, 'crds'));
  kubectl('wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all');

  const grantFile = join(dir, 'gnap-grant.json');
  if (await simulatorsRunning(grantFile)) {
    console.log('simulators already running: kept, with the credentials they issued');
  } else {
    stopBackground('simulators');
    rmSync(grantFile, { force: true });
    startBackground('simulators', 'npx', ['tsx', 'test/simulators/main.ts', '--write-gnap-grant', grantFile]);
    await waitUntil('simulators', async () => existsSync(grantFile) && (await answers(`http://127.0.0.1:${SIM_PORTS[18084] ?? 18084}/health`)));
  }

  // Samples: every file in deploy/samples; the GNAP Secrets get the simulator's fresh grant.
  const samples = join(root, 'deploy', 'samples');
  const files = existsSync(samples) ? readdirSync(samples).filter((f) => f.endsWith('.yaml')).sort() : [];
  const namespaces = new Set<string>();
  for (const f of files) {
    for (const doc of parseAllDocuments(readFileSync(join(samples, f), 'utf8'))) {
      const ns = (doc.toJS() as { metadata?: { namespace?: string } } | null)?.metadata?.namespace;
      if (ns) namespaces.add(ns);
    }
  }
  for (const ns of namespaces) applyText(kubectl('create', 'namespace', ns, '--dry-run=client', '-o', 'yaml'));
  for (const f of files) applyText(sampleText(join(samples, f)));
  seedGnapSecrets(files.map((f) => join(samples, f)), JSON.parse(readFileSync(grantFile, 'utf8')) as GnapGrant);

  stopBackground('operator');
  startBackground('operator', 'npx', [
    'tsx', 'src/main.ts',
    '--allow-insecure-http', '--allow-loopback-egress', '--leader-elect=false', `--health-port=${HEALTH_PORT}`, '--health-host=127.0.0.1',
    '--lease-namespace=default', '--resync-seconds=60',
  ]);
  await waitUntil('operator /readyz', () => answers(`http://127.0.0.1:${HEALTH_PORT}/readyz`));
  await waitUntil('all samples Ready', () => {
    const list = JSON.parse(kubectl('get', ALL_KINDS, '-A', '-o', 'json')) as {
      items: Array<{ status?: { conditions?: Array<{ type: string; status: string }> } }>;
    };
    return list.items.length > 0 && list.items.every((i) => i.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
  }, 90_000).catch((e: unknown) => console.error(String(e)));
  console.log(kubectl('get', ALL_KINDS, '-A'));
  if (!(await checkCredentials())) process.exitCode = 1;
  console.log(`operator logs: ${join(dir, 'operator.log')}   metrics: http://127.0.0.1:${HEALTH_PORT}/metrics
export KUBECONFIG=${kubeconfig}
stop everything: npm run dev:down`);
}

interface GnapGrant {
  walletAddressUrl: string;
  keyId: string;
  privateKeyPem: string;
  accessToken: string;
  manageUrl: string;
}

function applyText(yamlText: string): void {
  execFileSync('kubectl', ['apply', '-f', '-'], { env, input: yamlText, encoding: 'utf8' });
}

/** Writes the simulator's grant into the Secrets a GNAP AccessToken sample references. */
function seedGnapSecrets(files: string[], grant: GnapGrant): void {
  for (const f of files) {
    for (const doc of parseAllDocuments(sampleText(f))) {
      const obj = doc.toJS() as { kind?: string; metadata?: { namespace?: string; name?: string }; spec?: { gnap?: Record<string, { name: string; key: string }> } } | null;
      const g = obj?.kind === 'AccessToken' ? obj.spec?.gnap : undefined;
      if (!g) continue;
      const ns = obj!.metadata!.namespace ?? 'default';
      const values: Array<[{ name: string; key: string } | undefined, string]> = [
        [g.privateKeySecretRef, grant.privateKeyPem],
        [g.accessTokenSecretRef, grant.accessToken],
        [g.manageUrlSecretRef, grant.manageUrl],
      ];
      const bySecret = new Map<string, Record<string, string>>();
      for (const [ref, value] of values) if (ref) bySecret.set(ref.name, { ...bySecret.get(ref.name), [ref.key]: Buffer.from(value).toString('base64') });
      for (const [name, data] of bySecret) {
        applyText(JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: ns }, data }));
      }
      // the sample's wallet address and key id must match the simulator's
      applyText(JSON.stringify({
        apiVersion: 'token-operator.io/v1alpha1', kind: 'AccessToken',
        metadata: { name: obj!.metadata!.name, namespace: ns },
        spec: { ...(obj as { spec: Record<string, unknown> }).spec, gnap: { ...g, walletAddressUrl: grant.walletAddressUrl, keyId: grant.keyId } },
      }));
    }
  }
}

async function down(): Promise<void> {
  stopBackground('operator');
  stopBackground('simulators');
  // The simulators' state is gone with them: a cluster that kept its data would come back with
  // every sample holding a credential no simulator knows. Both start from scratch next time.
  execFileSync('npx', ['tsx', 'scripts/cluster.ts', 'down', '--purge'], { cwd: root, stdio: 'inherit' });
  rmSync(join(dir, 'gnap-grant.json'), { force: true });
  console.log(`the cluster's data (${join(root, '.cache', 'cluster')}) is discarded with the simulators' state: the next npm run dev starts from scratch`);
}

if (process.argv[2] === 'down') await down();
else await up();
