import http from 'node:http';
import type { Registry } from 'prom-client';

export interface HealthChecks {
  /** liveness: the event loop answers and nothing is wedged */
  live: () => boolean;
  /** readiness: caches synced (and, for a leader, controllers running) */
  ready: () => boolean;
}

/** /healthz, /readyz and /metrics on one port, as most operators expose them. */
export function startHealthServer(port: number, host: string, checks: HealthChecks, registry: Registry): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz' || path === '/livez') return answer(res, checks.live());
    if (path === '/readyz') return answer(res, checks.ready());
    if (path === '/metrics') {
      registry
        .metrics()
        .then((text) => {
          res.writeHead(200, { 'content-type': registry.contentType });
          res.end(text);
        })
        .catch(() => {
          res.writeHead(500);
          res.end();
        });
      return;
    }
    res.writeHead(404);
    res.end();
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

function answer(res: http.ServerResponse, ok: boolean): void {
  res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' });
  res.end(ok ? 'ok' : 'not ready');
}
