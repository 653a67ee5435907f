// `npm run dev -- --prometheus` (scripts/dev.sh): a local Prometheus next to the dev operator,
// with the chart's alert rules (waits shortened so a newcomer sees an alert within a minute or
// two) and the chart's ServiceMonitor as its scrape config. `npm run dev:down` stops it.
// prometheus comes from Debian's package, unpacked into .cache/bin by scripts/prometheus.sh.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { renderRules, scrapeConfigFromChart } from './monitoring.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = join(root, '.cache', 'quickstart', 'prometheus');
const pidFile = join(dir, 'prometheus.pid');
const PORT = Number(process.env.DEV_PROMETHEUS_PORT ?? 19090);
const url = `http://127.0.0.1:${PORT}`;
const OPERATOR_METRICS = '127.0.0.1:18080'; // scripts/quickstart.ts --health-port

/** the chart's rules with short waits: alerts show within a minute or two of breaking something */
const DEV_RULES = {
  'prometheusRule.interval': '5s',
  'prometheusRule.rotationOverdueMinSeconds': 30,
  'prometheusRule.rotationOverdueFor': '30s',
  'prometheusRule.expiringFor': '30s',
  'prometheusRule.notReadyFor': '30s',
  'prometheusRule.stalledFor': '30s',
  'prometheusRule.rotationFailingFor': '2m',
  'prometheusRule.providerWindow': '2m',
  'prometheusRule.providerErrorsFor': '1m',
  'prometheusRule.providerRateLimitedFor': '1m',
  'prometheusRule.operatorDownFor': '1m',
};

function stop(): void {
  if (!existsSync(pidFile)) return;
  try {
    process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGTERM');
  } catch {
    /* already gone */
  }
  rmSync(pidFile, { force: true });
}

async function up(): Promise<void> {
  const binary = join(root, '.cache', 'bin', 'prometheus');
  if (!existsSync(binary)) throw new Error('prometheus is not installed: bash scripts/prometheus.sh install');
  stop();
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'rules.yaml'), stringify(renderRules(root, DEV_RULES), { lineWidth: 0 }));
  const scrape = scrapeConfigFromChart(root, OPERATOR_METRICS, { 'serviceMonitor.interval': '5s', 'serviceMonitor.scrapeTimeout': '5s' });
  writeFileSync(join(dir, 'prometheus.yaml'), stringify({ global: { scrape_interval: '5s', evaluation_interval: '5s' }, rule_files: ['rules.yaml'], scrape_configs: [scrape] }));
  const log = openSync(join(dir, 'prometheus.log'), 'a');
  const child = spawn(binary, [`--config.file=${join(dir, 'prometheus.yaml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${PORT}`], {
    detached: true,
    stdio: ['ignore', log, log],
  });
  child.unref();
  writeFileSync(pidFile, String(child.pid));
  const deadline = Date.now() + 30_000;
  while (!(await fetch(`${url}/-/ready`).then((r) => r.ok, () => false))) {
    if (Date.now() > deadline) throw new Error(`Prometheus did not get ready; log: ${join(dir, 'prometheus.log')}`);
    await new Promise((r) => setTimeout(r, 500));
  }
  console.log(`Prometheus ${url} scrapes the operator (${OPERATOR_METRICS}) with the chart's alert rules, waits shortened (log: ${join(dir, 'prometheus.log')})
  alerts:   curl -s ${url}/api/v1/alerts       (Debian's prometheus ships no web UI: its HTTP API, or Grafana on it)
  targets:  curl -s ${url}/api/v1/targets
  a query:  curl -s '${url}/api/v1/query?query=token_operator_token_ready_status'
  see one fire: break the GNAP simulator, then ask for a rotation that will fail:
    curl -s -X POST http://127.0.0.1:18083/_sim/faults -H 'content-type: application/json' -d '{"kind":"request_denied","count":1000}'
    npm run cli -- rotate ilp-outgoing -k at -n token-demo
  TokenOperatorTokenNotReady goes pending, then firing 30 s later (runbooks: docs/runbooks.md);
  mend it with: curl -s -X DELETE http://127.0.0.1:18083/_sim/faults`);
}

if (process.argv[2] === 'down') stop();
else await up();
