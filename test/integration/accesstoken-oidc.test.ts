/**
 * AccessToken (oidc) against the real API server and a real Keycloak realm shaped like
 * DataChain's dc-realm (providers.md §2): offline tokens, refresh tokens that rotate and
 * may be used once, access tokens that live 60 s.
 *
 * The operator runs on a ManualClock that starts at the real time and only moves forward
 * by minutes, so Keycloak (real clock) and the operator's schedule stay consistent.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OidcProviderFactory } from '../../src/controllers/accesstoken/oidc.js';
import { createOidcProvider } from '../../src/providers/oidc/index.js';
import type { KubeClient, KubeObject } from '../../src/runtime/kube-client.js';
import { ManualClock } from '../../src/schedule/clock.js';
import {
  adminClient,
  condition,
  createNamespace,
  createResource,
  createSecret,
  crPath,
  deleteResource,
  getResource,
  getSecretData,
  privateCredential,
  startTestOperator,
  waitFor,
  waitForReady,
  waitForResource,
  requestRotation,
  type TestOperator,
} from '../support/harness.js';
import { introspect, keycloakAvailable, provisionRealm, refreshTokenActive as isRefreshTokenActive, seedOfflineToken, type KeycloakRealm } from '../support/keycloak.js';

const skip = await keycloakAvailable();
if (skip) console.warn(`skipping the AccessToken Keycloak tests: ${skip}`);

const PLURAL = 'accesstokens';

let client: KubeClient;
let realm: KeycloakRealm;
let op: TestOperator;
let ns: string;
let clock: ManualClock;

// Simulates a reply lost on the way back: the real refresh happens (Keycloak spends the
// presented token), and the operator never sees the answer, not even its new refresh token.
let loseNextReply = false;
// Simulates a crash after the answer arrived (its refresh token already saved) but before the
// Secret write.
let crashAfterNextRefresh = false;
const crashingOidc: OidcProviderFactory = (opts) => {
  const real = createOidcProvider(opts);
  return {
    async refresh(req) {
      if (loseNextReply) {
        loseNextReply = false;
        const { onRotated: _lost, ...rest } = req;
        await real.refresh(rest);
        throw new Error('simulated lost reply');
      }
      const tokens = await real.refresh(req);
      if (crashAfterNextRefresh) {
        crashAfterNextRefresh = false;
        throw new Error('simulated crash after the refresh');
      }
      return tokens;
    },
    revoke: (t) => real.revoke(t),
    verify: (t) => real.verify(t),
  };
};

type Status = Record<string, string | number | undefined>;
const statusOf = (r: KubeObject | undefined) => (r?.status ?? {}) as Status;

const refreshTokenActive = (token: string | undefined) => isRefreshTokenActive(realm, token);

async function oidcResource(name: string, seedValue: string, spec: Record<string, unknown> = {}, how: 'issuer' | 'tokenUrl' = 'issuer'): Promise<KubeObject> {
  await createSecret(client, ns, `${name}-seed`, { refresh_token: seedValue });
  return {
    apiVersion: 'token-operator.io/v1alpha1',
    kind: 'AccessToken',
    metadata: { name, namespace: ns },
    spec: {
      oidc: {
        ...(how === 'issuer' ? { issuerUrl: realm.issuerUrl } : { tokenUrl: realm.tokenUrl }),
        clientId: realm.publicClientId,
        refreshTokenSecretRef: { name: `${name}-seed`, key: 'refresh_token' },
        allowInsecureHttp: true,
      },
      target: { secretName: `${name}-token` },
      ...spec,
    },
  };
}

const until = (name: string, what: string, pred: (r: KubeObject) => boolean) => waitForResource(client, PLURAL, ns, name, what, pred);
const ready = (name: string, reason: string, minRevision = 1) => waitForReady(client, PLURAL, ns, name, reason, minRevision);
const annotate = (name: string, value: string) => requestRotation(client, PLURAL, ns, name, value);

const pasteSeed = (name: string, value: string) =>
  client.patch(`/api/v1/namespaces/${ns}/secrets/${name}-seed`, { stringData: { refresh_token: value } }, 'merge');

const tokenData = async (name: string) => (await getSecretData(client, ns, `${name}-token`))!;
/** the live refresh token: in the operator's state Secret, never in the target Secret */
const liveRefresh = async (name: string) => (await privateCredential(client, PLURAL, ns, name))?.refresh_token;

describe.skipIf(skip !== undefined)(`AccessToken (oidc) against Keycloak${skip ? ` (skipped: ${skip})` : ''}`, () => {
  beforeAll(async () => {
    realm = await provisionRealm();
    client = adminClient();
    ns = await createNamespace(client, 'oidc');
    clock = new ManualClock(Date.now());
    op = await startTestOperator({ watchNamespaces: [ns], controllers: ['AccessToken'] }, { clock, providers: { oidc: crashingOidc } });
  }, 420_000);

  afterAll(async () => {
    if (process.env.DUMP_LOGS) (await import('node:fs')).writeFileSync(process.env.DUMP_LOGS, op.logs.text);
    await op?.stop();
    await realm?.delete();
  });

  let seed: string;

  it('issues from an offline seed: Ready, the access token is active, the state Secret keeps the live refresh token, the target none', async () => {
    seed = (await seedOfflineToken(realm)).refreshToken;
    await createResource(client, PLURAL, await oidcResource('first', seed));
    const r = await ready('first', 'Issued');
    const s = statusOf(r);
    expect(s.grantType).toBe('oidc');
    expect(s.refreshTokenExpirationTime).toBeUndefined(); // offline: never expires
    const lifetime = Date.parse(String(s.expirationTime)) - Date.parse(String(s.lastRotationTime));
    expect(lifetime).toBeGreaterThan(55_000);
    expect(lifetime).toBeLessThanOrEqual(60_000);

    const data = await tokenData('first');
    // what a workload needs to call the service, nothing that can mint new tokens
    expect(Object.keys(data).sort()).toEqual(['access_token', 'expires_at', 'token_type']);
    expect(data.token_type).toBe('Bearer');
    expect(await introspect(realm, data.access_token!)).toMatchObject({ active: true, azp: realm.publicClientId });
    // rotation is on: the seed was spent by the first refresh, the state Secret holds the live one
    const live = await liveRefresh('first');
    expect(live).not.toBe(seed);
    expect(await refreshTokenActive(live)).toBe(true);
    expect(await refreshTokenActive(seed)).toBe(false);
    const text = JSON.stringify(r.status);
    for (const v of [data.access_token!, live!, seed]) expect(text).not.toContain(v);
  });

  it('time travel: refreshes each time the access token nears expiry, always from the live refresh token', async () => {
    for (let rev = 2; rev <= 4; rev++) {
      const before = await tokenData('first');
      const liveBefore = await liveRefresh('first');
      clock.advance(45_000); // past 2/3 of the 60 s lifetime
      op.enqueueAll();
      await ready('first', 'Rotated', rev);
      const after = await tokenData('first');
      const liveAfter = await liveRefresh('first');
      expect(after.access_token).not.toBe(before.access_token);
      expect(after.refresh_token).toBeUndefined();
      expect(liveAfter).not.toBe(liveBefore);
      expect(await refreshTokenActive(liveAfter)).toBe(true);
      expect(await refreshTokenActive(liveBefore)).toBe(false);
      expect((await introspect(realm, after.access_token!)).active).toBe(true);
    }
  });

  it('refreshes on the rotate-now annotation', async () => {
    const before = await liveRefresh('first');
    const rev = Number(statusOf(await getResource(client, PLURAL, ns, 'first')).revision);
    await annotate('first', 'now-1');
    const r = await ready('first', 'Rotated', rev + 1);
    expect(statusOf(r).lastHandledRotateRequest).toBe('now-1');
    const after = await liveRefresh('first');
    expect(after).not.toBe(before);
    expect(await refreshTokenActive(after)).toBe(true);
  });

  it('a target Secret written by an older version keeps refresh_token no longer: the next write removes it, nothing else', async () => {
    const path = `/api/v1/namespaces/${ns}/secrets/first-token`;
    // what an older version left: no written-keys, no created-by, the refresh token beside the access token
    await client.patch(
      path,
      {
        metadata: { annotations: { 'token-operator.io/written-keys': null, 'token-operator.io/created-by': null } },
        data: { refresh_token: Buffer.from((await liveRefresh('first'))!).toString('base64') },
      },
      'merge',
    );
    await waitFor('refresh_token removed', async () => {
      const d = await getSecretData(client, ns, 'first-token');
      return d !== undefined && d.refresh_token === undefined && d.access_token !== undefined;
    });
    const s = await client.get(path);
    expect(JSON.parse(s.metadata!.annotations!['token-operator.io/written-keys']!)).toEqual({ data: ['access_token', 'expires_at', 'token_type'] });
    expect(await refreshTokenActive(await liveRefresh('first'))).toBe(true);
  });

  it('exposeRefreshToken (opt-in): the target Secret also carries the live refresh token', async () => {
    const obj = await oidcResource('exposed', (await seedOfflineToken(realm)).refreshToken);
    (obj.spec as { oidc: Record<string, unknown> }).oidc.exposeRefreshToken = true;
    await createResource(client, PLURAL, obj);
    await ready('exposed', 'Issued');
    const data = await tokenData('exposed');
    expect(data.refresh_token).toBe(await liveRefresh('exposed'));
    expect(await refreshTokenActive(data.refresh_token)).toBe(true);
  });

  it('suspend: no refresh however late; resuming refreshes at once', async () => {
    await client.patch(crPath(PLURAL, ns, 'first'), { spec: { suspend: true } }, 'merge');
    await until('first', 'Suspended', (x) => condition(x, 'Ready')?.reason === 'Suspended');
    const data = await tokenData('first');
    const rev = Number(statusOf(await getResource(client, PLURAL, ns, 'first')).revision);
    clock.advance(2 * 60_000);
    op.enqueueAll();
    await new Promise((x) => setTimeout(x, 1000));
    expect(statusOf(await getResource(client, PLURAL, ns, 'first')).revision).toBe(rev);
    expect(await tokenData('first')).toEqual(data);
    expect(await refreshTokenActive(await liveRefresh('first'))).toBe(true);

    await client.patch(crPath(PLURAL, ns, 'first'), { spec: { suspend: false } }, 'merge');
    await ready('first', 'Rotated', rev + 1);
    expect(await refreshTokenActive(await liveRefresh('first'))).toBe(true);
  });

  it('an invalid seed stalls with a message naming the seed Secret; pasting a real one resumes', async () => {
    await createResource(client, PLURAL, await oidcResource('bogus', 'not-a-refresh-token', {}, 'tokenUrl'));
    const r = await until('bogus', 'Stalled', (x) => condition(x, 'Stalled')?.status === 'True');
    expect(condition(r, 'Stalled')).toMatchObject({ reason: 'InvalidRefreshToken', message: expect.stringContaining('Invalid refresh token') });
    expect(condition(r, 'Stalled')?.message).toContain('Put a new token into Secret "bogus-seed" key "refresh_token"');
    expect(condition(r, 'Ready')).toMatchObject({ status: 'False', reason: 'InvalidRefreshToken' });
    expect(await getSecretData(client, ns, 'bogus-token')).toBeUndefined();

    const fresh = (await seedOfflineToken(realm)).refreshToken;
    await pasteSeed('bogus', fresh);
    op.enqueueAll();
    const ok = await ready('bogus', 'Issued');
    expect(condition(ok, 'Stalled')?.status).toBe('False');
    expect(await refreshTokenActive(await liveRefresh('bogus'))).toBe(true);
  });

  it('a crash after the answer arrived, before the Secret write: the rotated token was saved at once, so the chain goes on', async () => {
    await createResource(client, PLURAL, await oidcResource('saved', (await seedOfflineToken(realm)).refreshToken));
    await ready('saved', 'Issued');
    const spent = await liveRefresh('saved');

    crashAfterNextRefresh = true;
    await annotate('saved', 'crash-1');
    const failed = await until('saved', 'Ready=False InternalError', (x) => condition(x, 'Ready')?.reason === 'InternalError');
    expect(statusOf(failed).pendingRefreshSince).toBeDefined();
    const kept = await liveRefresh('saved');
    expect(kept).not.toBe(spent);
    expect(await refreshTokenActive(kept)).toBe(true);

    clock.advance(10_000); // past the 5 s transient back-off
    op.enqueueAll();
    await ready('saved', 'Rotated', 2);
    expect(await refreshTokenActive(await liveRefresh('saved'))).toBe(true);
  });

  it('a reply lost on the way (nothing reached the operator): the spent token is tried once, then Stalled RefreshTokenLost', async () => {
    await createResource(client, PLURAL, await oidcResource('crashy', (await seedOfflineToken(realm)).refreshToken));
    await ready('crashy', 'Issued');
    const stored = await tokenData('crashy');
    const spent = await liveRefresh('crashy');

    loseNextReply = true;
    await annotate('crashy', 'crash-1');
    const failed = await until('crashy', 'Ready=False InternalError', (x) => condition(x, 'Ready')?.reason === 'InternalError');
    // the marker set before the call survives the "crash"; the operator still holds the token Keycloak just spent
    expect(statusOf(failed).pendingRefreshSince).toBeDefined();
    expect(await tokenData('crashy')).toEqual(stored);
    expect(await liveRefresh('crashy')).toBe(spent);
    expect(await refreshTokenActive(spent)).toBe(false);

    clock.advance(10_000); // past the 5 s transient back-off
    op.enqueueAll();
    const r = await until('crashy', 'Stalled', (x) => condition(x, 'Stalled')?.status === 'True');
    const stalled = condition(r, 'Stalled')!;
    expect(stalled.reason).toBe('RefreshTokenLost');
    expect(stalled.message).toContain(`a refresh sent at ${String(statusOf(failed).pendingRefreshSince)} never had its answer stored (operator crash or lost reply)`);
    expect(stalled.message).toContain('(RefreshTokenReused)');
    expect(stalled.message).toContain('put it into Secret "crashy-seed" key "refresh_token"');
    expect(condition(r, 'Ready')).toMatchObject({ status: 'False', reason: 'RefreshTokenLost' });
    expect(statusOf(r).pendingRefreshSince).toBeUndefined();
    // console.log so the report shows what a person reads
    console.log(`[crash test] Stalled ${stalled.reason}: ${stalled.message}`);

    await pasteSeed('crashy', (await seedOfflineToken(realm)).refreshToken);
    op.enqueueAll();
    await ready('crashy', 'Rotated', 2);
    expect(await refreshTokenActive(await liveRefresh('crashy'))).toBe(true);
  });

  it('deletes with Revoke: the refresh token is revoked (its access token goes inactive), Secret and finalizer go', async () => {
    await createResource(client, PLURAL, await oidcResource('doomed', (await seedOfflineToken(realm)).refreshToken, { deletionPolicy: 'Revoke' }, 'tokenUrl'));
    await ready('doomed', 'Issued');
    const data = await tokenData('doomed');
    const live = await liveRefresh('doomed');
    expect((await introspect(realm, data.access_token!)).active).toBe(true);
    await deleteResource(client, PLURAL, ns, 'doomed');
    await waitFor('doomed gone', async () => (await getResource(client, PLURAL, ns, 'doomed')) === undefined);
    expect(await refreshTokenActive(live)).toBe(false);
    expect((await introspect(realm, data.access_token!)).active).toBe(false);
    expect(await getSecretData(client, ns, 'doomed-token')).toBeUndefined();
  });
});
