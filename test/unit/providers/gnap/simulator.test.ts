import { createPrivateKey } from 'node:crypto';
import { createHeaders } from '@interledger/http-signature-utils';
import { afterEach, describe, expect, it } from 'vitest';
import { gnapFixture, KEY_ID, newEd25519Pem } from './fixture.js';

/** The simulator's wire contract, spoken to with raw fetch (no provider in between). */
type Fixture = Awaited<ReturnType<typeof gnapFixture>>;
let fx: Fixture | undefined;
afterEach(async () => {
  await fx?.sim.close();
  fx = undefined;
});

async function signedFetch(
  method: 'POST' | 'DELETE',
  url: string,
  token: string,
  pem: string,
  opts: { keyId?: string; signedUrl?: string } = {},
): Promise<{ status: number; body: unknown }> {
  const authorization = `GNAP ${token}`;
  const sig = await createHeaders({
    request: { method, url: opts.signedUrl ?? url, headers: { authorization } },
    privateKey: createPrivateKey(pem),
    keyId: opts.keyId ?? KEY_ID,
  });
  const res = await fetch(url, {
    method,
    headers: { authorization, signature: sig.Signature, 'signature-input': sig['Signature-Input'] },
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

describe('GNAP simulator: token management', () => {
  it('rejects a request without signature headers (401 invalid signature headers)', async () => {
    fx = await gnapFixture();
    const t = fx.sim.issueToken();
    const res = await fetch(t.manageUrl, { method: 'POST', headers: { authorization: `GNAP ${t.value}` } });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: { code: 'invalid_client', description: 'invalid signature headers' } });
    expect(await fx.resourceStatus(t.value)).toBe(200);
  });

  it('rejects a signature made with a key the client did not register (401 invalid signature)', async () => {
    fx = await gnapFixture();
    const t = fx.sim.issueToken();
    const res = await signedFetch('POST', t.manageUrl, t.value, newEd25519Pem());
    expect(res).toEqual({ status: 401, body: { error: { code: 'invalid_client', description: 'invalid signature' } } });
  });

  it('rejects a signature over another URL: @target-uri is covered', async () => {
    fx = await gnapFixture();
    const t = fx.sim.issueToken();
    const res = await signedFetch('POST', t.manageUrl, t.value, fx.privateKeyPem, {
      signedUrl: t.manageUrl.replace('127.0.0.1', 'localhost'),
    });
    expect(res.status).toBe(401);
  });

  it('answers 401 invalid access token for an unknown management id', async () => {
    fx = await gnapFixture();
    const t = fx.sim.issueToken();
    const res = await signedFetch('DELETE', fx.sim.manageUrlOf('nope'), t.value, fx.privateKeyPem);
    expect(res).toEqual({ status: 401, body: { error: { code: 'invalid_client', description: 'invalid access token' } } });
  });

  it('replies to rotate with exactly the spec fields', async () => {
    fx = await gnapFixture();
    const t = fx.sim.issueToken();
    const res = await signedFetch('POST', t.manageUrl, t.value, fx.privateKeyPem);
    expect(res.status).toBe(200);
    const body = res.body as { access_token: Record<string, unknown> };
    expect(Object.keys(body)).toEqual(['access_token']);
    expect(Object.keys(body.access_token).sort()).toEqual(['access', 'expires_in', 'manage', 'value']);
    expect(body.access_token.expires_in).toBe(600);
    expect(body.access_token.manage).toMatch(new RegExp(`^${fx.sim.url}/token/[0-9a-f-]{36}$`));
  });

  it('revoke → 204, again → 401', async () => {
    fx = await gnapFixture();
    const t = fx.sim.issueToken();
    expect((await signedFetch('DELETE', t.manageUrl, t.value, fx.privateKeyPem)).status).toBe(204);
    expect((await signedFetch('DELETE', t.manageUrl, t.value, fx.privateKeyPem)).status).toBe(401);
  });

  it('fires a fault for the next N token requests, then behaves again', async () => {
    fx = await gnapFixture();
    const t = fx.sim.issueToken();
    fx.sim.faults.inject({ kind: 'request_denied', count: 2 });
    const statuses = [];
    for (let i = 0; i < 2; i++) statuses.push((await signedFetch('POST', t.manageUrl, t.value, fx.privateKeyPem)).status);
    statuses.push((await signedFetch('POST', t.manageUrl, t.value, fx.privateKeyPem)).status);
    expect(statuses).toEqual([500, 500, 200]);
    expect(fx.sim.state.requests.map((r) => r.fault)).toEqual(['request_denied', 'request_denied', undefined]);
  });
});

describe('GNAP simulator: resource, wallet and admin API', () => {
  it('the resource accepts only live tokens', async () => {
    fx = await gnapFixture();
    const t = fx.sim.issueToken();
    expect((await fetch(`${fx.sim.url}/resource`)).status).toBe(401);
    expect(await fx.resourceStatus('WRONG')).toBe(401);
    const ok = await fetch(`${fx.sim.url}/resource`, { headers: { authorization: `GNAP ${t.value}` } });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ active: true, client: fx.walletAddressUrl });
  });

  it('serves the wallet address and its JWKS', async () => {
    fx = await gnapFixture();
    const wallet = await (await fetch(fx.walletAddressUrl)).json();
    expect(wallet).toMatchObject({ id: fx.walletAddressUrl, authServer: fx.sim.url });
    const jwks = (await (await fetch(`${fx.walletAddressUrl}/jwks.json`)).json()) as { keys: Array<{ kid: string }> };
    expect(jwks.keys.map((k) => k.kid)).toEqual([KEY_ID]);
  });

  it('issues tokens, takes faults and shows state over HTTP', async () => {
    fx = await gnapFixture();
    const post = (path: string, body: unknown) =>
      fetch(`${fx!.sim.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const issued = (await (await post('/_sim/tokens', {})).json()) as { value: string; manageUrl: string };
    expect(await fx.resourceStatus(issued.value)).toBe(200);
    expect((await post('/_sim/faults', { kind: 'rate_limited', count: 3 })).status).toBe(200);
    expect((await post('/_sim/faults', { kind: 'nonsense' })).status).toBe(400);
    const state = (await (await fetch(`${fx.sim.url}/_sim/state`)).json()) as {
      tokens: Array<{ manageUrl: string; live: boolean }>;
      faults: Array<{ kind: string; count: number }>;
    };
    expect(state.tokens).toContainEqual(expect.objectContaining({ manageUrl: issued.manageUrl, live: true }));
    expect(state.faults).toEqual([expect.objectContaining({ kind: 'rate_limited', count: 3 })]);
  });
});
