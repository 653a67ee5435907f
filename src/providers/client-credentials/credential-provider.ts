import type { ClientCredentialsSpec } from '../../api/accesstoken.js';
import type { CredentialProvider, ProviderCall, ProviderDeps } from '../credential-provider.js';
import { unknown, unknownFrom } from '../liveness.js';
import { accessTokenLiveness } from '../oauth2-liveness.js';
import { PROVIDER, clientCredentialsClient, type ClientCredentials } from './client.js';

/** When a server states no lifetime and the token is no JWT: Keycloak's default, renewed early. */
const FALLBACK_LIFETIME_MS = 300_000;

/**
 * OAuth2 client credentials (machine-to-machine; docs/providers.md "OAuth2 client credentials"):
 * every renewal is a new token request with the client's own credentials. Nothing is spent or
 * carried from one token to the next, so there is no chain and no one-time answer: a lost one
 * costs one more request. The target gets access_token, token_type, expires_at.
 */
export function clientCredentialsProvider(deps: ProviderDeps): CredentialProvider<ClientCredentialsSpec> {
  const client = clientCredentialsClient(deps);
  const credentials = (call: ProviderCall<ClientCredentialsSpec>): ClientCredentials => ({
    clientId: call.spec.clientId,
    clientSecret: String(call.inputs.clientSecret),
    method: call.spec.clientAuthMethod ?? 'client_secret_basic',
  });

  return {
    name: 'client-credentials',
    traits: { oneTime: false },

    inputs: (c) => ({ clientSecret: { field: 'clientSecretRef', ...c.clientSecretRef } }),

    endpoints: (c) => ({ issuerUrl: c.issuerUrl, tokenUrl: c.tokenUrl, revocationUrl: c.revocationUrl }),

    async issue(call) {
      const { token: tokenUrl } = await client.endpoints(call.spec, call.allowInsecureHttp);
      const t = await client.token({ ...credentials(call), tokenUrl, scope: call.spec.scope, audience: call.spec.audience, allowInsecureHttp: call.allowInsecureHttp });
      const expiresAt = t.expiresAt ?? new Date(call.now.getTime() + FALLBACK_LIFETIME_MS);
      return { data: { access_token: t.accessToken, token_type: t.tokenType, expires_at: expiresAt.toISOString() }, expiresAt };
    },

    // RFC 7662 introspection with the client's own credentials: a token revoked (RFC 7009, or
    // Keycloak's not-before revocation of the client) is no longer active. Not a new token
    // request, which proves the client, not the token workloads hold; not userinfo (no user).
    async checkLiveness(call) {
      if (!call.data.access_token) return unknown('no access token known for this revision');
      let introspection: string | undefined;
      try {
        ({ introspection } = await client.endpoints(call.spec, call.allowInsecureHttp));
      } catch (e) {
        return unknownFrom(e);
      }
      const c = credentials(call);
      return accessTokenLiveness(
        {
          provider: PROVIDER,
          http: deps.http,
          ...(deps.observe ? { observe: deps.observe } : {}),
          clientId: c.clientId,
          clientSecret: c.clientSecret,
          clientAuthMethod: c.method,
          ...(call.allowInsecureHttp ? { allowInsecureHttp: true } : {}),
        },
        introspection ? { introspection } : {},
        call.data.access_token,
      );
    },

    async revoke(call) {
      const token = call.current?.data.access_token;
      if (!token) return;
      const { revocation } = await client.endpoints(call.spec, call.allowInsecureHttp);
      if (revocation) await client.revoke({ ...credentials(call), revocationUrl: revocation, token, allowInsecureHttp: call.allowInsecureHttp });
    },

    stillValid(c, known) {
      const until = known.expiresAt ? ` until ${known.expiresAt}` : '';
      return `The last access token of client "${c.clientId}" stays valid${until}; the client itself is untouched: rotate its secret at the authorization server to end every token it can get`;
    },
  };
}
