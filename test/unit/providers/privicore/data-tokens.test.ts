import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { reservationTtlOnWire } from '../../../../src/providers/privicore/index.js';
import { harness, providerError } from './harness.js';

describe('privicore data tokens', () => {
  it('tokenize then resolve round-trips the exact bytes', async () => {
    const { sim, provider } = await harness();
    const data = Buffer.concat([Buffer.from([0, 255, 128, 10, 13]), randomBytes(2048)]);
    const { token } = await provider.tokenize({ data, context: 'analytics.reports', fileName: 'key.pem' });
    expect(token).toMatch(/^dtk-/);
    const stored = sim.state.dataTokens.get(token);
    expect(stored).toMatchObject({ context: 'analytics.reports', fileName: 'key.pem', extension: 'pem', size: data.length });
    const resolved = await provider.resolve({ token });
    expect(resolved.data.equals(data)).toBe(true);
  });

  it('reads both configure-file-meta answers (object and bare string)', async () => {
    const { provider } = await harness();
    const a = await provider.tokenize({ data: Buffer.from('one'), context: 'c' });
    const b = await provider.tokenize({ data: Buffer.from('two'), context: 'c' });
    expect([a.token, b.token].every((t) => t.startsWith('dtk-'))).toBe(true);
    expect((await provider.resolve(b)).data.toString()).toBe('two');
  });

  it('sends the reservation ttl in the configured unit (minutes by default)', async () => {
    expect(reservationTtlOnWire(300, 'minutes')).toBe(5);
    expect(reservationTtlOnWire(90, 'minutes')).toBe(2);
    expect(reservationTtlOnWire(300, 'seconds')).toBe(300);
    const { sim, provider } = await harness();
    const { reservationId } = await provider.reserveTokenSpace('units');
    expect(sim.state.reservations.get(reservationId)?.ttl).toBe(5);
  });

  it('names the ttl field (not its value) when the server refuses a ttl over its limit', async () => {
    // The probe saw `300` refused: a seconds-speaking client against a minutes server.
    const { provider } = await harness({ provider: { reservationTtlUnit: 'seconds' } });
    const err = await providerError(provider.reserveTokenSpace('units', 300));
    expect(err.kind).toBe('Invalid');
    expect(err.status).toBe(422);
    expect(err.message).toBe('reserveTokenSpace: HTTP 4xx (field ttl)');
  });

  it('speaks seconds to a seconds server', async () => {
    const { sim, provider } = await harness({
      sim: { settings: { reservationTtlUnit: 'seconds', maxReservationTtl: 3600 } },
      provider: { reservationTtlUnit: 'seconds' },
    });
    const { token } = await provider.tokenize({ data: Buffer.from('s'), context: 'secs' });
    expect(token).toMatch(/^dtk-/);
    expect([...sim.state.reservations.values()][0]?.ttl).toBe(300);
  });

  it('retries retrieve-temporary-data-token on 404 while the reservation settles', async () => {
    const { sim, provider, calls } = await harness({ sim: { commandDelayMs: 60 } });
    const auth = await provider.authorization();
    const res = await fetch(`${sim.url}/data-token/reserve-token-space`, {
      method: 'POST',
      headers: { 'x-dpt-authorization': auth.authorizationToken },
      body: new URLSearchParams({ context: 'settle' }),
    });
    const [reservationId] = [...sim.state.reservations.keys()];
    expect(res.status).toBe(202);
    const temporary = await provider.retrieveTemporaryToken(reservationId ?? '');
    expect(temporary.token).toMatch(/^tdt-/);
    expect(temporary.stream).toMatch(/^auth=/);
    expect(calls('GET /data-token/retrieve-temporary-data-token/:id')).toBeGreaterThan(1);
  });

  it('gives up on a reservation that never appears as NotFound', async () => {
    const { provider } = await harness({ provider: { polling: { intervalMs: 5, maxIntervalMs: 10, commandTimeoutMs: 500, settleTimeoutMs: 50 } } });
    expect((await providerError(provider.retrieveTemporaryToken('no-such-reservation'))).kind).toBe('NotFound');
  });

  it('a temporary token expires with its ttl', async () => {
    const { provider, clock } = await harness({
      provider: { polling: { intervalMs: 5, maxIntervalMs: 10, commandTimeoutMs: 500, settleTimeoutMs: 30 } },
    });
    const { reservationId } = await provider.reserveTokenSpace('expiring', 60); // 1 minute
    const temporary = await provider.retrieveTemporaryToken(reservationId);
    clock.advance(60_000);
    const err = await providerError(provider.exchangeDataForToken(temporary.token, Buffer.from('late').toString('base64')));
    expect(err.kind).toBe('NotFound');
    expect(err.message).not.toContain(temporary.token);
    expect((await providerError(provider.retrieveTemporaryToken(reservationId))).kind).toBe('NotFound');
  });

  it('a filled reservation that is never configured expires too', async () => {
    const { provider, clock } = await harness();
    const { reservationId } = await provider.reserveTokenSpace('unconfigured', 60);
    const temporary = await provider.retrieveTemporaryToken(reservationId);
    await provider.exchangeDataForToken(temporary.token, Buffer.from('x').toString('base64'));
    clock.advance(61_000);
    const meta = { fileName: 'x.bin', extension: 'bin', context: 'unconfigured', size: 1, path: '/' };
    expect((await providerError(provider.configureFileMeta(temporary.token, meta))).kind).toBe('NotFound');
  });

  it('delete then resolve → NotFound; removing again is not an error', async () => {
    const { provider } = await harness();
    const { token } = await provider.tokenize({ data: Buffer.from('to be deleted'), context: 'tmp' });
    await provider.remove({ token });
    const err = await providerError(provider.resolve({ token }));
    expect(err.kind).toBe('NotFound');
    expect(err.message).toBe('requestData: HTTP 4xx');
    await expect(provider.remove({ token })).resolves.toBeUndefined();
    expect((await providerError(provider.deleteData(token))).kind).toBe('NotFound');
  });

  it('lists and updates data tokens', async () => {
    const { provider } = await harness();
    const a = await provider.tokenize({ data: Buffer.from('a'), context: 'first' });
    const b = await provider.tokenize({ data: Buffer.from('b'), context: 'second' });
    const page = await provider.listDataTokens(1, 1);
    expect(page.meta).toEqual({ count: 2, page: 1, perPage: 1 });
    expect(page.items.map((i) => i.token)).toEqual([a.token]);
    await provider.updateDataToken(b.token, { context: 'renamed' });
    const all = await provider.listDataTokens(1, 25);
    expect(all.items.find((i) => i.token === b.token)?.context).toBe('renamed');
    expect((await providerError(provider.listDataTokens(1, 1000))).message).toBe(
      'listDataTokens: HTTP 4xx (field perPage)',
    );
  });

  it('download links are single-use (a reused link is Retryable: ask for the data again)', async () => {
    const { provider } = await harness();
    const { token } = await provider.tokenize({ data: Buffer.from('once'), context: 'dl' });
    const { downloadUrl, requestId } = await provider.requestData(token);
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect((await provider.download(downloadUrl)).toString()).toBe('once');
    const err = await providerError(provider.download(downloadUrl));
    expect(err.kind).toBe('Retryable');
    expect(err.code).toBe('download_link_invalid');
    expect(err.message).not.toContain(new URL(downloadUrl).searchParams.get('auth') ?? 'x');
  });

  it('refuses empty input before calling Privicore', async () => {
    const { provider, calls } = await harness();
    expect((await providerError(provider.tokenize({ data: Buffer.alloc(0), context: 'c' }))).kind).toBe('Invalid');
    expect((await providerError(provider.tokenize({ data: Buffer.from('x'), context: ' ' }))).kind).toBe('Invalid');
    expect(calls('POST /profile/authenticate')).toBe(0);
  });
});
