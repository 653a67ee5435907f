import { setFlagsFromString } from 'node:v8';
import { loadConfig } from './config.js';
import { startOperator } from './operator.js';
import { createLogger } from './runtime/logger.js';

const config = loadConfig();
// Set before the caches fill: V8 reads it at each GC, so it governs every later heap growth.
if (config.heapGrowingPercent > 0) setFlagsFromString(`--heap-growing-percent=${config.heapGrowingPercent}`);
const logger = createLogger({ level: config.logLevel });
const operator = await startOperator(config, { logger, globalEgress: true });

let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    operator
      .stop()
      .then(() => process.exit(0))
      .catch(() => process.exit(1));
    setTimeout(() => process.exit(1), 20_000).unref();
  });
}
