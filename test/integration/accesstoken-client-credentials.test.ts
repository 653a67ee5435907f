/**
 * AccessToken (clientCredentials) against the real API server and a real Keycloak: a
 * confidential client with a service account gets machine-to-machine tokens (docs/providers.md
 * "OAuth2 client credentials"), with client_secret_basic and client_secret_post, a scope whose
 * mapper adds an audience, renewal before expiry, revocation on delete, and the liveness check
 * (introspection with the client's own secret) replacing a token revoked out of band. Nothing
 * is kept that could mint a token but the client's own secret, in the user's Secret.
 *
 * The operator runs on a ManualClock that starts at the real time and only moves forward, so
 * Keycloak (real clock) and the operator's schedule stay consistent.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeClient, KubeObject } from '../../src/runtime/kube-client.js';
import { ManualClock } from '../../src/schedule/clock.js';
import {
  adminClient,
  condition,
  createNamespace,
  createResource,
  createSecret,
  deleteResource,
  getResource,
  getSecretData,
  privateCredential,
  requestRotation,
  startTestOperator,
  waitFor,
  waitForReady,
  waitForResource,
  type TestOperator,
} from '../support/harness.js';
import { introspect, keycloakAvailable, provisionRealm, provisionServiceAccount, type KeycloakRealm } from '../support/keycloak.js';

const skip = await keycloakAvailable();
if (skip) console.warn(`skipping the client credentials Keycloak tests: ${skip}`);

const PLURAL = 'accesstokens';
const CLIENT_ID = 'billing-agent';
const SCOPE = 'billing';
const AUDIENCE = 'billing-api';

let client: KubeClient;
let realm: KeycloakRealm;
let op: TestOperator;
let ns: string;
let clock: ManualClock;
let clientSecret: string;

type Status = Record<string, string | number | undefined>;
const statusOf = (r: KubeObject | undefined) => (r?.status ?? {}) as Status;
const tokenData = async (name: string) => (await getSecretData(client, ns, `${name}-token`))!;
const ready = (name: string, reason: string, minRevision = 1) => waitForReady(client, PLURAL, ns, name, reason, minRevision);

async function ccResource(name: string, block: Record<string, unknown>, spec: Record<string, unknown> = {}): Promise<KubeObject> {
  return {
    apiVersion: 'token-operator.io/v1alpha1',
    kind: 'AccessToken',
    metadata: { name, namespace: ns },
    spec: {
      clientCredentials: { clientId: CLIENT_ID, clientSecretRef: { name: `${name}-client`, key: 'client_secret' }, allowInsecureHttp: true, ...block },
      target: { secretName: `${name}-token` },
      ...spec,
    },
  };
}

async function create(name: string, block: Record<string, unknown>, spec: Record<string, unknown> = {}, secret = clientSecret): Promise<void> {
  await createSecret(client, ns, `${name}-client`, { client_secret: secret });
  await createResource(client, PLURAL, await ccResource(name, block, spec));
}

describe.skipIf(skip !== undefined)(`AccessToken (clientCredentials) against Keycloak${skip ? ` (skipped: ${skip})` : ''}`, () => {
  beforeAll(async () => {
    realm = await provisionRealm();
    clientSecret = await provisionServiceAccount(realm, { clientId: CLIENT_ID, scope: SCOPE, audience: AUDIENCE });
    client = adminClient();
    ns = await createNamespace(client, 'client-credentials');
    clock = new ManualClock(Date.now());
    op = await startTestOperator({ watchNamespaces: [ns], controllers: ['AccessToken'] }, { clock });
  }, 420_000);

  afterAll(async () => {
    await op?.stop();
    await realm?.delete();
  });

  it('client_secret_basic (the default), discovered from the issuer: an active token of the service account, and nothing kept that could mint one', async () => {
    await create('basic', { issuerUrl: realm.issuerUrl });
    const r = await ready('basic', 'Issued');
    expect(statusOf(r).grantType).toBe('clientCredentials');
    const lifetime = Date.parse(String(statusOf(r).expirationTime)) - Date.parse(String(statusOf(r).lastRotationTime));
    expect(lifetime).toBeGreaterThan(55_000);
    expect(lifetime).toBeLessThanOrEqual(60_000);
    const data = await tokenData('basic');
    expect(Object.keys(data).sort()).toEqual(['access_token', 'expires_at', 'token_type']);
    expect(data.token_type).toBe('Bearer');
    expect(await introspect(realm, data.access_token!)).toMatchObject({ active: true, client_id: CLIENT_ID });
    // no refresh token and no private part: the next token comes from the client's own secret
    expect(await privateCredential(client, PLURAL, ns, 'basic')).toBeUndefined();
    const state = await getSecretData(client, ns, `token-operator-state-${r.metadata!.uid}`);
    expect(JSON.stringify(state)).not.toContain('refresh_token');
    expect(JSON.stringify(r.status)).not.toContain(data.access_token!);
    expect(op.logs.text).not.toContain(clientSecret);
  });

  it('client_secret_post with a scope and an audience: the token carries the scope and the audience its mapper adds', async () => {
    await create('post', { tokenUrl: realm.tokenUrl, clientAuthMethod: 'client_secret_post', scope: SCOPE, audience: AUDIENCE });
    await ready('post', 'Issued');
    const claims = await introspect(realm, (await tokenData('post')).access_token!);
    expect(claims.active).toBe(true);
    expect(String(claims.scope).split(' ')).toContain(SCOPE);
    expect([claims.aud].flat()).toContain(AUDIENCE);
  });

  it('renews before expiry (time travel past 2/3 of the 60 s lifetime): a new token each time, the old one untouched until it expires', async () => {
    for (let rev = 2; rev <= 3; rev++) {
      const before = (await tokenData('basic')).access_token!;
      clock.advance(45_000);
      op.enqueueAll();
      await ready('basic', 'Rotated', rev);
      const after = (await tokenData('basic')).access_token!;
      expect(after).not.toBe(before);
      expect((await introspect(realm, after)).active).toBe(true);
    }
  });

  it('a wrong secret stalls (InvalidClient) naming the Secret and the fields; the right one and a rotate request resume', async () => {
    await create('wrong', { tokenUrl: realm.tokenUrl }, {}, 'not-the-secret');
    const r = await waitForResource(client, PLURAL, ns, 'wrong', 'Stalled', (x) => condition(x, 'Stalled')?.status === 'True');
    expect(condition(r, 'Stalled')?.reason).toBe('InvalidClient');
    const message = condition(r, 'Stalled')?.message ?? '';
    expect(message).toContain('spec.clientCredentials.clientId');
    expect(message).toContain('spec.clientCredentials.clientSecretRef (Secret "wrong-client" key "client_secret")');
    expect(message).not.toContain('not-the-secret');
    expect(await getSecretData(client, ns, 'wrong-token')).toBeUndefined();

    await client.patch(`/api/v1/namespaces/${ns}/secrets/wrong-client`, { stringData: { client_secret: clientSecret } }, 'merge');
    await requestRotation(client, PLURAL, ns, 'wrong', 'fixed');
    clock.advance(61_000); // past the refusal's back-off
    op.enqueueAll();
    // (the annotation's watch event may reach the operator after this enqueue: an issue without it first, then one for it)
    const fixed = await waitForResource(client, PLURAL, ns, 'wrong', 'Ready, the rotate request handled', (x) => condition(x, 'Ready')?.status === 'True' && statusOf(x).lastHandledRotateRequest === 'fixed');
    expect(condition(fixed, 'Stalled')?.status).toBe('False');
    expect((await introspect(realm, (await tokenData('wrong')).access_token!)).active).toBe(true);
  });

  it('liveness: introspection with the client\'s own secret finds the token alive, then revoked out of band (RFC 7009 by another holder of the client): CredentialRevoked, and a new token at once', async () => {
    // a client whose tokens live an hour: renewals come long after the one-minute checks
    const longLived = 'report-agent';
    const secret = await provisionServiceAccount(realm, { clientId: longLived, accessTokenLifespanSeconds: 3600 });
    await create('live', { tokenUrl: realm.tokenUrl, clientId: longLived }, { liveness: { interval: '1m' } }, secret);
    const r1 = await ready('live', 'Issued');
    const t1 = (await tokenData('live')).access_token!;
    const checks = async (result: string) =>
      (await op.metrics.livenessChecks.get()).values.find((v) => v.labels.kind === 'AccessToken' && v.labels.result === result)?.value ?? 0;
    const calls = async () => (await op.metrics.livenessProviderCalls.get()).values.find((v) => v.labels.provider === 'client-credentials')?.value ?? 0;

    const made = async () => (await checks('alive')) + (await checks('unknown')) + (await checks('revoked'));
    // An interval on, the check is due. One that proves nothing (Keycloak slow on a loaded
    // machine: unknown) is tried again at the next interval: move the clock on until it answers.
    const nudgeUntil = <T>(what: string, done: () => Promise<T | undefined>) =>
      waitFor(what, async () => {
        const d = await done();
        if (d === undefined) {
          clock.advance(61_000);
          op.enqueueAll();
        }
        return d;
      }, 60_000, 5_000);

    await nudgeUntil('an alive check', async () => ((await checks('alive')) >= 1 ? true : undefined));
    // each check is one introspection: no token request, nothing written
    expect(await calls()).toBe(await made());
    expect(statusOf(await getResource(client, PLURAL, ns, 'live')).revision).toBe(statusOf(r1).revision);

    const revoke = await fetch(realm.revocationUrl, { method: 'POST', body: new URLSearchParams({ client_id: longLived, client_secret: secret, token: t1, token_type_hint: 'access_token' }) });
    expect(revoke.status).toBe(200);
    expect((await introspect(realm, t1)).active).toBe(false);
    const r2 = await nudgeUntil('a new token after CredentialRevoked', async () => {
      const r = await getResource(client, PLURAL, ns, 'live');
      return condition(r, 'Ready')?.status === 'True' && Number(statusOf(r).revision) >= 2 ? r : undefined;
    });
    expect(condition(r2, 'Ready')?.reason).toBe('Rotated');
    expect(await checks('revoked')).toBe(1);
    expect(statusOf(r2).credentialRevokedTime).toBeUndefined();
    const t2 = (await tokenData('live')).access_token!;
    expect(t2).not.toBe(t1);
    expect((await introspect(realm, t2)).active).toBe(true);
    const events = await client.get<{ items: Array<{ reason: string; type: string; message: string; involvedObject: { name: string } }> }>(`/api/v1/namespaces/${ns}/events`);
    const revoked = events.items.find((e) => e.involvedObject.name === 'live' && e.reason === 'CredentialRevoked');
    expect(revoked?.type).toBe('Warning');
    expect(revoked?.message).toContain('not active');
    expect(revoked?.message).not.toContain(t1);
  });

  it('deletes with Revoke: the access token is revoked at Keycloak, then the Secret goes', async () => {
    await create('doomed', { tokenUrl: realm.tokenUrl }, { deletionPolicy: 'Revoke' });
    await ready('doomed', 'Issued');
    const token = (await tokenData('doomed')).access_token!;
    expect((await introspect(realm, token)).active).toBe(true);
    await deleteResource(client, PLURAL, ns, 'doomed');
    await waitFor('doomed gone', async () => (await getResource(client, PLURAL, ns, 'doomed')) === undefined);
    expect((await introspect(realm, token)).active).toBe(false);
    expect(await getSecretData(client, ns, 'doomed-token')).toBeUndefined();
  });
});
