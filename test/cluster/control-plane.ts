import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync, openSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import { join } from 'node:path';
import { stringify } from 'yaml';

/**
 * Starts the real kube-apiserver (with embedded etcd) built from test/cluster/apiserver,
 * on 127.0.0.1 only, with RBAC on and a static admin token. Used by `npm run cluster:up`,
 * the vitest global setup, the quick start and the benchmarks.
 */
export interface ControlPlane {
  dir: string;
  port: number;
  url: string;
  kubeconfigPath: string;
  adminToken: string;
  /** the API server's self-signed serving certificate (also the CA a client trusts) */
  caPath: string;
  /** the key that signs ServiceAccount tokens (the controller-manager's token controller needs it) */
  serviceAccountKeyPath: string;
  pid: number;
  /** stop the process (etcd data stays in dir, so start() resumes the same cluster) */
  stop(): Promise<void>;
}

export interface ControlPlaneOptions {
  dir: string;
  binary: string;
  port?: number;
  etcdPort?: number;
  /**
   * The address to bind and advertise (default 127.0.0.1). A node's pods reach the API server
   * through the `kubernetes` Service, whose endpoint is this address: it must not be loopback
   * then (see test/cluster/node.ts), and the serving certificate must name it.
   */
  address?: string;
  /** detach so the process outlives this one (cluster:up) */
  detached?: boolean;
  readyTimeoutMs?: number;
  log?: (line: string) => void;
}

/** Service IPs; the `kubernetes` Service takes the first one */
export const SERVICE_CIDR = '10.96.0.0/16';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      s.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0));
    });
  });
}

/** A port N whose neighbour N+1 is free too: etcd's peer listener takes etcd-port + 1 (apiserver/main.go). */
async function freePortPair(): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const port = await freePort();
    const next = await new Promise<boolean>((resolve) => {
      const s = net.createServer();
      s.once('error', () => resolve(false));
      s.listen(port + 1, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (next && port < 65535) return port;
  }
  throw new Error('no two adjacent free ports on 127.0.0.1');
}

function ensureCredentials(dir: string): { adminToken: string } {
  mkdirSync(join(dir, 'pki'), { recursive: true });
  const saKey = join(dir, 'pki', 'sa.key');
  if (!existsSync(saKey)) {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(saKey, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    writeFileSync(join(dir, 'pki', 'sa.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
  }
  const tokens = join(dir, 'pki', 'tokens.csv');
  if (!existsSync(tokens)) {
    const adminToken = randomBytes(24).toString('hex');
    writeFileSync(tokens, `${adminToken},admin,admin-uid,"system:masters"\n`, { mode: 0o600 });
  }
  return { adminToken: readFileSync(tokens, 'utf8').split(',')[0]! };
}

export async function startControlPlane(o: ControlPlaneOptions): Promise<ControlPlane> {
  // A port picked free can be taken (by any outgoing connection) before etcd binds it: when
  // start-up fails on that, pick again (a fixed API port, as cluster:up uses, stays fixed).
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(o);
    } catch (e) {
      const raced = e instanceof PortTakenError && o.etcdPort === undefined;
      if (!raced || attempt >= 3) throw e;
    }
  }
}

class PortTakenError extends Error {}

async function startOnce(o: ControlPlaneOptions): Promise<ControlPlane> {
  const { adminToken } = ensureCredentials(o.dir);
  const port = o.port ?? (await freePort());
  const etcdPort = o.etcdPort ?? (await freePortPair());
  const pki = join(o.dir, 'pki');
  const address = o.address ?? '127.0.0.1';
  const loopback = address.startsWith('127.');
  // the self-signed serving certificate names the advertised address: a certificate made for
  // another address (an earlier run without a node) must be made again
  const serving = join(o.dir, 'serving');
  const addressFile = join(serving, 'address');
  if (existsSync(serving) && (existsSync(addressFile) ? readFileSync(addressFile, 'utf8') : '127.0.0.1') !== address) rmSync(serving, { recursive: true, force: true });
  mkdirSync(serving, { recursive: true });
  writeFileSync(addressFile, address);
  const args = [
    `--data-dir=${join(o.dir, 'etcd')}`,
    `--etcd-port=${etcdPort}`,
    '--',
    `--bind-address=${address}`,
    `--advertise-address=${address}`,
    `--secure-port=${port}`,
    `--cert-dir=${serving}`,
    `--token-auth-file=${join(pki, 'tokens.csv')}`,
    '--authorization-mode=RBAC',
    `--service-account-key-file=${join(pki, 'sa.pub')}`,
    `--service-account-signing-key-file=${join(pki, 'sa.key')}`,
    '--service-account-issuer=https://kubernetes.default.svc',
    '--api-audiences=https://kubernetes.default.svc',
    // Service IPs; traffic to them is routed only where a node runs kube-proxy
    `--service-cluster-ip-range=${SERVICE_CIDR}`,
    // the default admission plugins, ServiceAccount included: pods get their account's token
    // (a namespace's `default` ServiceAccount comes from the controller-manager)
    '--enable-priority-and-fairness=false',
    // the `kubernetes` Service's endpoint is the advertised address; loopback is not a valid one
    `--endpoint-reconciler-type=${loopback ? 'none' : 'lease'}`,
    // `kubectl logs/exec` reach the kubelet at the node's IP (its name resolves nowhere)
    '--kubelet-preferred-address-types=InternalIP',
    '--profiling=false',
    '--v=0',
  ];
  mkdirSync(o.dir, { recursive: true });
  const logPath = join(o.dir, 'apiserver.log');
  const logStart = existsSync(logPath) ? statSync(logPath).size : 0;
  const logFd = openSync(logPath, 'a');
  const child: ChildProcess = spawn(o.binary, args, {
    detached: o.detached ?? false,
    stdio: ['ignore', logFd, logFd],
  });
  if (o.detached) child.unref();
  // Tests may restart the control plane from a worker; whoever runs last finds the pid here.
  writeFileSync(join(o.dir, 'apiserver.pid'), String(child.pid));
  const url = `https://${address}:${port}`;
  let exited = false;
  child.once('exit', () => (exited = true));
  const deadline = Date.now() + (o.readyTimeoutMs ?? 90_000);
  const caPath = join(serving, 'apiserver.crt');
  for (;;) {
    if (exited) {
      const why = readFileSync(logPath).subarray(logStart).toString('utf8');
      const E = /address already in use/.test(why) ? PortTakenError : Error;
      throw new E(`kube-apiserver exited during start-up; see ${logPath}`);
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`kube-apiserver not ready in time; see ${join(o.dir, 'apiserver.log')}`);
    }
    if (existsSync(caPath) && (await httpsOk(`${url}/readyz`, { ca: readFileSync(caPath), headers: { authorization: `Bearer ${adminToken}` } }))) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  const kubeconfigPath = join(o.dir, 'kubeconfig');
  writeFileSync(kubeconfigPath, kubeconfig(url, readFileSync(caPath), adminToken), { mode: 0o600 });
  return {
    dir: o.dir,
    port,
    url,
    kubeconfigPath,
    adminToken,
    caPath,
    serviceAccountKeyPath: join(pki, 'sa.key'),
    pid: child.pid!,
    stop: () =>
      new Promise<void>((resolve) => {
        if (exited) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
      }),
  };
}

/** 200 from an HTTPS endpoint (a component's /healthz or /readyz); false on any error or after 2 s */
export function httpsOk(url: string, options: https.RequestOptions = {}): Promise<boolean> {
  return new Promise((resolve) => {
    const req = https.get(url, { ...options, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
  });
}

/** Stops whatever control plane process the pid file in `dir` names (restart-safe teardown). */
export async function stopByPidFile(dir: string): Promise<void> {
  const pidFile = join(dir, 'apiserver.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8'));
  const alive = () => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  if (!alive()) return;
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 100 && alive(); i++) await new Promise((r) => setTimeout(r, 100));
  if (alive()) process.kill(pid, 'SIGKILL');
  // a successor binds the same port: wait until this process is really gone
  for (let i = 0; i < 100 && alive(); i++) await new Promise((r) => setTimeout(r, 100));
}

export function kubeconfig(url: string, ca: Buffer, token: string, user = 'admin'): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'token-operator-test', cluster: { server: url, 'certificate-authority-data': ca.toString('base64') } }],
    users: [{ name: user, user: { token } }],
    contexts: [{ name: 'token-operator-test', context: { cluster: 'token-operator-test', user, namespace: 'default' } }],
    'current-context': 'token-operator-test',
  });
}
