import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/runtime/logger.js';

const SENTINEL = 'S3NT1NEL-credential-value';

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      cb();
    },
  });
  const log = createLogger({ level: 'trace', destination });
  return { log, lines, text: () => lines.join('\n') };
}

describe('logger redaction', () => {
  it.each([
    ['token', { token: SENTINEL }],
    ['accessToken', { accessToken: SENTINEL }],
    ['access_token', { access_token: SENTINEL }],
    ['refreshToken', { refreshToken: SENTINEL }],
    ['refresh_token', { refresh_token: SENTINEL }],
    ['id_token', { id_token: SENTINEL }],
    ['bearerToken', { bearerToken: SENTINEL }],
    ['activationLink', { activationLink: `https://x/${SENTINEL}` }],
    ['client_secret', { client_secret: SENTINEL }],
    ['clientSecret', { clientSecret: SENTINEL }],
    ['password', { password: SENTINEL }],
    ['privateKey', { privateKey: SENTINEL }],
    ['authorization', { authorization: `Bearer ${SENTINEL}` }],
    ['authorizationToken', { authorizationToken: SENTINEL }],
    ['manageUrl', { manageUrl: SENTINEL }],
    ['Secret data', { data: { key: SENTINEL } }],
    ['one level down', { profile: { bearerToken: SENTINEL, endpoint: 'https://x' } }],
    ['two levels down', { response: { body: { access_token: SENTINEL } } }],
    ['three levels down', { a: { b: { c: { password: SENTINEL } } } }],
    ['inside an array', { tokens: [{ token: SENTINEL }] }],
    ['an Authorization header', { headers: { Authorization: `Bearer ${SENTINEL}` } }],
    ['a request header', { req: { headers: { authorization: `Bearer ${SENTINEL}` } } }],
    ['a Privicore header', { headers: { 'X-DPT-AUTHORIZATION': SENTINEL } }],
    ['a cookie', { headers: { cookie: `session=${SENTINEL}` } }],
    ['camel and snake variants', { credentials: { Client_Secret: SENTINEL, RefreshToken: SENTINEL } }],
  ])('never writes %s', (_what, obj) => {
    const { log, text } = capture();
    log.info(obj, 'something happened');
    log.error(obj);
    expect(text()).not.toContain(SENTINEL);
    expect(text()).toContain('[redacted]');
  });

  it('redacts child-logger bindings too', () => {
    const { log, text } = capture();
    const child = log.child({ kind: 'AccessToken', token: SENTINEL, nested: { refresh_token: SENTINEL } });
    child.info('reconciling');
    expect(text()).not.toContain(SENTINEL);
    expect(text()).toContain('AccessToken');
  });

  it('keeps what is safe to read', () => {
    const { log, lines } = capture();
    log.info({ kind: 'DeltaShareToken', namespace: 'analytics', name: 'dds', tokenId: 'tok-1', expiresAt: '2027-01-01T00:00:00Z', attempts: 2 }, 'rotated');
    const line = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(line).toMatchObject({ kind: 'DeltaShareToken', namespace: 'analytics', name: 'dds', tokenId: 'tok-1', attempts: 2, msg: 'rotated', level: 'info' });
  });

  it('does not mutate the logged object', () => {
    const { log } = capture();
    const obj = { a: { token: SENTINEL }, password: SENTINEL };
    log.info(obj);
    expect(obj).toEqual({ a: { token: SENTINEL }, password: SENTINEL });
  });

  it('still serializes errors', () => {
    const { log, lines } = capture();
    log.error({ err: new Error('boom') }, 'failed');
    const line = JSON.parse(lines[0]!) as { err?: { message?: string; type?: string } };
    expect(line.err).toMatchObject({ message: 'boom', type: 'Error' });
  });

  it('survives cyclic objects', () => {
    const { log, text } = capture();
    const a: Record<string, unknown> = { token: SENTINEL };
    a.self = a;
    log.info({ a }, 'cyclic');
    expect(text()).not.toContain(SENTINEL);
  });
});
