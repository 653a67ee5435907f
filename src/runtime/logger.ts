import { pino, type Logger, type LoggerOptions } from 'pino';

/**
 * Every field name that can ever carry a credential. Code should not log these at all;
 * this list is the second line of defence, checked by the no-leak tests.
 */
export const REDACT_PATHS = [
  'token',
  'accessToken',
  'access_token',
  'refreshToken',
  'refresh_token',
  'bearerToken',
  'activationLink',
  'activation_link',
  'clientSecret',
  'client_secret',
  'password',
  'privateKey',
  'authorization',
  'authorizationToken',
  'manageUrl',
  'data',
  'headers.authorization',
  'req.headers.authorization',
  '*.token',
  '*.accessToken',
  '*.access_token',
  '*.refreshToken',
  '*.refresh_token',
  '*.bearerToken',
  '*.clientSecret',
  '*.client_secret',
  '*.password',
  '*.privateKey',
  '*.authorizationToken',
  '*.manageUrl',
  '*.data',
];

const CENSOR = '[redacted]';

// pino's paths match at fixed depths only ("*.token" is one level down), so the same names
// are also censored at any depth, in any spelling (Authorization, client-secret, Client_Secret).
const normalize = (key: string) => key.toLowerCase().replace(/[-_]/g, '');
const SENSITIVE_KEYS = new Set(
  [
    ...REDACT_PATHS.map((p) => p.split('.').pop()!),
    'id_token',
    'private_key',
    'manage_url',
    'x-dpt-authorization', // Privicore's authorization header
    'proxy-authorization',
    'cookie',
    'set-cookie',
  ].map(normalize),
);

/** A copy of `value` with every sensitive key censored at any depth; unchanged parts are shared. */
export function redactDeep(value: unknown, seen: WeakSet<object> = new WeakSet(), depth = 0): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (seen.has(value)) return '[Circular]'; // never hand an unredacted copy to the stringifier
  const proto = Object.getPrototypeOf(value) as unknown;
  const plain = Array.isArray(value) || proto === Object.prototype || proto === null;
  if (!plain || depth > 32) return value; // Errors, Dates, Buffers: left to pino's serializers
  seen.add(value);
  let out: Record<string, unknown> | unknown[] | undefined;
  for (const [k, v] of Object.entries(value)) {
    const r = !Array.isArray(value) && SENSITIVE_KEYS.has(normalize(k)) ? CENSOR : redactDeep(v, seen, depth + 1);
    if (r !== v) {
      out ??= Array.isArray(value) ? [...value] : { ...(value as Record<string, unknown>) };
      (out as Record<string, unknown>)[k] = r;
    }
  }
  seen.delete(value); // the same object twice side by side is not a cycle
  return out ?? value;
}

export function createLogger(opts: { level?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  const options: LoggerOptions = {
    level: opts.level ?? process.env.LOG_LEVEL ?? 'info',
    base: { component: 'token-operator' },
    redact: { paths: REDACT_PATHS, censor: CENSOR },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: {
      level: (label) => ({ level: label }),
      log: (obj) => redactDeep(obj) as Record<string, unknown>,
      bindings: (bindings) => redactDeep(bindings) as Record<string, unknown>,
    },
  };
  return opts.destination ? pino(options, opts.destination as pino.DestinationStream) : pino(options);
}
