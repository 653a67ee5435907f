import { describe, expect, it } from 'vitest';
import { DdsTokenSchema, listDdsTokens, revokeAllDdsTokens, rotateDdsTokens } from '../../../../src/providers/dds/dds-api.js';
import { TWO_TOKEN_CEILING } from '../../../../src/providers/dds/index.js';
import { HOUR_S, rejection, startWorld } from './world.js';

const DAY_MS = 24 * 3600 * 1000;

describe('DdsTokenSchema', () => {
  it('reads epoch ms, epoch seconds, numeric strings and ISO; tolerates odd values', () => {
    const parse = (v: unknown) => DdsTokenSchema.parse(v);
    expect(
      parse({ id: 7, status: 'active', activation_link: 'None', created_at: 1767225600000, expiration_time: '1775001600', extra: { a: 1 } }),
    ).toEqual({
      id: '7',
      status: 'ACTIVE',
      activationLink: null,
      createdAt: new Date('2026-01-01T00:00:00Z'),
      expirationTime: new Date('2026-04-01T00:00:00Z'),
    });
    expect(parse({ status: 'EXPIRED', activation_url: 'https://x/y', created_at: '2026-01-01T00:00:00Z', expiration_time: 'soon' })).toEqual({
      id: undefined,
      status: 'EXPIRED',
      activationLink: 'https://x/y',
      createdAt: new Date('2026-01-01T00:00:00Z'),
      expirationTime: undefined,
    });
    expect(parse({ status: 'ROTATED' })).toEqual({
      id: undefined,
      status: 'ROTATED',
      activationLink: null,
      createdAt: undefined,
      expirationTime: undefined,
    });
    expect(DdsTokenSchema.safeParse({ id: 'x' }).success).toBe(false); // status is the one field Zalando documents
  });
});

describe('DDS /dds-tokens against the simulator', () => {
  it('shows one ACTIVE token with an activation link on a fresh account', async () => {
    const { clock, sim, provider, account } = await startWorld();
    const tokens = await provider.listTokens(account);
    expect(tokens).toHaveLength(1);
    expect(tokens[0]).toMatchObject({ id: sim.state.tokens[0]!.id, status: 'ACTIVE', createdAt: clock.now() });
    expect(tokens[0]!.activationLink).toContain(sim.url);
    expect(tokens[0]!.expirationTime!.getTime() - clock.now().getTime()).toBe(90 * DAY_MS);
  });

  it('accepts an {items} envelope and ISO timestamps', async () => {
    const { clock, provider, account } = await startWorld({ settings: { listEnvelope: 'items', timestampFormat: 'iso' } });
    const [token] = await provider.listTokens(account);
    expect(token).toMatchObject({ status: 'ACTIVE', createdAt: clock.now() });
    expect(token!.expirationTime).toBeInstanceOf(Date);
  });

  it('rotates with an overlap, after which the old bearer token is refused', async () => {
    const { clock, sim, provider, account } = await startWorld();
    const [first] = await provider.listTokens(account);
    const oldProfile = await provider.activate(first!.activationLink!);

    const tokens = await provider.rotate(account, HOUR_S);
    expect(tokens.map((t) => t.status)).toEqual(['ACTIVE', 'ROTATED']);
    expect(tokens[1]).toMatchObject({ id: first!.id, activationLink: null });
    expect(tokens[1]!.expirationTime!.getTime()).toBe(clock.now().getTime() + HOUR_S * 1000);
    const newProfile = await provider.activate(tokens[0]!.activationLink!);

    clock.advance(HOUR_S * 1000 - 1);
    await expect(provider.verify(oldProfile)).resolves.toBeDefined();
    clock.advance(1);
    expect(await rejection(provider.verify(oldProfile))).toMatchObject({ kind: 'Unauthorized', status: 401 });
    await expect(provider.verify(newProfile)).resolves.toBeDefined();
    expect(await provider.listTokens(account)).toHaveLength(1);
    expect(sim.state.patchZeroCalls).toBe(0);
  });

  it.each([400, 409] as const)('reports the two-token ceiling (HTTP %i) as Conflict until the rotated token expires', async (ceilingStatus) => {
    const { clock, provider, account } = await startWorld({ settings: { ceilingStatus } });
    await provider.rotate(account, 2 * HOUR_S);
    clock.advance(HOUR_S * 1000);

    const e = await rejection(provider.rotate(account, HOUR_S));
    expect(e).toMatchObject({ kind: 'Conflict', code: TWO_TOKEN_CEILING, status: ceilingStatus, retryAfterMs: HOUR_S * 1000 });

    clock.advance(HOUR_S * 1000);
    await expect(provider.rotate(account, HOUR_S)).resolves.toHaveLength(2);
  });

  it('recognises the ceiling from the response alone', async () => {
    const { sim, http, provider, account } = await startWorld();
    await provider.rotate(account, HOUR_S);
    const res = await fetch(`${sim.url}/auth/token`, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: 'demo-client', client_secret: 'demo-secret' }),
    });
    const { access_token: accessToken } = (await res.json()) as { access_token: string };
    const e = await rejection(rotateDdsTokens({ http, apiUrl: sim.url, accessToken }, 60));
    expect(e).toMatchObject({ kind: 'Conflict', code: TWO_TOKEN_CEILING, status: 400 });
  });

  it('maps a negative TTL to Invalid, not Conflict', async () => {
    const { provider, account } = await startWorld();
    expect(await rejection(provider.rotate(account, -1))).toMatchObject({ kind: 'Invalid' });
    expect(await rejection(provider.rotate(account, 1.5))).toMatchObject({ kind: 'Invalid' });
  });

  it('revokes everything with PATCH 0; POST then issues a fresh token', async () => {
    const { sim, provider, account } = await startWorld();
    const [first] = await provider.listTokens(account);
    const profile = await provider.activate(first!.activationLink!);
    await provider.rotate(account, HOUR_S);

    await expect(provider.revokeAll(account)).resolves.toEqual([]);
    expect(sim.state.patchZeroCalls).toBe(1);
    expect(await provider.listTokens(account)).toEqual([]);
    expect(await rejection(provider.verify(profile))).toMatchObject({ kind: 'Unauthorized' });

    const fresh = await provider.rotate(account, HOUR_S);
    expect(fresh).toHaveLength(1);
    expect(fresh[0]).toMatchObject({ status: 'ACTIVE' });
    expect(fresh[0]!.activationLink).not.toBeNull();
  });

  it('maps 429 to RateLimited with Retry-After', async () => {
    const { sim, provider, account } = await startWorld();
    sim.faults.inject('dds-tokens.get', { kind: 'rateLimit', retryAfterSeconds: 42 });
    expect(await rejection(provider.listTokens(account))).toMatchObject({ kind: 'RateLimited', status: 429, retryAfterMs: 42_000 });
  });

  it('maps 5xx and timeouts to Retryable', async () => {
    const { sim, provider, account } = await startWorld({ timeoutMs: 1_000 });
    sim.faults.inject('dds-tokens.post', { kind: 'status', status: 503 });
    expect(await rejection(provider.rotate(account, HOUR_S))).toMatchObject({ kind: 'Retryable', status: 503 });
    sim.faults.inject('dds-tokens.patch', { kind: 'hang' });
    expect(await rejection(provider.revokeAll(account))).toMatchObject({ kind: 'Retryable', message: 'revoke-tokens: timed out' });
    expect(sim.state.patchZeroCalls).toBe(0);
  });

  it('maps malformed and oversized bodies to BadResponse', async () => {
    const { sim, provider, account } = await startWorld();
    sim.faults.inject('dds-tokens.get', { kind: 'malformed' });
    expect(await rejection(provider.listTokens(account))).toMatchObject({ kind: 'BadResponse' });
    sim.faults.inject('dds-tokens.get', { kind: 'oversized' });
    expect(await rejection(provider.listTokens(account))).toMatchObject({ kind: 'BadResponse' });
  });

  it('maps 403 to Unauthorized with the scope hint', async () => {
    const { sim, provider, account } = await startWorld();
    sim.faults.inject('dds-tokens.get', { kind: 'status', status: 403 });
    const e = await rejection(provider.listTokens(account));
    expect(e).toMatchObject({ kind: 'Unauthorized', status: 403 });
    expect(e.message).toContain('dds scope');
  });
});

describe('DDS list envelopes', () => {
  const reply = (text: string, status = 200) => async () => ({ status, headers: new Headers(), text });
  const call = (text: string, status?: number) => ({ http: reply(text, status), apiUrl: 'http://127.0.0.1:9', accessToken: 'at' });

  it('reads a bare array, {items}, {items: null} and an empty body', async () => {
    const token = { id: 'a', status: 'ACTIVE', activation_link: null };
    await expect(listDdsTokens(call(JSON.stringify([token])))).resolves.toHaveLength(1);
    await expect(listDdsTokens(call(JSON.stringify({ items: [token], next: 'x' })))).resolves.toHaveLength(1);
    await expect(revokeAllDdsTokens(call(JSON.stringify({ items: null })))).resolves.toEqual([]);
    await expect(revokeAllDdsTokens(call('', 204))).resolves.toEqual([]);
  });

  it('does not read a lone token object as an empty list', async () => {
    const e = await rejection(listDdsTokens(call(JSON.stringify({ id: 'a', status: 'ACTIVE' }))));
    expect(e).toMatchObject({ kind: 'BadResponse' });
  });
});
