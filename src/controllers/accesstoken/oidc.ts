import type { AccessToken } from '../../api/index.js';
import { isOidcError, type OidcProvider, type OidcProviderOptions, type OidcRefusalReason } from '../../providers/oidc/index.js';
import { unknown } from '../../providers/liveness.js';
import { checkEndpoint, type SecretReader } from '../shared/inputs.js';
import type { KindContext } from '../shared/token-reconciler.js';
import type { Renewed, Variant } from './variant.js';

export type OidcProviderFactory = (opts: OidcProviderOptions) => OidcProvider;

export interface OidcCredential {
  refreshToken: string;
}

// Keycloak normally states expires_in; when a server says nothing and the token is no JWT,
// assume Keycloak's default access token lifespan (providers.md §2.3) and renew early.
const FALLBACK_LIFETIME_MS = 300_000;

// Refusals about our client, not the token: the token is still good once the spec is fixed.
const CLIENT_REFUSALS = new Set<OidcRefusalReason>(['InvalidClient', 'UnauthorizedClient', 'ClientMismatch']);

function spec(res: AccessToken) {
  const o = res.spec.oidc;
  if (!o) throw new Error('oidc variant on a resource without spec.oidc');
  return o;
}

async function provider(res: AccessToken, ctx: KindContext, reader: SecretReader, factory: OidcProviderFactory): Promise<OidcProvider> {
  const o = spec(res);
  for (const f of ['issuerUrl', 'tokenUrl', 'revocationUrl'] as const) {
    checkEndpoint(o[f], `spec.oidc.${f}`, o.allowInsecureHttp, ctx.env.allowInsecureHttp);
  }
  const clientSecret = o.clientSecretRef
    ? await reader.value(o.clientSecretRef.name, o.clientSecretRef.key, 'spec.oidc.clientSecretRef')
    : undefined;
  return factory({
    clientId: o.clientId,
    ...(o.issuerUrl ? { issuerUrl: o.issuerUrl } : {}),
    ...(o.tokenUrl ? { tokenUrl: o.tokenUrl } : {}),
    ...(o.revocationUrl ? { revocationUrl: o.revocationUrl } : {}),
    ...(clientSecret !== undefined ? { clientSecret } : {}),
    ...(o.allowInsecureHttp && ctx.env.allowInsecureHttp ? { allowInsecureHttp: true } : {}),
  });
}

function seedLocation(res: AccessToken): string {
  const ref = spec(res).refreshTokenSecretRef;
  return `Secret "${ref.name}" key "${ref.key}"`;
}

/**
 * OAuth2/OIDC refresh grant (DataChain's Keycloak realm; docs/providers.md). The refresh
 * token is the credential: with rotation on, every answer carries a new one and the
 * presented one is spent, so the new one is saved to the state Secret the moment it arrives,
 * and again with the access token's write (target keys access_token, token_type, expires_at).
 */
export function oidcVariant(factory: OidcProviderFactory): Variant<OidcCredential> {
  return {
    grantType: 'oidc',
    afterRenewCrashPoint: 'accesstoken:oidc:after-refresh',

    seedLocation,

    async readSeed(res, reader) {
      const ref = spec(res).refreshTokenSecretRef;
      return { refreshToken: await reader.value(ref.name, ref.key, 'spec.oidc.refreshTokenSecretRef') };
    },

    toPrivate: (c) => ({ refresh_token: c.refreshToken }),

    fromPrivate: (data) => (data.refresh_token ? { refreshToken: data.refresh_token } : undefined),

    async prepare(res, ctx, reader, c, save) {
      const p = await provider(res, ctx, reader, factory);
      const { scope, exposeRefreshToken } = spec(res);
      return async (): Promise<Renewed<OidcCredential>> => {
        const t = await p.refresh({
          refreshToken: c.refreshToken,
          ...(scope ? { scope } : {}),
          // the rotated token is stored before openid-client checks the rest of the answer
          onRotated: (refreshToken) => save({ refreshToken }),
        });
        const expiresAt = t.expiresAt ?? new Date(ctx.now.getTime() + FALLBACK_LIFETIME_MS);
        return {
          // Always keep what came back, rotated or not: the realm setting can change any time (§2.6).
          next: { refreshToken: t.refreshToken },
          // The refresh token stays in the state Secret (ARCHITECTURE rule 7): any pod mounting the
          // target could mint tokens with it, and a client that refreshes on its own would spend the
          // operator's token (Keycloak's reuse detection then ends the chain). Opt-in only.
          data: {
            access_token: t.accessToken,
            token_type: t.tokenType,
            expires_at: expiresAt.toISOString(),
            ...(exposeRefreshToken ? { refresh_token: t.refreshToken } : {}),
          },
          expiresAt,
          ...(t.refreshExpiresAt !== undefined ? { refreshExpiresAt: t.refreshExpiresAt } : {}),
        };
      };
    },

    refusal(e, res, r) {
      if (!isOidcError(e) || !e.reason) return undefined;
      const seed = seedLocation(res);
      const resume = `Put a new token into ${seed}: the operator uses it as soon as the value changes.`;
      if (CLIENT_REFUSALS.has(e.reason)) {
        return {
          reason: e.reason,
          message: `oidc ${e.message}. Fix spec.oidc (clientId, clientSecretRef): a spec change retries at once; after changing only the client secret, set the token-operator.io/rotate annotation to a new value.`,
        };
      }
      if (r.recoveringSince) {
        return {
          reason: 'RefreshTokenLost',
          message:
            `a refresh sent at ${r.recoveringSince} never had its answer stored (operator crash or lost reply), so the refresh token it presented was spent, ` +
            `and the server now refuses it (${e.reason}): the token chain is lost. Generate a new token (offline recommended) and put it into ${seed}: the operator uses it as soon as the value changes.`,
        };
      }
      return { reason: e.reason, message: `oidc ${e.message}. ${resume}` };
    },

    async revoke(res, ctx, reader, c) {
      // Keycloak answers 200 (+ invalid_token) for a token that is already dead: idempotent (§2.5).
      await (await provider(res, ctx, reader, factory)).revoke(c.refreshToken);
    },

    async verify(res, ctx, reader, data) {
      // the access token workloads use: introspection with the client secret, else userinfo; never a refresh
      if (!data.access_token) return unknown('no access token known for this revision');
      return (await provider(res, ctx, reader, factory)).verify(data.access_token);
    },
  };
}
