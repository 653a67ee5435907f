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

export function createLogger(opts: { level?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  const options: LoggerOptions = {
    level: opts.level ?? process.env.LOG_LEVEL ?? 'info',
    base: { component: 'token-operator' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  };
  return opts.destination ? pino(options, opts.destination as pino.DestinationStream) : pino(options);
}
