import type { OidcSpec } from '../../api/accesstoken.js';
import type { CredentialProvider, ProviderCall, ProviderDeps } from '../credential-provider.js';
import { unknown } from '../liveness.js';
import { createOidcProvider, type OidcProvider, type OidcProviderOptions } from './client.js';

/** Builds the client for one call; tests wrap it to lose a reply or crash after one. */
export type OidcClientFactory = (opts: OidcProviderOptions) => OidcProvider;

// Keycloak normally states expires_in; when a server says nothing and the token is no JWT,
// assume Keycloak's default access token lifespan (docs/providers.md "Keycloak: lifetimes")
// and renew early.
const FALLBACK_LIFETIME_MS = 300_000;

/**
 * Keycloak drops offline sessions unused for 30 days (Offline Session Idle), whatever the
 * access token's lifetime: refresh at least weekly so a quiet token never lapses
 * (docs/providers.md "Keycloak: offline tokens").
 */
export const OFFLINE_KEEPALIVE_MS = 7 * 86_400_000;

/**
 * OAuth2/OIDC refresh grant (DataChain's Keycloak realm; docs/providers.md "OAuth2/OIDC refresh
 * grant"). The refresh token a person generated once is the seed of a chain: with rotation on,
 * every answer carries a new one and the presented one is spent, so the new one is saved the
 * moment it arrives (call.save), before anything else about the answer is checked. The target
 * gets access_token, token_type, expires_at; the refresh token stays private (unless the spec
 * opts in with exposeRefreshToken).
 */
export function oidcCredentialProvider(deps: ProviderDeps, create: OidcClientFactory = createOidcProvider): CredentialProvider<OidcSpec> {
  const client = (call: ProviderCall<OidcSpec>): OidcProvider => {
    const o = call.spec;
    const clientSecret = call.inputs.clientSecret;
    return create({
      http: deps.http,
      clock: deps.clock,
      ...(deps.observe ? { observe: deps.observe } : {}),
      clientId: o.clientId,
      ...(o.issuerUrl ? { issuerUrl: o.issuerUrl } : {}),
      ...(o.tokenUrl ? { tokenUrl: o.tokenUrl } : {}),
      ...(o.revocationUrl ? { revocationUrl: o.revocationUrl } : {}),
      ...(typeof clientSecret === 'string' ? { clientSecret } : {}),
      ...(call.allowInsecureHttp ? { allowInsecureHttp: true } : {}),
    });
  };

  return {
    name: 'oidc',
    traits: {
      oneTime: true,
      chain: { seed: { refreshToken: 'refresh_token' }, lost: 'RefreshTokenLost', call: 'refresh', anew: 'Generate a new token (offline recommended) and put it into' },
      keepAliveMs: OFFLINE_KEEPALIVE_MS,
    },

    inputs: (o) => ({
      refreshToken: { field: 'refreshTokenSecretRef', ...o.refreshTokenSecretRef },
      ...(o.clientSecretRef ? { clientSecret: { field: 'clientSecretRef', ...o.clientSecretRef } } : {}),
    }),

    endpoints: (o) => ({ issuerUrl: o.issuerUrl, tokenUrl: o.tokenUrl, revocationUrl: o.revocationUrl }),

    async issue(call) {
      const refreshToken = call.previous?.refresh_token ?? '';
      const t = await client(call).refresh({
        refreshToken,
        ...(call.spec.scope ? { scope: call.spec.scope } : {}),
        // the rotated token is stored before openid-client checks the rest of the answer
        onRotated: (rotated) => call.save({ refresh_token: rotated }),
      });
      const expiresAt = t.expiresAt ?? new Date(call.now.getTime() + FALLBACK_LIFETIME_MS);
      return {
        // The refresh token stays private (ARCHITECTURE rule 7): any pod mounting the target could
        // mint tokens with it, and a client that refreshes on its own would spend the operator's
        // token (Keycloak's reuse detection then ends the chain). Opt-in only.
        data: {
          access_token: t.accessToken,
          token_type: t.tokenType,
          expires_at: expiresAt.toISOString(),
          ...(call.spec.exposeRefreshToken ? { refresh_token: t.refreshToken } : {}),
        },
        // Always keep what came back, rotated or not: the realm setting can change any time.
        private: { refresh_token: t.refreshToken },
        expiresAt,
        ...(t.refreshExpiresAt !== undefined ? { facts: { renewableUntil: t.refreshExpiresAt?.toISOString() ?? null } } : {}),
      };
    },

    // the access token workloads use: introspection with the client secret, else userinfo; never a
    // refresh, which would spend the refresh token (client.ts verify)
    async checkLiveness(call) {
      if (!call.data.access_token) return unknown('no access token known for this revision');
      return client(call).verify(call.data.access_token);
    },

    async revoke(call) {
      const refreshToken = call.current?.private?.refresh_token;
      if (!refreshToken) return;
      // Keycloak answers 200 (+ invalid_token) for a token that is already dead: idempotent.
      await client(call).revoke(refreshToken);
    },

    stillValid(o, known) {
      const until = known.renewableUntil ? ` until ${known.renewableUntil}` : ' (an offline token does not expire)';
      return `The refresh token chain of client "${o.clientId}" stays valid${until}: end the user's session (or revoke the offline consent) in the identity provider`;
    },
  };
}
