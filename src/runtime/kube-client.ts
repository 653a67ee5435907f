import http from 'node:http';
import https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import { fromKubeConfig, type KubeAccess } from './kube-access.js';
import { monotonicMs } from '../schedule/clock.js';
import { TokenBucket } from '../schedule/token-bucket.js';
import { RoundRobin } from '../schedule/round-robin.js';

/**
 * A thin Kubernetes REST client. Access (server, TLS, auth) comes from kube-access.ts, which
 * falls back to @kubernetes/client-node's KubeConfig for plugin-based auth; the requests go through
 * here so that every call is rate-limited (client QPS/burst, like client-go), counted by
 * verb, and can use the exact patch types we need (server-side apply for Secrets,
 * merge patch on the status subresource).
 */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    finalizers?: string[];
    deletionTimestamp?: string;
    ownerReferences?: OwnerReference[];
    creationTimestamp?: string;
    managedFields?: unknown[];
  };
  [key: string]: unknown;
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface KubeList<T> {
  items: T[];
  metadata: { resourceVersion?: string; continue?: string };
}

export type PatchType = 'merge' | 'apply' | 'json' | 'strategic';
const WRITE_VERBS: ReadonlySet<string> = new Set(['create', 'patch', 'update']);
const isObject = (v: unknown): v is KubeObject => typeof v === 'object' && v !== null && 'metadata' in v;
const PATCH_CONTENT_TYPE: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  apply: 'application/apply-patch+yaml',
  json: 'application/json-patch+json',
  strategic: 'application/strategic-merge-patch+json',
};

export class KubeApiError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'KubeApiError';
  }
  get notFound(): boolean {
    return this.status === 404;
  }
  get conflict(): boolean {
    return this.status === 409;
  }
  get gone(): boolean {
    return this.status === 410;
  }
}

export interface KubeClientOptions {
  qps?: number;
  burst?: number;
  /** called for every request, for metrics and benchmarks (path: the URL path, for tests that check where requests go) */
  onRequest?: (verb: string, resource: string, code: number, seconds: number, path: string) => void;
  /** impersonate this user (e.g. system:serviceaccount:ns:name) — tests prove chart RBAC this way */
  impersonate?: string;
  /**
   * Called before every write (create, patch, update, delete); throwing refuses it before it is
   * sent. Leader election fences the reconcilers' writes with it (leader-election.ts).
   */
  writeGate?: () => void;
}

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  /** for metrics: list/watch/get/create/patch/update/delete */
  verb?: string;
  /** give up on the request after this long (default 60 s) */
  timeoutMs?: number;
}

export class KubeClient {
  readonly server: URL;
  private readonly limiter: TokenBucket;
  private agent: http.Agent | undefined;
  private authHeaders: Record<string, string> = {};
  private authRefreshedAt = Number.NEGATIVE_INFINITY;
  private readonly writeListeners: Array<(obj: KubeObject) => void> = [];

  private readonly access: KubeAccess;

  constructor(
    access: KubeAccess | KubeConfig,
    private readonly opts: KubeClientOptions = {},
  ) {
    this.access = 'getCurrentCluster' in access ? fromKubeConfig(access) : access;
    this.server = new URL(this.access.server);
    // Requests beyond the limit wait per namespace, served in turn: one namespace's flood of
    // status patches and Events (a hostile tenant's failing resources) does not queue every other
    // namespace's writes behind it (bench/README.md, hostile tenant).
    this.limiter = new TokenBucket(opts.qps ?? 50, opts.burst ?? 100, monotonicMs, new RoundRobin<() => void>());
  }

  /**
   * Hears every object this client's writes return (create, patch, update): the operator's caches
   * take them at once (write-through), so no caller has to remember to, and the watch echo of our
   * own write is known as ours (controller.ts).
   */
  onWritten(listener: (obj: KubeObject) => void): void {
    this.writeListeners.push(listener);
  }

  // Service-account tokens are rotated on disk by the kubelet; re-read auth once a minute.
  private async prepare(): Promise<void> {
    if (this.agent && monotonicMs() - this.authRefreshedAt < 60_000) return;
    const o: https.RequestOptions = {};
    await this.access.applyToHTTPSOptions(o);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(o.headers ?? {})) if (typeof v === 'string') headers[k.toLowerCase()] = v;
    if (o.auth) headers.authorization = `Basic ${Buffer.from(o.auth).toString('base64')}`;
    this.authHeaders = headers;
    if (!this.agent) {
      this.agent =
        this.server.protocol === 'https:'
          ? new https.Agent({
              keepAlive: true,
              maxSockets: 64,
              ca: o.ca,
              cert: o.cert,
              key: o.key,
              rejectUnauthorized: o.rejectUnauthorized ?? true,
            })
          : new http.Agent({ keepAlive: true, maxSockets: 64 });
    }
    this.authRefreshedAt = monotonicMs();
  }

  private url(path: string, query?: RequestOptions['query']): URL {
    const u = new URL(path, this.server);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) u.searchParams.set(k, String(v));
    return u;
  }

  async request<T>(method: string, path: string, ro: RequestOptions = {}): Promise<T> {
    await this.prepare();
    await this.limiter.take(namespaceOf(path));
    // checked as late as possible: after the rate limiter's wait, right before the request goes out
    if (method !== 'GET') this.opts.writeGate?.();
    const started = performance.now();
    const verb = ro.verb ?? method.toLowerCase();
    let code = 0;
    try {
      const { status, body } = await this.raw(method, this.url(path, ro.query), ro);
      code = status;
      const parsed = body.length ? (JSON.parse(body) as unknown) : undefined;
      if (status >= 400) {
        const st = (parsed ?? {}) as { reason?: string; message?: string };
        throw new KubeApiError(status, st.reason ?? 'Unknown', `${method} ${path}: ${status} ${st.message ?? ''}`.trim());
      }
      if (WRITE_VERBS.has(verb) && isObject(parsed)) for (const l of this.writeListeners) l(parsed);
      return parsed as T;
    } finally {
      this.opts.onRequest?.(verb, resourceOf(path), code, (performance.now() - started) / 1000, path);
    }
  }

  private raw(method: string, url: URL, ro: RequestOptions): Promise<{ status: number; body: string }> {
    const payload = ro.body === undefined ? undefined : typeof ro.body === 'string' ? ro.body : JSON.stringify(ro.body);
    const mod = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = mod.request(
        url,
        {
          method,
          agent: this.agent,
          // with a length, not chunked: the API server leaves a chunked DELETE body unread on a
          // kept-alive connection, and the next request on it then reads garbage
          headers: {
            ...this.headers(payload === undefined ? undefined : (ro.contentType ?? 'application/json')),
            ...(payload === undefined ? {} : { 'content-length': String(Buffer.byteLength(payload)) }),
          },
          timeout: 60_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            clearTimeout(deadline);
            resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
          });
          res.on('error', (e) => {
            clearTimeout(deadline);
            reject(e);
          });
        },
      );
      // `timeout` above is the socket's idle time; a deadline bounds the whole request (lease renewals)
      const deadline = ro.timeoutMs === undefined ? undefined : setTimeout(() => req.destroy(new Error(`request to ${url.pathname} timed out`)), ro.timeoutMs);
      req.on('timeout', () => req.destroy(new Error(`request to ${url.pathname} timed out`)));
      req.on('error', (e) => {
        clearTimeout(deadline);
        reject(e);
      });
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  private headers(contentType?: string): Record<string, string> {
    const h: Record<string, string> = { accept: 'application/json', ...this.authHeaders };
    if (contentType) h['content-type'] = contentType;
    if (this.opts.impersonate) h['impersonate-user'] = this.opts.impersonate;
    return h;
  }

  get<T extends KubeObject>(path: string): Promise<T> {
    return this.request<T>('GET', path, { verb: 'get' });
  }

  /** GET that answers undefined for 404 instead of throwing. */
  async find<T extends KubeObject>(path: string): Promise<T | undefined> {
    try {
      return await this.get<T>(path);
    } catch (e) {
      if (e instanceof KubeApiError && e.notFound) return undefined;
      throw e;
    }
  }

  list<T extends KubeObject>(path: string, query?: RequestOptions['query']): Promise<KubeList<T>> {
    return this.request<KubeList<T>>('GET', path, { query, verb: 'list' });
  }

  create<T extends KubeObject>(path: string, body: T, query?: RequestOptions['query']): Promise<T> {
    return this.request<T>('POST', path, { body, query, verb: 'create' });
  }

  patch<T extends KubeObject>(path: string, body: unknown, type: PatchType, query?: RequestOptions['query']): Promise<T> {
    return this.request<T>('PATCH', path, { body, contentType: PATCH_CONTENT_TYPE[type], query, verb: 'patch' });
  }

  /** PUT: replaces the whole object (unconditionally when body has no resourceVersion). */
  replace<T extends KubeObject>(path: string, body: T, query?: RequestOptions['query']): Promise<T> {
    return this.request<T>('PUT', path, { body, query, verb: 'update' });
  }

  delete(path: string, query?: RequestOptions['query']): Promise<unknown> {
    return this.request('DELETE', path, { query, verb: 'delete' });
  }

  /**
   * Opens a watch stream. `onEvent` receives each event; the promise resolves when the
   * server closes the stream and rejects on transport errors. `abort` ends it.
   */
  async watch(
    path: string,
    query: RequestOptions['query'],
    onEvent: (type: string, obj: KubeObject) => void,
    signal: AbortSignal,
  ): Promise<void> {
    await this.prepare();
    await this.limiter.take(namespaceOf(path));
    const url = this.url(path, { ...query, watch: true });
    const mod = url.protocol === 'https:' ? https : http;
    const started = performance.now();
    return new Promise((resolve, reject) => {
      const req = mod.request(url, { method: 'GET', agent: this.agent, headers: this.headers(), signal }, (res) => {
        this.opts.onRequest?.('watch', resourceOf(url.pathname), res.statusCode ?? 0, (performance.now() - started) / 1000, url.pathname);
        if ((res.statusCode ?? 0) >= 400) {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            let reason = 'Unknown';
            try {
              reason = (JSON.parse(Buffer.concat(chunks).toString()) as { reason?: string }).reason ?? reason;
            } catch {
              /* not JSON */
            }
            reject(new KubeApiError(res.statusCode ?? 0, reason, `watch ${url.pathname}: ${res.statusCode}`));
          });
          return;
        }
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buf += chunk;
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl).trim();
            buf = buf.slice(nl + 1);
            if (!line) continue;
            try {
              const ev = JSON.parse(line) as { type: string; object: KubeObject };
              onEvent(ev.type, ev.object);
            } catch (e) {
              req.destroy(e as Error);
              return;
            }
          }
        });
        res.on('end', () => resolve());
        res.on('error', reject);
      });
      req.on('error', (e) => (signal.aborted ? resolve() : reject(e)));
      req.end();
    });
  }
}

/** "/api/v1/namespaces/x/secrets/y" → "secrets"; used as a low-cardinality metric label. */
export function resourceOf(path: string): string {
  const parts = path.split('?')[0]!.split('/').filter(Boolean);
  const ns = parts.indexOf('namespaces');
  if (ns >= 0 && parts.length > ns + 2) return parts[ns + 2]!;
  if (ns >= 0) return parts.length === ns + 1 ? 'namespaces' : 'namespaces';
  return parts[parts.length - 1] ?? 'unknown';
}

/** Builds a REST path for a resource. */
export function resourcePath(r: { group: string; version: string; plural: string }, namespace?: string, name?: string): string {
  const base = r.group === '' ? `/api/${r.version}` : `/apis/${r.group}/${r.version}`;
  const ns = namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  return `${base}${ns}/${r.plural}${name ? `/${encodeURIComponent(name)}` : ''}`;
}

/** The namespace a request path names ("/api/v1/namespaces/NS/…", "/apis/G/V/namespaces/NS/…"), "" for a cluster-scoped one. */
export function namespaceOf(path: string): string {
  const m = /\/namespaces\/([^/?]+)\//.exec(path);
  return m ? m[1]! : '';
}
