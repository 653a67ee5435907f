import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import { KubeApiError, type KubeClient, type KubeObject } from './kube-client.js';

export interface ApiServerEndpoint {
  /** an IP literal or a host name */
  host: string;
  port: number;
}

interface EndpointSlice extends KubeObject {
  endpoints?: Array<{ addresses?: string[] }>;
  ports?: Array<{ port?: number }>;
}

interface Endpoints extends KubeObject {
  subsets?: Array<{ addresses?: Array<{ ip?: string }>; ports?: Array<{ port?: number }> }>;
}

/**
 * Where the cluster's API server listens, so the egress policy can refuse it: the server this
 * client talks to (the in-cluster `kubernetes` Service address, or the kubeconfig's server and
 * the addresses its name resolves to), and the `kubernetes` Service's endpoints in `default`
 * (the API servers' own addresses and port, which a pod can reach directly). Reading the
 * endpoints needs `get` on that one EndpointSlice (or Endpoints); without it the configured
 * server is still covered, and a warning says so.
 */
export async function apiServerEndpoints(client: KubeClient, log: Logger): Promise<ApiServerEndpoint[]> {
  const server = client.server;
  const host = server.hostname.replace(/^\[|\]$/g, '');
  const port = Number(server.port) || (server.protocol === 'http:' ? 80 : 443);
  const found: ApiServerEndpoint[] = [{ host, port }];
  if (isIP(host) === 0) {
    try {
      for (const a of await lookup(host, { all: true })) found.push({ host: a.address, port });
    } catch {
      log.warn({ host }, 'egress policy: the API server host name does not resolve; only the name is refused');
    }
  }
  try {
    found.push(...(await fromEndpointSlice(client)));
  } catch (e) {
    try {
      found.push(...(await fromEndpoints(client)));
    } catch {
      // none at all (a bare API server without its endpoint reconciler, as in local development) is no fault
      if (e instanceof KubeApiError && e.notFound) log.info("egress policy: the kubernetes Service has no endpoints; the configured API server address is refused");
      else {
        const why = e instanceof KubeApiError ? `${e.status} ${e.reason}` : 'unreadable';
        log.warn({ why }, "egress policy: cannot read the kubernetes Service's endpoints in namespace default; only the configured API server address is refused");
      }
    }
  }
  return dedupe(found);
}

async function fromEndpointSlice(client: KubeClient): Promise<ApiServerEndpoint[]> {
  // the API server keeps an EndpointSlice of the same name as the Service (kubernetes)
  const slice = await client.get<EndpointSlice>('/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/kubernetes');
  const ports = (slice.ports ?? []).flatMap((p) => (p.port ? [p.port] : []));
  return (slice.endpoints ?? []).flatMap((e) => (e.addresses ?? []).flatMap((a) => ports.map((port) => ({ host: a, port }))));
}

async function fromEndpoints(client: KubeClient): Promise<ApiServerEndpoint[]> {
  const ep = await client.get<Endpoints>('/api/v1/namespaces/default/endpoints/kubernetes');
  return (ep.subsets ?? []).flatMap((s) => {
    const ports = (s.ports ?? []).flatMap((p) => (p.port ? [p.port] : []));
    return (s.addresses ?? []).flatMap((a) => (a.ip ? ports.map((port) => ({ host: a.ip!, port })) : []));
  });
}

function dedupe(list: ApiServerEndpoint[]): ApiServerEndpoint[] {
  const seen = new Set<string>();
  return list.filter((e) => {
    const k = `${e.host}|${e.port}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
