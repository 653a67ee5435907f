import { describe, expect, it } from 'vitest';
import type { HttpResponse } from '../../../../src/providers/http.js';
import { commandIdFrom, readCommandStatus } from '../../../../src/providers/privicore/index.js';
import { harness, providerError } from './harness.js';

const answer = (text: string, status = 202): HttpResponse => ({ status, headers: new Headers(), text });

describe('command ids (three 202 body shapes)', () => {
  it.each([
    ['a bare JSON string', '"6f1c2d3e-0000-4000-8000-000000000001"'],
    ['a one-element array', '["6f1c2d3e-0000-4000-8000-000000000001"]'],
    ['an object', '{"commandId":"6f1c2d3e-0000-4000-8000-000000000001"}'],
    ['unquoted text', '6f1c2d3e-0000-4000-8000-000000000001\n'],
  ])('reads %s', (_shape, text) => {
    expect(commandIdFrom(answer(text), 'call')).toBe('6f1c2d3e-0000-4000-8000-000000000001');
  });

  it.each([['{"unexpected":'], ['{}'], ['[]'], [''], ['<html>oops</html>'], ['[42]']])('rejects %j as BadResponse', (text) => {
    expect(() => commandIdFrom(answer(text), 'reserveTokenSpace')).toThrow(
      expect.objectContaining({ kind: 'BadResponse', message: 'reserveTokenSpace: no command id in the HTTP 2xx answer' }),
    );
  });
});

describe('command status bodies', () => {
  it.each([
    ['started', 'pending'],
    [['succeeded'], 'succeeded'],
    ['rejected', 'failed'],
    [{ command_status: 1 }, 'pending'],
    [{ command_status: '2', body: 'ok' }, 'succeeded'],
    [{ command_status: 3, body: 'nope' }, 'failed'],
    [2, 'succeeded'],
  ])('reads %j as %s', (body, state) => {
    expect(readCommandStatus(body)?.state).toBe(state);
  });

  it('keeps the body and output type of an object status', () => {
    expect(readCommandStatus({ id: 'x', command_status: 2, body: 'https://dl/?auth=1', output_type: 1 })).toEqual({
      state: 'succeeded',
      body: 'https://dl/?auth=1',
      outputType: 1,
    });
  });

  it.each([['weird'], [{ foo: 1 }], [null], [{ command_status: 9 }]])('does not guess at %j', (body) => {
    expect(readCommandStatus(body)).toBeUndefined();
  });
});

describe('waitForCommand against the simulator', () => {
  it('polls POST /request-status until the command succeeds', async () => {
    const { provider, calls } = await harness({ sim: { commandDelayMs: 40 } });
    await provider.reserveTokenSpace('reports');
    expect(calls('POST /request-status/:id')).toBeGreaterThan(1);
    expect(calls('GET /request-status/:id')).toBe(0);
  });

  it('waits before its first look: a command that settles within the first pause costs one status poll', async () => {
    const { provider, calls } = await harness({
      sim: { commandDelayMs: 20 },
      provider: { polling: { intervalMs: 60, maxIntervalMs: 100, commandTimeoutMs: 2_000, settleTimeoutMs: 500 } },
    });
    await provider.reserveTokenSpace('reports');
    expect(calls('POST /request-status/:id')).toBe(1);
  });

  it('falls back to GET when POST is not allowed (official docs dialect) and stays there', async () => {
    const { provider, calls } = await harness({ sim: { settings: { dialect: 'docs' } } });
    const { token } = await provider.tokenize({ data: Buffer.from('hello'), context: 'docs/dialect' });
    expect(token).toMatch(/^dtk-/);
    expect(calls('POST /request-status/:id')).toBe(1);
    expect(calls('GET /request-status/:id')).toBeGreaterThan(1);
  });

  it('turns a rejected command into Invalid with the reason', async () => {
    const { sim, provider } = await harness();
    sim.faults.rejectCommands = 1;
    sim.faults.rejectReason = 'Storage quota exceeded';
    const err = await providerError(provider.reserveTokenSpace('reports'));
    expect(err.kind).toBe('Invalid');
    expect(err.code).toBe('rejected');
    expect(err.message).toBe('reserveTokenSpace: command rejected (Storage quota exceeded)');
  });

  it('gives up after the command timeout as Retryable', async () => {
    const { provider } = await harness({
      sim: { commandDelayMs: 60_000 },
      provider: { polling: { intervalMs: 5, maxIntervalMs: 20, commandTimeoutMs: 150, settleTimeoutMs: 100 } },
    });
    const started = performance.now();
    const err = await providerError(provider.reserveTokenSpace('slow'));
    expect(err.kind).toBe('Retryable');
    expect(err.code).toBe('command_timeout');
    expect(err.message).toBe('reserveTokenSpace: command still pending after 0.15s');
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it('resumes waiting on a known command id (e.g. after a restart)', async () => {
    const { sim, provider } = await harness({ sim: { commandDelayMs: 30 } });
    const auth = await provider.authorization();
    const res = await fetch(`${sim.url}/data-token/reserve-token-space`, {
      method: 'POST',
      headers: { 'x-dpt-authorization': auth.authorizationToken },
      body: new URLSearchParams({ context: 'resume', ttl: '5' }),
    });
    const id = commandIdFrom(answer(await res.text(), res.status), 'test');
    await expect(provider.waitForCommand(id)).resolves.toMatchObject({ commandId: id });
    expect((await provider.retrieveTemporaryToken(id)).token).toMatch(/^tdt-/);
  });

  it('reports an unknown command id as NotFound', async () => {
    const { provider } = await harness();
    expect((await providerError(provider.waitForCommand('00000000-0000-0000-0000-000000000000'))).kind).toBe('NotFound');
  });
});
