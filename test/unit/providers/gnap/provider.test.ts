import { generateKeyPairSync } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { ProviderError } from '../../../../src/providers/errors.js';
import { createGnapProvider, type GnapTokenRef } from '../../../../src/providers/gnap/index.js';
import type { HttpClient } from '../../../../src/providers/http.js';
import { ManualClock } from '../../../../src/schedule/clock.js';
import { gnapFixture, KEY_ID, newEd25519Pem } from './fixture.js';

type Fixture = Awaited<ReturnType<typeof gnapFixture>>;
let fx: Fixture | undefined;
afterEach(async () => {
  await fx?.sim.close();
  fx = undefined;
});
async function setup(opts: Parameters<typeof gnapFixture>[0] = {}): Promise<Fixture> {
  fx = await gnapFixture(opts);
  return fx;
}

async function failure(p: Promise<unknown>): Promise<ProviderError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(ProviderError);
  return e as ProviderError;
}

describe('rotate', () => {
  it('returns a new value and manage URL; the old token dies at once', async () => {
    const clock = new ManualClock('2026-03-01T10:00:00Z');
    const { provider, issue, resourceStatus } = await setup({ clock });
    const ref = issue();
    expect(await resourceStatus(ref.accessToken)).toBe(200);

    const rotated = await provider.rotate(ref);

    expect(rotated.value).not.toBe(ref.accessToken);
    expect(rotated.manage).not.toBe(ref.manageUrl);
    expect(rotated.expiresIn).toBe(600);
    expect(rotated.expiresAt).toEqual(new Date('2026-03-01T10:10:00Z'));
    expect(rotated.access).toEqual([
      { type: 'outgoing-payment', actions: ['create', 'read'], identifier: ref.walletAddressUrl },
    ]);
    expect(await resourceStatus(ref.accessToken)).toBe(401);
    expect(await resourceStatus(rotated.value)).toBe(200);
  });

  it('rotates many times in a row, with a new manage URL each time and one live token', async () => {
    const { provider, issue, resourceStatus, sim } = await setup();
    let ref = issue();
    const manageUrls = new Set([ref.manageUrl]);
    const values = [ref.accessToken];
    for (let i = 0; i < 12; i++) {
      const next = await provider.rotate(ref);
      manageUrls.add(next.manage);
      values.push(next.value);
      ref = { ...ref, accessToken: next.value, manageUrl: next.manage };
    }
    expect(manageUrls.size).toBe(13);
    expect(new Set(values).size).toBe(13);
    expect([...sim.state.tokens.values()].filter((t) => sim.isLive(t))).toHaveLength(1);
    for (const old of values.slice(0, -1)) expect(await resourceStatus(old)).toBe(401);
    expect(await resourceStatus(ref.accessToken)).toBe(200);
  });

  it('cannot rotate with a token that was already rotated (401 invalid_client → Unauthorized)', async () => {
    const { provider, issue } = await setup();
    const ref = issue();
    await provider.rotate(ref);
    const e = await failure(provider.rotate(ref));
    expect(e.kind).toBe('Unauthorized');
    expect(e.code).toBe('invalid_client');
    expect(e.status).toBe(401);
  });

  it('still rotates a token that expired but was never revoked', async () => {
    const clock = new ManualClock('2026-03-01T10:00:00Z');
    const { provider, issue, resourceStatus } = await setup({ clock });
    const ref = issue();
    clock.advance(601_000);
    expect(await resourceStatus(ref.accessToken)).toBe(401);

    const rotated = await provider.rotate(ref);

    expect(rotated.expiresAt).toEqual(new Date('2026-03-01T10:20:01Z'));
    expect(await resourceStatus(rotated.value)).toBe(200);
  });

  it('is refused when signed with another key under the same key id; the token stays live', async () => {
    const { provider, issue, resourceStatus } = await setup();
    const ref = issue();
    const e = await failure(provider.rotate({ ...ref, privateKeyPem: newEd25519Pem() }));
    expect(e.kind).toBe('Unauthorized');
    expect(e.code).toBe('invalid_client');
    expect(e.message).toContain('invalid signature');
    expect(await resourceStatus(ref.accessToken)).toBe(200);
  });

  it('is refused when the key id is not in the client JWKS (400 invalid_client → Unauthorized)', async () => {
    const { provider, issue } = await setup();
    const e = await failure(provider.rotate({ ...issue(), keyId: 'not-registered' }));
    expect(e.kind).toBe('Unauthorized');
    expect(e.status).toBe(400);
    expect(e.code).toBe('invalid_client');
  });
});

describe('revoke', () => {
  it('revokes (204); a second revoke is Unauthorized, or already-gone when the caller allows it', async () => {
    const { provider, issue, resourceStatus } = await setup();
    const ref = issue();

    expect(await provider.revoke(ref)).toBe('revoked');
    expect(await resourceStatus(ref.accessToken)).toBe(401);

    const e = await failure(provider.revoke(ref));
    expect(e.kind).toBe('Unauthorized');
    expect(e.code).toBe('invalid_client');
    expect(await provider.revoke({ ...ref, mayAlreadyBeRevoked: true })).toBe('already-gone');
  });

  it('reports the old token of a rotation as already-gone only with the flag', async () => {
    const { provider, issue } = await setup();
    const ref = issue();
    await provider.rotate(ref);
    expect((await failure(provider.revoke(ref))).kind).toBe('Unauthorized');
    expect(await provider.revoke({ ...ref, mayAlreadyBeRevoked: true })).toBe('already-gone');
  });

  it('never calls a live token gone: a bad signature stays Unauthorized even with the flag', async () => {
    const { provider, issue, resourceStatus } = await setup();
    const ref = issue();
    const e = await failure(provider.revoke({ ...ref, privateKeyPem: newEd25519Pem(), mayAlreadyBeRevoked: true }));
    expect(e.kind).toBe('Unauthorized');
    expect(await resourceStatus(ref.accessToken)).toBe(200);
  });

  it('after a revoke whose reply was lost, the retry with the flag reports already-gone', async () => {
    const { provider, issue, sim, resourceStatus } = await setup({ provider: { timeoutMs: 200 } });
    const ref = issue();
    sim.faults.inject({ kind: 'timeout', delayMs: 2_000, commit: true });

    const e = await failure(provider.revoke(ref));
    expect(e.kind).toBe('Retryable');
    expect(await resourceStatus(ref.accessToken)).toBe(401);
    expect(await provider.revoke({ ...ref, mayAlreadyBeRevoked: true })).toBe('already-gone');
  });
});

describe('failures map to kinds', () => {
  it('500 request_denied → Retryable with the code; nothing rotated', async () => {
    const { provider, issue, sim, resourceStatus } = await setup();
    const ref = issue();
    sim.faults.inject({ kind: 'request_denied' });
    const e = await failure(provider.rotate(ref));
    expect(e).toMatchObject({ kind: 'Retryable', code: 'request_denied', status: 500 });
    expect(await resourceStatus(ref.accessToken)).toBe(200);
    await expect(provider.rotate(ref)).resolves.toMatchObject({ expiresIn: 600 });
  });

  it('timeout → Retryable', async () => {
    const { provider, issue, sim } = await setup({ provider: { timeoutMs: 200 } });
    sim.faults.inject({ kind: 'timeout', delayMs: 2_000 });
    const e = await failure(provider.rotate(issue()));
    expect(e.kind).toBe('Retryable');
    expect(e.message).toContain('timed out');
  });

  it('connection refused → Retryable', async () => {
    const { provider, issue, sim } = await setup();
    const ref = issue();
    await sim.close();
    expect((await failure(provider.rotate(ref))).kind).toBe('Retryable');
  });

  it('a body that is not JSON → BadResponse', async () => {
    const { provider, issue, sim } = await setup();
    sim.faults.inject({ kind: 'malformed' });
    expect((await failure(provider.rotate(issue()))).kind).toBe('BadResponse');
  });

  it('JSON without manage/access → BadResponse naming the fields', async () => {
    const { provider, issue, sim } = await setup();
    sim.faults.inject({ kind: 'wrong_shape' });
    const e = await failure(provider.rotate(issue()));
    expect(e.kind).toBe('BadResponse');
    expect(e.message).toContain('access_token.manage');
  });

  it('429 → RateLimited with Retry-After', async () => {
    const { provider, issue, sim } = await setup();
    sim.faults.inject({ kind: 'rate_limited', retryAfterSeconds: 7 });
    expect(await failure(provider.rotate(issue()))).toMatchObject({ kind: 'RateLimited', retryAfterMs: 7_000 });
  });

  it('invalid_rotation: 404 → NotFound, 400 → Invalid', async () => {
    for (const [status, kind] of [
      [404, 'NotFound'],
      [400, 'Invalid'],
    ] as const) {
      const provider = createGnapProvider({ http: answering(status, { error: { code: 'invalid_rotation', description: 'x' } }) });
      const e = await failure(provider.rotate(staticRef()));
      expect(e).toMatchObject({ kind, code: 'invalid_rotation', status });
    }
  });

  it('refuses http: manage URLs unless allowInsecureHttp, before sending anything', async () => {
    const { issue, sim } = await setup();
    const provider = createGnapProvider();
    const e = await failure(provider.rotate(issue()));
    expect(e).toMatchObject({ kind: 'Invalid', code: 'insecure_url' });
    expect(sim.state.requests).toHaveLength(0);
  });

  it('refuses keys that are not Ed25519 PEM', async () => {
    const { provider, issue } = await setup();
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' });
    for (const privateKeyPem of [rsa.toString(), 'not a key']) {
      const e = await failure(provider.rotate({ ...issue(), privateKeyPem }));
      expect(e).toMatchObject({ kind: 'Invalid', code: 'invalid_private_key' });
    }
  });
});

describe('error messages carry no secrets', () => {
  it('never contain the token value, the manage URL or its path, or key material', async () => {
    const { provider, issue, sim } = await setup({ provider: { timeoutMs: 200 } });
    const errors: Array<{ e: ProviderError; ref: GnapTokenRef }> = [];
    const collect = async (ref: GnapTokenRef, p: (r: GnapTokenRef) => Promise<unknown>) =>
      errors.push({ e: await failure(p(ref)), ref });

    const rotated = issue();
    await provider.rotate(rotated);
    await collect(rotated, (r) => provider.rotate(r)); // 401 invalid access token
    await collect(rotated, (r) => provider.revoke(r));
    await collect(issue(), (r) => provider.rotate({ ...r, privateKeyPem: newEd25519Pem() })); // invalid signature
    for (const kind of ['request_denied', 'timeout', 'malformed', 'wrong_shape', 'rate_limited'] as const) {
      sim.faults.inject({ kind, delayMs: 1_000 });
      await collect(issue(), (r) => provider.rotate(r));
    }
    await collect(issue(), (r) => createGnapProvider().rotate(r)); // insecure
    await collect({ ...issue(), privateKeyPem: '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----' }, (r) =>
      provider.rotate(r),
    );
    // a server that echoes the secrets back in its error description
    const echo = staticRef();
    const echoing = createGnapProvider({
      http: answering(401, {
        error: { code: 'invalid_client', description: `bad token ${echo.accessToken} at ${echo.manageUrl}` },
      }),
    });
    await collect(echo, (r) => echoing.rotate(r));
    await collect(echo, (r) => echoing.revoke(r));

    expect(errors.length).toBeGreaterThanOrEqual(12);
    for (const { e, ref } of errors) {
      const { pathname } = new URL(ref.manageUrl);
      const managementId = pathname.split('/').pop() ?? '';
      const keyBody = ref.privateKeyPem.split('\n')[1] ?? '';
      const surfaces = [e.message, String(e), e.stack ?? '', JSON.stringify(e), e.code ?? '', String(e.cause ?? '')];
      for (const text of surfaces) {
        expect(text).not.toContain(ref.accessToken);
        expect(text).not.toContain(ref.manageUrl);
        expect(text).not.toContain(managementId);
        expect(text).not.toContain(keyBody.slice(0, 16));
      }
    }
  });
});

function staticRef(): GnapTokenRef {
  return {
    manageUrl: 'https://auth.example.test/token/0c1c4bde-9d16-4f33-9d4b-6a3a0f0f0f0f',
    accessToken: 'ABCDEF0123456789ABCD',
    privateKeyPem: newEd25519Pem(),
    keyId: KEY_ID,
    walletAddressUrl: 'https://wallet.example.test/alice',
  };
}

/** An HttpClient standing in for a server that always answers this (shapes Rafiki can send). */
function answering(status: number, body: unknown): HttpClient {
  return async () => ({ status, headers: new Headers({ 'content-type': 'application/json' }), text: JSON.stringify(body) });
}
