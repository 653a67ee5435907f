import { describe, expect, it } from 'vitest';
import type { HttpClient } from '../../../../src/providers/http.js';
import { ProviderError } from '../../../../src/providers/errors.js';
import { PASSWORD, USERNAME, harness, providerError } from './harness.js';

describe('privicore error mapping', () => {
  it('5xx → Retryable', async () => {
    const { sim, provider } = await harness();
    await provider.authorization();
    sim.faults.serverErrors = 1;
    const err = await providerError(provider.listDataTokens());
    expect(err.kind).toBe('Retryable');
    expect(err.status).toBe(503);
    await expect(provider.listDataTokens()).resolves.toMatchObject({ items: [] });
  });

  it('429 → RateLimited with Retry-After', async () => {
    const { sim, provider } = await harness();
    sim.faults.rateLimits = 1;
    sim.faults.retryAfterSeconds = 7;
    const err = await providerError(provider.authorization());
    expect(err.kind).toBe('RateLimited');
    expect(err.retryAfterMs).toBe(7_000);
  });

  it('malformed bodies → BadResponse (JSON answers, 202 answers, status polls, downloads)', async () => {
    const { sim, provider } = await harness();
    const { token } = await provider.tokenize({ data: Buffer.from('m'), context: 'm' });
    for (const [path, call] of [
      ['/data-token/list-data-tokens', () => provider.listDataTokens()],
      ['/data-token/reserve-token-space', () => provider.reserveTokenSpace('m')],
      ['/request-status/', () => provider.reserveTokenSpace('m')],
      ['/download', () => provider.resolve({ token })],
    ] as const) {
      sim.faults.path = path;
      sim.faults.malformed = 1;
      const err = await providerError(call());
      expect(err.kind, path).toBe('BadResponse');
    }
  });

  it('a request that never answers → Retryable (timed out)', async () => {
    const { sim, provider } = await harness({ provider: { requestTimeoutMs: 100 } });
    sim.faults.timeouts = 1;
    sim.faults.hangMs = 5_000;
    const err = await providerError(provider.authorization());
    expect(err.kind).toBe('Retryable');
    expect(err.message).toBe('authenticate: timed out');
  });

  it('403 → Unauthorized without a re-login; 404 → NotFound', async () => {
    let logins = 0;
    const http: HttpClient = async (req) => {
      if (req.url.endsWith('/profile/authenticate')) {
        logins += 1;
        return { status: 200, headers: new Headers(), text: '{"authorizationToken":"T-x","expiresAt":"2030-01-01T00:00:00+00:00"}' };
      }
      if (req.url.includes('list-data-tokens')) return { status: 403, headers: new Headers(), text: '{"message":"Forbidden"}' };
      return { status: 404, headers: new Headers(), text: '' };
    };
    const { provider } = await harness({ http });
    const forbidden = await providerError(provider.listDataTokens());
    expect(forbidden.kind).toBe('Unauthorized');
    expect(forbidden.message).toBe('listDataTokens: HTTP 4xx');
    expect(logins).toBe(1);
    expect((await providerError(provider.requestData('dtk-x'))).kind).toBe('NotFound');
  });

  it('no error message carries the password, the authorization token or the data', async () => {
    const data = Buffer.from('pw=hunter2');
    const b64 = data.toString('base64');
    const { sim, provider } = await harness();
    const auth = await provider.authorization();
    const secrets = [PASSWORD, auth.authorizationToken, b64, data.toString()];
    const errors: ProviderError[] = [];

    // the server echoes every secret in a rejection reason
    sim.faults.path = '/data-token/exchange-data-for-token';
    sim.faults.rejectCommands = 1;
    sim.faults.rejectReason = `bad payload ${b64} (${data.toString()}) from ${USERNAME}/${PASSWORD} via ${auth.authorizationToken}`;
    errors.push(await providerError(provider.tokenize({ data, context: 'secrets' })));
    delete sim.faults.path;

    errors.push(await providerError(provider.authenticate(USERNAME, `${PASSWORD}-wrong`)));
    errors.push(await providerError(provider.reauthorize(auth.authorizationToken, 10 ** 9)));
    sim.faults.serverErrors = 1;
    errors.push(await providerError(provider.tokenize({ data, context: 'secrets' })));
    sim.faults.malformed = 1;
    errors.push(await providerError(provider.tokenize({ data, context: 'secrets' })));
    sim.faults.rateLimits = 1;
    errors.push(await providerError(provider.resolve({ token: 'dtk-nope' })));
    await provider.revoke(auth.authorizationToken);
    errors.push(await providerError(provider.retrieveExpiry(auth.authorizationToken)));

    expect(errors[0]?.kind).toBe('Invalid');
    expect(errors[0]?.message).toContain('exchangeDataForToken: command rejected (bad payload [redacted]');
    for (const err of errors) {
      for (const text of [err.message, err.code ?? '', String(err.stack)]) {
        for (const secret of secrets) expect(text, `${err.call}: ${err.message}`).not.toContain(secret);
      }
    }
  });
});
