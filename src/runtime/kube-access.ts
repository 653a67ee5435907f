import { existsSync, readFileSync } from 'node:fs';
import type https from 'node:https';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';

/**
 * How to reach the API server: its URL and what every request needs (TLS material, auth
 * headers). The common cases (in-cluster service account, kubeconfig with a token or client
 * certificate) are read here directly; anything else (exec and auth-provider plugins) goes
 * through @kubernetes/client-node's KubeConfig, loaded only then: importing it costs about
 * 80 MiB of resident memory, a third of the operator's budget at 10k tokens.
 */
export interface KubeAccess {
  server: string;
  applyToHTTPSOptions(opts: https.RequestOptions): Promise<void>;
}

interface KubeConfigFile {
  'current-context'?: string;
  contexts?: Array<{ name: string; context: { cluster: string; user: string } }>;
  clusters?: Array<{ name: string; cluster: { server: string; 'certificate-authority'?: string; 'certificate-authority-data'?: string; 'insecure-skip-tls-verify'?: boolean } }>;
  users?: Array<{
    name: string;
    user: {
      token?: string;
      tokenFile?: string;
      'client-certificate'?: string;
      'client-certificate-data'?: string;
      'client-key'?: string;
      'client-key-data'?: string;
      username?: string;
      password?: string;
      exec?: unknown;
      'auth-provider'?: unknown;
    };
  }>;
}

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** Resolves access like client-go: $KUBECONFIG, then in-cluster, then ~/.kube/config. */
export async function loadKubeAccess(env: NodeJS.ProcessEnv = process.env): Promise<KubeAccess> {
  const path = env.KUBECONFIG?.split(':')[0];
  if (path && existsSync(path)) return fromFile(path);
  if (env.KUBERNETES_SERVICE_HOST && existsSync(join(SA_DIR, 'token'))) return inCluster(env);
  const home = join(homedir(), '.kube', 'config');
  if (existsSync(home)) return fromFile(home);
  throw new Error('no Kubernetes credentials: set KUBECONFIG or run in a cluster');
}

function inCluster(env: NodeJS.ProcessEnv): KubeAccess {
  const host = env.KUBERNETES_SERVICE_HOST!;
  const port = env.KUBERNETES_SERVICE_PORT ?? '443';
  const ca = readFileSync(join(SA_DIR, 'ca.crt'));
  return {
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    // the kubelet rotates the projected token: read it each time (the client caches for a minute)
    applyToHTTPSOptions: async (opts) => {
      opts.ca = ca;
      opts.headers = { ...opts.headers, authorization: `Bearer ${readFileSync(join(SA_DIR, 'token'), 'utf8').trim()}` };
    },
  };
}

async function fromFile(path: string): Promise<KubeAccess> {
  const cfg = parse(readFileSync(path, 'utf8')) as KubeConfigFile;
  const ctx = cfg.contexts?.find((c) => c.name === cfg['current-context'])?.context;
  const cluster = cfg.clusters?.find((c) => c.name === ctx?.cluster)?.cluster;
  const user = cfg.users?.find((u) => u.name === ctx?.user)?.user ?? {};
  if (!ctx || !cluster) throw new Error(`kubeconfig ${path}: current context or its cluster not found`);
  if (user.exec || user['auth-provider']) return viaClientNode(path);
  const file = (p: string | undefined) => (p ? readFileSync(p) : undefined);
  const data = (d: string | undefined) => (d ? Buffer.from(d, 'base64') : undefined);
  const ca = data(cluster['certificate-authority-data']) ?? file(cluster['certificate-authority']);
  const cert = data(user['client-certificate-data']) ?? file(user['client-certificate']);
  const key = data(user['client-key-data']) ?? file(user['client-key']);
  return {
    server: cluster.server,
    applyToHTTPSOptions: async (opts) => {
      if (ca) opts.ca = ca;
      if (cert) opts.cert = cert;
      if (key) opts.key = key;
      if (cluster['insecure-skip-tls-verify']) opts.rejectUnauthorized = false;
      const token = user.token ?? (user.tokenFile ? readFileSync(user.tokenFile, 'utf8').trim() : undefined);
      if (token) opts.headers = { ...opts.headers, authorization: `Bearer ${token}` };
      else if (user.username) opts.auth = `${user.username}:${user.password ?? ''}`;
    },
  };
}

async function viaClientNode(path: string): Promise<KubeAccess> {
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  return fromKubeConfig(kc);
}

/** Adapts a client-node KubeConfig (tests, CLI, plugin-based auth). */
export function fromKubeConfig(kc: { getCurrentCluster(): { server: string } | null; applyToHTTPSOptions(o: https.RequestOptions): Promise<void> }): KubeAccess {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  return { server: cluster.server, applyToHTTPSOptions: (o) => kc.applyToHTTPSOptions(o) };
}
