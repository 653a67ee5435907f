/**
 * spec.target.template for the OIDC AccessToken, against a real Keycloak realm: an Authorization
 * header value and a JSON config next to the default keys (mergePolicy Merge), rendered again on
 * every refresh, and least exposure kept — the live refresh token, which the operator keeps in its
 * state Secret, appears in no value of the target Secret, before or after a rotation; and a
 * template may not ask for it (admission) without exposeRefreshToken.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeApiError, type KubeClient } from '../../src/runtime/kube-client.js';
import { ManualClock } from '../../src/schedule/clock.js';
import {
  adminClient,
  createNamespace,
  createResource,
  createSecret,
  getSecretData,
  privateCredential,
  requestRotation,
  startTestOperator,
  waitForReady,
  type TestOperator,
} from '../support/harness.js';
import { introspect, keycloakAvailable, provisionRealm, seedOfflineToken, type KeycloakRealm } from '../support/keycloak.js';

const skip = await keycloakAvailable();
if (skip) console.warn(`skipping the templated AccessToken (oidc) tests: ${skip}`);

const PLURAL = 'accesstokens';
let client: KubeClient;
let realm: KeycloakRealm;
let op: TestOperator;
let ns: string;

const template = {
  mergePolicy: 'Merge',
  data: {
    authorization: '{{token_type}} {{access_token}}',
    'token.json': '{"access_token": {{#json}}{{access_token}}{{/json}}, "expires_at": {{#json}}{{expires_at}}{{/json}}}',
  },
};

describe.skipIf(skip !== undefined)(`templated AccessToken (oidc) against Keycloak${skip ? ` (skipped: ${skip})` : ''}`, () => {
  beforeAll(async () => {
    realm = await provisionRealm();
    client = adminClient();
    ns = await createNamespace(client, 'tpl-oidc');
    op = await startTestOperator({ watchNamespaces: [ns], controllers: ['AccessToken'] }, { clock: new ManualClock(Date.now()) });
  }, 420_000);

  afterAll(async () => {
    await op?.stop();
    await realm?.delete();
  });

  const resource = async (name: string, spec: Record<string, unknown>) => {
    await createSecret(client, ns, `${name}-seed`, { refresh_token: (await seedOfflineToken(realm)).refreshToken });
    return {
      apiVersion: 'token-operator.io/v1alpha1',
      kind: 'AccessToken',
      metadata: { name, namespace: ns },
      spec: {
        oidc: { issuerUrl: realm.issuerUrl, clientId: realm.publicClientId, refreshTokenSecretRef: { name: `${name}-seed`, key: 'refresh_token' }, allowInsecureHttp: true },
        ...spec,
      },
    };
  };

  /** every value of the target Secret, against the refresh token the operator holds */
  async function check(name: string): Promise<string> {
    const data = (await getSecretData(client, ns, `${name}-token`))!;
    expect(Object.keys(data).sort()).toEqual(['access_token', 'authorization', 'expires_at', 'token.json', 'token_type']);
    expect(data.authorization).toBe(`Bearer ${data.access_token}`);
    expect(JSON.parse(data['token.json']!)).toEqual({ access_token: data.access_token, expires_at: data.expires_at });
    expect(await introspect(realm, data.authorization!.slice('Bearer '.length))).toMatchObject({ active: true });
    const live = (await privateCredential(client, PLURAL, ns, name))?.refresh_token;
    expect(live).toBeTruthy();
    for (const v of Object.values(data)) expect(v).not.toContain(live);
    return data.access_token!;
  }

  it('renders the header and the config from each new access token; the refresh token stays out of the Secret', async () => {
    await createResource(client, PLURAL, await resource('hdr', { target: { secretName: 'hdr-token', template } }));
    await waitForReady(client, PLURAL, ns, 'hdr', 'Issued');
    const first = await check('hdr');
    await requestRotation(client, PLURAL, ns, 'hdr', 'now');
    await waitForReady(client, PLURAL, ns, 'hdr', 'Rotated', 2);
    expect(await check('hdr')).not.toBe(first);
  });

  it('admission refuses a template naming the refresh token without exposeRefreshToken', async () => {
    const e = await createResource(client, PLURAL, await resource('leak', { target: { secretName: 'leak-token', template: { data: { REFRESH: '{{refresh_token}}' } } } })).then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(KubeApiError);
    expect((e as KubeApiError).message).toContain('spec.target.template uses the field refresh_token, which AccessToken offers only with spec.oidc.exposeRefreshToken: true');
  });
});
