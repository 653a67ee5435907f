import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { connect, createServer as createTcpServer, type AddressInfo } from 'node:net';
import { inject } from 'vitest';
import type { KubeClient, KubeObject } from '../../src/runtime/kube-client.js';
import { NODE_IP } from '../cluster/node.js';
import { SAMPLE_CLIENTS, startDdsSimulator, type DdsSimulator } from '../simulators/dds/server.js';
import { startGnapSimulator, type GnapSimulator } from '../simulators/gnap/server.js';
import { startPrivicoreSimulator, type PrivicoreSimulator } from '../simulators/privicore/server.js';
import { OPERATOR_IMAGE } from './operator.js';

/** What the e2e files share beyond the operator: simulators pods can reach, and consumer pods. */

/** why the node cannot run here, for describe.skipIf ('' = it can) */
export const skipReason = inject('e2eSkip') || undefined;
export const skipNote = skipReason ? ` (skipped: ${skipReason})` : '';

export interface Simulators {
  dds: DdsSimulator;
  gnap: GnapSimulator;
  privicore: PrivicoreSimulator;
  close(): Promise<void>;
}

/** The provider simulators on the node's IP: the operator's pods and the consumer pods call them there. */
export async function startSimulators(): Promise<Simulators> {
  // the samples' zDirect apps (deploy/samples names two)
  const dds = await startDdsSimulator({ host: NODE_IP, clients: SAMPLE_CLIENTS });
  const gnap = await startGnapSimulator({ host: NODE_IP });
  const privicore = await startPrivicoreSimulator({ host: NODE_IP, commandDelayMs: 20 });
  return { dds, gnap, privicore, close: async () => void (await Promise.all([dds.close(), gnap.close(), privicore.close()])) };
}

/**
 * A TCP forwarder from the node's IP to a service on 127.0.0.1 (the shared Keycloak listens on
 * loopback only). Keycloak derives its issuer from the address it is asked on, so every client
 * (the test seeding tokens, the operator, consumer pods) uses this address.
 */
export async function forwardToLoopback(port: number): Promise<{ url: string; close(): Promise<void> }> {
  const open = new Set<{ destroy(): void }>();
  const server = createTcpServer((c) => {
    const upstream = connect(port, '127.0.0.1');
    open.add(c).add(upstream);
    c.on('close', () => open.delete(c));
    upstream.on('close', () => open.delete(upstream));
    c.pipe(upstream).pipe(c);
    const end = () => (c.destroy(), upstream.destroy());
    c.on('error', end);
    upstream.on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, NODE_IP, () => resolve()));
  return {
    url: `http://${NODE_IP}:${(server.address() as AddressInfo).port}`,
    // a net.Server's close() waits for every connection: the operator's keep-alive ones never end by themselves
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of open) s.destroy();
      }),
  };
}

const closeServer = (s: Server) =>
  new Promise<void>((resolve) => {
    s.close(() => resolve());
    s.closeAllConnections();
  });

export const valueHash = (value: string) => createHash('sha256').update(value).digest('hex').slice(0, 12);

/** One call a consumer pod made with the credential it held (consumer.ts reports each). */
export interface Call {
  /** consumer name (one Deployment) */
  c: string;
  pod: string;
  at: number;
  ok: boolean;
  status: number;
  /** valueHash of the credential used */
  h: string;
}

/** Receives the consumer pods' reports (POST /report, a JSON array of Calls) on the node's IP. */
export class Collector {
  readonly calls: Call[] = [];
  private server?: Server;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        try {
          this.calls.push(...(JSON.parse(body) as Call[]));
          res.writeHead(204).end();
        } catch {
          res.writeHead(400).end();
        }
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, NODE_IP, () => resolve()));
    this.url = `http://${NODE_IP}:${(this.server.address() as AddressInfo).port}/report`;
  }

  of(consumer: string): Call[] {
    return this.calls.filter((c) => c.c === consumer);
  }

  failures(consumer: string): Call[] {
    return this.of(consumer).filter((c) => !c.ok);
  }

  /** when the consumer first made a call with the credential whose hash is `h` */
  firstUse(consumer: string, h: string): number | undefined {
    return this.of(consumer).find((c) => c.h === h)?.at;
  }

  pods(consumer: string): string[] {
    return [...new Set(this.of(consumer).map((c) => c.pod))];
  }

  close(): Promise<void> {
    return this.server ? closeServer(this.server) : Promise.resolve();
  }
}

export type ConsumerKind = 'dds' | 'oidc' | 'gnap' | 'data';

export interface ConsumerSpec {
  namespace: string;
  name: string;
  kind: ConsumerKind;
  /** volume: the Secret mounted and the file read at every call; env: envFrom, fixed for the pod's life */
  mode: 'volume' | 'env';
  secretName: string;
  collectorUrl: string;
  /** kind-specific: USERINFO_URL (oidc), RESOURCE_URL (gnap), EXPECTED (data) */
  env?: Record<string, string>;
}

export const CONSUMER_SCRIPT = 'consumer-script';

/** The ConfigMap with consumer.ts (run by the Node in the operator's image: no dependencies). */
export function consumerScriptConfigMap(namespace: string, script: string): KubeObject {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: CONSUMER_SCRIPT, namespace }, data: { 'consumer.ts': script } };
}

/** A one-replica Deployment of consumer.ts reading the Secret the way `mode` says. */
export function consumerDeployment(s: ConsumerSpec): KubeObject {
  const labels = { app: s.name };
  const env = Object.entries({ CONSUMER: s.name, KIND: s.kind, MODE: s.mode, COLLECTOR: s.collectorUrl, ...s.env }).map(([name, value]) => ({ name, value }));
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: s.name, namespace: s.namespace },
    spec: {
      replicas: 1,
      selector: { matchLabels: labels },
      // the new pod first, then the old one goes: what a restart of a real one-replica workload does
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      template: {
        metadata: { labels },
        spec: {
          terminationGracePeriodSeconds: 5,
          automountServiceAccountToken: false,
          securityContext: { runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } },
          containers: [
            {
              name: 'consumer',
              image: OPERATOR_IMAGE,
              command: ['node', '/consumer/consumer.ts'],
              env,
              ...(s.mode === 'env' ? { envFrom: [{ secretRef: { name: s.secretName } }] } : {}),
              volumeMounts: [{ name: 'script', mountPath: '/consumer' }, ...(s.mode === 'volume' ? [{ name: 'creds', mountPath: '/creds', readOnly: true }] : [])],
              securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
              resources: { requests: { cpu: '10m', memory: '32Mi' }, limits: { memory: '96Mi' } },
            },
          ],
          volumes: [
            { name: 'script', configMap: { name: CONSUMER_SCRIPT } },
            ...(s.mode === 'volume' ? [{ name: 'creds', secret: { secretName: s.secretName } }] : []),
          ],
        },
      },
    },
  };
}

/**
 * Polls a Secret and records, for each distinct value of `key`, when it changed to it (ms): the
 * start of the poll before the one that first saw it. The change happened after that poll read
 * the Secret, so the time is a lower bound: a delay measured from it is at most one poll
 * (about 100 ms) too long, and never shorter than the real one.
 */
export class SecretWatcher {
  readonly seen = new Map<string, number>();
  private stopped = false;
  private loop?: Promise<void>;

  constructor(
    private readonly client: KubeClient,
    private readonly namespace: string,
    private readonly name: string,
    private readonly key: string,
  ) {}

  start(): void {
    this.loop = (async () => {
      let previousStart = Date.now();
      while (!this.stopped) {
        const start = Date.now();
        let read = true;
        const s = await this.client.find(`/api/v1/namespaces/${this.namespace}/secrets/${this.name}`).catch(() => ((read = false), undefined));
        const raw = (s?.data as Record<string, string> | undefined)?.[this.key];
        if (raw !== undefined) {
          const h = valueHash(Buffer.from(raw, 'base64').toString('utf8'));
          if (!this.seen.has(h)) this.seen.set(h, previousStart);
        }
        // a failed poll read nothing: the bound stays with the last one that did
        if (read) previousStart = start;
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }
}
