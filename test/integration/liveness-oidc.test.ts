/**
 * Liveness checks for AccessToken (oidc) against the real Keycloak (docs/liveness.md), in real
 * time with a one-minute interval: an administrator ends the user's sessions (sign out, revoke
 * the offline consent) while the access token in the Secret is still within its lifetime →
 * within one interval the resource reports CredentialRevoked; the refresh the re-issue tries is
 * refused (the chain is dead), so Stalled=True says exactly what a person must do; once a new
 * token is pasted, Ready again with an access token Keycloak accepts. A public client is checked
 * with userinfo, a confidential one with introspection; neither check spends the refresh token.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeClient, KubeObject } from '../../src/runtime/kube-client.js';
import {
  adminClient,
  condition,
  createNamespace,
  createResource,
  createSecret,
  getResource,
  getSecretData,
  privateCredential,
  startTestOperator,
  waitFor,
  type TestOperator,
} from '../support/harness.js';
import { endUserSessions, introspect, keycloakAvailable, provisionRealm, seedOfflineToken, type KeycloakRealm } from '../support/keycloak.js';

const skip = await keycloakAvailable();
if (skip) console.warn(`skipping the AccessToken liveness Keycloak tests: ${skip}`);

const PLURAL = 'accesstokens';
const INTERVAL_MS = 60_000;
const MARGIN_MS = 30_000;

let client: KubeClient;
let realm: KeycloakRealm;
let op: TestOperator;
let ns: string;

type Status = { revision?: number; credentialRevokedTime?: string };
const statusOf = (r: KubeObject | undefined): Status => (r?.status ?? {}) as Status;

async function resource(name: string, confidential: boolean): Promise<KubeObject> {
  const seed = await seedOfflineToken(realm, { client: confidential ? 'confidential' : 'public' });
  await createSecret(client, ns, `${name}-seed`, { refresh_token: seed.refreshToken });
  if (confidential) await createSecret(client, ns, `${name}-client`, { client_secret: realm.confidentialClientSecret });
  return {
    apiVersion: 'token-operator.io/v1alpha1',
    kind: 'AccessToken',
    metadata: { name, namespace: ns },
    spec: {
      oidc: {
        issuerUrl: realm.issuerUrl,
        clientId: confidential ? realm.confidentialClientId : realm.publicClientId,
        ...(confidential ? { clientSecretRef: { name: `${name}-client`, key: 'client_secret' } } : {}),
        refreshTokenSecretRef: { name: `${name}-seed`, key: 'refresh_token' },
        allowInsecureHttp: true,
      },
      liveness: { interval: '1m' },
      target: { secretName: `${name}-token` },
    },
  };
}

const get = (name: string) => getResource(client, PLURAL, ns, name);
const accessActive = async (name: string) => {
  const token = (await getSecretData(client, ns, `${name}-token`))?.access_token;
  return token !== undefined && (await introspect(realm, token)).active;
};

describe.skipIf(skip !== undefined)(`AccessToken (oidc) liveness against Keycloak${skip ? ` (skipped: ${skip})` : ''}`, () => {
  beforeAll(async () => {
    // access tokens live an hour: no renewal comes before the one-minute check
    realm = await provisionRealm({ realm: { accessTokenLifespan: 3600 } });
    client = adminClient();
    ns = await createNamespace(client, 'oidc-live');
    op = await startTestOperator({ watchNamespaces: [ns], controllers: ['AccessToken'] });
  }, 420_000);

  afterAll(async () => {
    if (process.env.DUMP_LOGS) (await import('node:fs')).writeFileSync(process.env.DUMP_LOGS, op.logs.text);
    await op?.stop();
    await realm?.delete();
  });

  it('an admin ends the session → CredentialRevoked within one interval, Stalled with what to do, Ready again once a person pastes a new token', async () => {
    await createResource(client, PLURAL, await resource('pub', false));
    await createResource(client, PLURAL, await resource('conf', true));
    for (const name of ['pub', 'conf']) {
      await waitFor(`${name} Ready`, async () => condition(await get(name), 'Ready')?.status === 'True' || undefined, 60_000);
      expect(await accessActive(name)).toBe(true);
    }
    const refreshBefore = await privateCredential(client, PLURAL, ns, 'pub');

    // one check of each, alive: nothing spent (the refresh token the operator keeps is unchanged)
    const checks = async (result: string) =>
      (await op.metrics.livenessChecks.get()).values.find((v) => v.labels.kind === 'AccessToken' && v.labels.result === result)?.value ?? 0;
    await waitFor('two alive checks', async () => ((await checks('alive')) >= 2) || undefined, INTERVAL_MS + MARGIN_MS, 500);
    expect(await privateCredential(client, PLURAL, ns, 'pub')).toEqual(refreshBefore);

    const t0 = Date.now();
    await endUserSessions(realm);
    expect(await accessActive('pub')).toBe(false);

    for (const name of ['pub', 'conf']) {
      const stalled = await waitFor(
        `${name} Stalled after the refused re-issue`,
        async () => {
          const r = await get(name);
          return condition(r, 'Stalled')?.status === 'True' ? r : undefined;
        },
        INTERVAL_MS + MARGIN_MS,
        250,
      );
      const detected = Date.now() - t0;
      console.log(`AccessToken (oidc, ${name}): dead credential reported after ${(detected / 1000).toFixed(1)}s (interval ${INTERVAL_MS / 1000}s)`);
      expect(detected).toBeLessThanOrEqual(INTERVAL_MS + MARGIN_MS);
      // exactly what a person must do
      expect(condition(stalled, 'Stalled')?.reason).toBe('SessionNotActive');
      expect(condition(stalled, 'Stalled')?.message).toContain(`Put a new token into Secret "${name}-seed" key "refresh_token"`);
      const events = await client.get<KubeObject & { items: Array<{ reason: string; type: string; message: string; involvedObject: { name: string } }> }>(
        `/api/v1/namespaces/${ns}/events`,
      );
      const revoked = events.items.find((e) => e.involvedObject.name === name && e.reason === 'CredentialRevoked');
      expect(revoked?.type).toBe('Warning');
      expect(revoked?.message).toContain(name === 'pub' ? 'userinfo: HTTP 4xx (invalid_token' : 'introspect: the server reports the access token as not active');
    }
    expect((await op.metrics.credentialRevoked.get()).values.find((v) => v.labels.kind === 'AccessToken')?.value).toBe(2);

    // the person: a new offline token into the seed Secret; the operator reads it within a minute
    const rev = statusOf(await get('pub')).revision!;
    const fresh = await seedOfflineToken(realm);
    const human = Date.now();
    await client.patch(`/api/v1/namespaces/${ns}/secrets/pub-seed`, { stringData: { refresh_token: fresh.refreshToken } }, 'merge');
    await waitFor('pub Ready with a new token', async () => {
      const r = await get('pub');
      return condition(r, 'Ready')?.status === 'True' && (statusOf(r).revision ?? 0) > rev ? r : undefined;
    }, 60_000 + MARGIN_MS, 500);
    console.log(`AccessToken (oidc, pub): Ready again ${((Date.now() - human) / 1000).toFixed(1)}s after the new token; failure window ${((Date.now() - t0) / 1000).toFixed(1)}s`);
    expect(await accessActive('pub')).toBe(true);
    const after = await get('pub');
    expect(condition(after, 'Stalled')?.status).toBe('False');
    expect(statusOf(after).credentialRevokedTime).toBeUndefined();
  }, 420_000);
});
