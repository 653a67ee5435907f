import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { type Clock, systemClock } from '../../../src/schedule/clock.js';
import { type SimAddress, simUrl } from '../address.js';
import { DdsFaults, FaultRequest, type SimFault } from './faults.js';
import { type Reply, handle, json, problem, routeOf } from './routes.js';
import { DdsSimState, type RequestLogEntry, type SimSettings } from './state.js';

/**
 * A faithful HTTP stand-in for Zalando DDS + zDirect auth + Databricks activation + a
 * Delta Sharing server (docs/providers.md "Zalando DDS"), in one process.
 * Tests drive it over HTTP and inspect `state`; people run it with main.ts and use
 * `GET /_sim/state`, `POST /_sim/faults` and `DELETE /_sim/faults`, and `POST /_sim/revoke-all`
 * (`{"clientId"}` or empty: every account; `"status"`: only ACTIVE or ROTATED tokens) to revoke
 * tokens out of band, as another tool would.
 */

export interface DdsSimulatorOptions extends SimAddress {
  /** 0 (default) picks a free port */
  port?: number;
  /** added before every vendor response */
  latencyMs?: number;
  /** the simulator's time: token TTLs, overlaps and rate-limit windows all follow it */
  clock?: Clock;
  /** client id → client secret; default {demo-client: demo-secret} */
  clients?: Record<string, string>;
  settings?: Partial<SimSettings>;
  /** serve https with this key and certificate (PEM) instead of plain http */
  tls?: { key: string; cert: string };
}

export interface DdsSimulator {
  url: string;
  state: DdsSimState;
  faults: DdsFaults;
  close(): Promise<void>;
}

export const DEMO_CLIENT = { clientId: 'demo-client', clientSecret: 'demo-secret' } as const;
// A second zDirect app (its own DDS account) for the templated sample (deploy/samples/templates.yaml):
// two DeltaShareTokens on one account would rotate each other's tokens away.
export const TEMPLATES_CLIENT = { clientId: 'demo-client-2', clientSecret: 'demo-secret-2' } as const;
/** the zDirect apps deploy/samples name: what `npm run simulators` and the e2e suite accept */
export const SAMPLE_CLIENTS: Record<string, string> = {
  [DEMO_CLIENT.clientId]: DEMO_CLIENT.clientSecret,
  [TEMPLATES_CLIENT.clientId]: TEMPLATES_CLIENT.clientSecret,
};

const MAX_REQUEST_BYTES = 64 * 1024;
const RevokeAllRequest = z.object({ clientId: z.string().optional(), status: z.enum(['ACTIVE', 'ROTATED']).optional() });

export async function startDdsSimulator(opts: DdsSimulatorOptions = {}): Promise<DdsSimulator> {
  const clock = opts.clock ?? systemClock;
  const host = opts.host ?? '127.0.0.1';
  const state = new DdsSimState(clock, opts.settings);
  for (const [id, secret] of Object.entries(opts.clients ?? { [DEMO_CLIENT.clientId]: DEMO_CLIENT.clientSecret })) {
    state.addClient(id, secret);
  }
  const faults = new DdsFaults();

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', state.baseUrl);
    const method = req.method ?? 'GET';
    const body = await readBody(req);
    if (body === undefined) return write(res, problem(413, 'Payload Too Large', 'request body too large'));
    if (url.pathname.startsWith('/_sim/')) return write(res, admin(method, url.pathname, body));

    if (opts.latencyMs) await new Promise((resolve) => setTimeout(resolve, opts.latencyMs));
    const route = routeOf(method, url.pathname);
    const entry: RequestLogEntry = { method, path: url.pathname, route: route ?? 'none', status: 0, at: clock.now() };
    state.log.push(entry);

    const fault = route && faults.take(route);
    if (fault) return applyFault(res, fault, entry);
    const reply: Reply = route
      ? handle(route, { method, url, headers: req.headers, body }, state)
      : url.pathname === '/dds-tokens'
        ? problem(405, 'Method Not Allowed', 'use GET, POST or PATCH')
        : problem(404, 'Not Found', 'no such endpoint');
    entry.status = reply.status;
    if (reply.clientId) entry.clientId = reply.clientId;
    write(res, reply);
  }

  function admin(method: string, path: string, body: string): Reply {
    if (path === '/_sim/state' && method === 'GET') {
      return json(200, {
        settings: state.settings,
        patchZeroCalls: state.patchZeroCalls,
        tokens: state.tokens.map((k) => ({
          id: k.id,
          account: k.account,
          status: k.status,
          createdAt: new Date(k.createdAt).toISOString(),
          expiresAt: new Date(k.expiresAt).toISOString(),
          downloaded: k.downloaded,
          revoked: k.revoked,
          activationLink: state.activationLink(k),
        })),
        faults: faults.pending(),
        log: state.log.slice(-500),
      });
    }
    if (path === '/_sim/faults' && method === 'POST') {
      let parsed: ReturnType<typeof FaultRequest.safeParse>;
      try {
        parsed = FaultRequest.safeParse(JSON.parse(body));
      } catch {
        return problem(400, 'Bad Request', 'body is not JSON');
      }
      if (!parsed.success) return problem(400, 'Bad Request', parsed.error.message);
      faults.inject(parsed.data.route, parsed.data.fault, parsed.data.times);
      return { status: 204 };
    }
    if (path === '/_sim/faults' && method === 'DELETE') {
      faults.clear();
      return { status: 204 };
    }
    if (path === '/_sim/revoke-all' && method === 'POST') {
      // out of band: what another tool's PATCH /dds-tokens with 0 does (body {"clientId"}, or every account)
      let req: z.infer<typeof RevokeAllRequest>;
      try {
        req = RevokeAllRequest.parse(body.trim() === '' ? {} : JSON.parse(body));
      } catch {
        return problem(400, 'Bad Request', 'body: {"clientId": "<zDirect client id>", "status": "ACTIVE"|"ROTATED"} (each optional)');
      }
      return json(200, { revoked: state.revokeOutOfBand(req.clientId, req.status) });
    }
    return problem(404, 'Not Found', 'admin routes: GET /_sim/state, POST|DELETE /_sim/faults, POST /_sim/revoke-all');
  }

  const handler = (req: IncomingMessage, res: ServerResponse) => {
    serve(req, res).catch(() => {
      if (!res.headersSent) write(res, problem(500, 'Internal Server Error', 'simulator failure'));
      else res.destroy();
    });
  };
  const server = opts.tls ? createTlsServer(opts.tls, handler) : createServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  state.baseUrl = opts.tls ? `https://${host}:${port}` : simUrl(opts, port);

  return {
    url: state.baseUrl,
    state,
    faults,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        // hanging responses and keep-alive sockets would hold close() forever
        server.closeAllConnections();
      }),
  };
}

function applyFault(res: ServerResponse, fault: SimFault, entry: RequestLogEntry): void {
  switch (fault.kind) {
    case 'status':
      entry.status = fault.status;
      return write(res, problem(fault.status, 'Injected Fault', 'simulated failure'));
    case 'rateLimit':
      entry.status = 429;
      return write(
        res,
        problem(429, 'Too Many Requests', 'rate limit exceeded', { 'retry-after': String(fault.retryAfterSeconds) }),
      );
    case 'redirect':
      entry.status = 302;
      return write(res, { status: 302, headers: { location: fault.location, 'content-type': 'text/html' }, body: '<a href="/">moved</a>' });
    case 'malformed':
      entry.status = 200;
      return write(res, { status: 200, headers: { 'content-type': 'application/json' }, body: '{"items": [{"id": "1", "sta' });
    case 'oversized': {
      entry.status = 200;
      res.writeHead(200, { 'content-type': 'application/json' });
      const chunk = 'x'.repeat(64 * 1024);
      res.write('{"padding":"');
      for (let sent = 0; sent < fault.bytes; sent += chunk.length) res.write(chunk);
      res.end('"}');
      return;
    }
    case 'hang':
      return; // never answered; close() tears the socket down
  }
}

function write(res: ServerResponse, reply: Reply): void {
  res.writeHead(reply.status, reply.headers ?? {});
  res.end(reply.body ?? '');
}

/** the request body, or undefined when it is larger than the simulator accepts */
async function readBody(req: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_REQUEST_BYTES) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
