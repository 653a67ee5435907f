import {
  ClientSecretBasic,
  ClientSecretPost,
  Configuration,
  None,
  allowInsecureRequests,
  customFetch,
  discovery,
  refreshTokenGrant,
  tokenRevocation,
  type ClientAuth,
  type ServerMetadata,
} from 'openid-client';
import { fetchHttpClient, type HttpClient, type ObservedCall } from '../http.js';
import { systemClock, type Clock } from '../../schedule/clock.js';
import { sharedDiscoveryCache, type DiscoveryCache } from '../oauth2-discovery.js';
import { OidcError, PROVIDER, toOidcError } from './errors.js';
import { fetchVia } from './fetch.js';
import { jwtExpiry } from '../jwt.js';
import { TokenResponseSchema } from './schemas.js';
import { accessTokenLiveness } from '../oauth2-liveness.js';
import { unknownFrom, type Liveness } from '../liveness.js';

/**
 * OAuth2/OIDC refresh-token grant and RFC 7009 revocation, for tokens a person generated
 * once (DataChain's Keycloak realm is the reference case, see
 * docs/providers.md "OAuth2/OIDC refresh grant"). The operator never mints tokens: it
 * refreshes the one it was given and stores whatever refresh token comes back.
 */
export type OidcClientAuthMethod = 'client_secret_post' | 'client_secret_basic';

export interface OidcProviderOptions {
  /** issuer identifier; its /.well-known/openid-configuration is discovered (and cached) */
  issuerUrl?: string;
  /**
   * token endpoint, used as is without discovery (DataChain deliveries vary in their
   * `/auth` prefix, so the full URL is configurable). Wins over discovery when both are set.
   */
  tokenUrl?: string;
  /**
   * revocation endpoint; default: the discovered one, or with an explicit tokenUrl its
   * sibling `…/revoke` (the Keycloak and common OIDC layout)
   */
  revocationUrl?: string;
  clientId: string;
  /** absent for public clients (DataChain's `pydc`) */
  clientSecret?: string;
  /** how a confidential client sends its secret; default client_secret_post */
  clientAuthMethod?: OidcClientAuthMethod;
  /** allow http:// endpoints (local test servers only) */
  allowInsecureHttp?: boolean;
  http?: HttpClient;
  clock?: Clock;
  discoveryCache?: DiscoveryCache;
  observe?: (o: ObservedCall) => void;
}

export interface RefreshRequest {
  refreshToken: string;
  /** optional down-scoping; the server keeps the original scope when absent */
  scope?: string;
  /**
   * Called with a rotated refresh token the moment the server's answer arrives, before
   * openid-client or our schema check anything else in it: the presented token is spent by
   * then, so a malformed rest of the answer must not lose the new one. Errors are ignored
   * (the caller still gets the token in the result, or the error).
   */
  onRotated?: (refreshToken: string) => Promise<void>;
}

export interface RefreshedTokens {
  accessToken: string;
  /** `Bearer` (or `DPoP`), in its usual spelling for an Authorization header */
  tokenType: string;
  /** from expires_in, else the access token's JWT `exp`; null when the server says neither */
  expiresAt: Date | null;
  /** the refresh token to store now: the new one, or the presented one when not rotated */
  refreshToken: string;
  /** true when the server returned a different refresh token (the old one is spent) */
  refreshTokenRotated: boolean;
  /**
   * when the refresh token expires; null = never (Keycloak offline tokens,
   * `refresh_expires_in: 0`); absent = the server did not say
   */
  refreshExpiresAt?: Date | null;
  scope?: string;
}

export interface OidcProvider {
  /**
   * Runs the refresh grant. With rotation on, the presented token is spent the moment the
   * server answers: persist `refreshToken` before anything else (docs/providers.md "Keycloak: offline tokens").
   * Throws OidcError/ProviderError; kind Unauthorized carries `reason`.
   */
  refresh(req: RefreshRequest): Promise<RefreshedTokens>;
  /** Revokes a refresh token. Idempotent: an already invalid token counts as revoked. */
  revoke(refreshToken: string): Promise<void>;
  /**
   * Liveness of an access token this client holds, without a refresh (which would spend the
   * refresh token): introspection with the client secret, else userinfo (liveness.ts).
   */
  verify(accessToken: string): Promise<Liveness>;
}

export function createOidcProvider(opts: OidcProviderOptions): OidcProvider {
  const http = opts.http ?? fetchHttpClient();
  const clock = opts.clock ?? systemClock;
  const cache = opts.discoveryCache ?? sharedDiscoveryCache;
  const nowMs = () => clock.now().getTime();

  function via(call: string, transformJson?: (body: Record<string, unknown>) => void | Promise<void>) {
    return fetchVia({
      http,
      provider: PROVIDER,
      call,
      ...(opts.observe ? { observe: opts.observe } : {}),
      ...(transformJson ? { transformJson } : {}),
      ...(opts.allowInsecureHttp ? { allowInsecureHttp: true } : {}),
    });
  }

  async function serverMetadata(): Promise<ServerMetadata> {
    if (opts.tokenUrl) return explicitMetadata(opts.tokenUrl, opts);
    const issuerUrl = opts.issuerUrl;
    if (!issuerUrl) {
      throw new OidcError('Invalid', 'configure: one of issuerUrl and tokenUrl is required', { provider: PROVIDER, call: 'configure' });
    }
    const issuer = parseUrl(issuerUrl, 'issuerUrl');
    return cache.get(issuerUrl, async () => {
      try {
        const config = await discovery(issuer, opts.clientId, undefined, None(), {
          [customFetch]: via('discover'),
          execute: opts.allowInsecureHttp ? [allowInsecureRequests] : [],
        });
        return { ...config.serverMetadata() };
      } catch (e) {
        throw toOidcError(e, 'discover', nowMs());
      }
    });
  }

  async function configuration(call: string, transformJson?: (body: Record<string, unknown>) => void | Promise<void>): Promise<Configuration> {
    const config = new Configuration(await serverMetadata(), opts.clientId, undefined, clientAuth(opts));
    config[customFetch] = via(call, transformJson);
    if (opts.allowInsecureHttp) allowInsecureRequests(config);
    return config;
  }

  return {
    async refresh({ refreshToken, scope, onRotated }) {
      // lifetimes count from when we asked, so a slow answer never stretches them
      const askedAtMs = nowMs();
      let raw: unknown;
      try {
        // We never use the ID token that Keycloak adds when the grant has scope `openid`,
        // but openid-client validates it (issuer, audience, clock). Failing that check
        // after the server has rotated the refresh token would throw away the only live
        // one, so the ID token is dropped before openid-client sees the response.
        const config = await configuration('refresh', async (body) => {
          delete body.id_token;
          const rotated = body.refresh_token;
          if (onRotated && typeof rotated === 'string' && rotated !== '' && rotated !== refreshToken) await onRotated(rotated).catch(() => undefined);
        });
        raw = await refreshTokenGrant(config, refreshToken, scope ? { scope } : undefined);
      } catch (e) {
        throw toOidcError(e, 'refresh', nowMs());
      }
      const parsed = TokenResponseSchema.safeParse(raw);
      if (!parsed.success) {
        const fields = parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.code}`).join('; ');
        throw new OidcError('BadResponse', `refresh: unexpected response shape (${fields})`, { provider: PROVIDER, call: 'refresh' });
      }
      const t = parsed.data;
      const newRefreshToken = t.refresh_token ?? refreshToken;
      const result: RefreshedTokens = {
        accessToken: t.access_token,
        tokenType: tokenTypeSpelling(t.token_type),
        expiresAt: t.expires_in !== undefined ? new Date(askedAtMs + t.expires_in * 1000) : (jwtExpiry(t.access_token) ?? null),
        refreshToken: newRefreshToken,
        refreshTokenRotated: newRefreshToken !== refreshToken,
      };
      if (t.refresh_expires_in !== undefined) {
        result.refreshExpiresAt = t.refresh_expires_in === 0 ? null : new Date(askedAtMs + t.refresh_expires_in * 1000);
      }
      if (t.scope !== undefined) result.scope = t.scope;
      return result;
    },

    async revoke(refreshToken) {
      try {
        const config = await configuration('revoke');
        // Keycloak answers 200 with {"error":"invalid_token"} for a token that is already
        // unknown, expired or sessionless (docs/providers.md "Keycloak: revocation"); openid-client only checks
        // the status, so that counts as revoked, which is what we want.
        await tokenRevocation(config, refreshToken, { token_type_hint: 'refresh_token' });
      } catch (e) {
        throw toOidcError(e, 'revoke', nowMs());
      }
    },

    async verify(accessToken) {
      let metadata: ServerMetadata;
      try {
        metadata = await serverMetadata();
      } catch (e) {
        return unknownFrom(toOidcError(e, 'discover', nowMs()));
      }
      return accessTokenLiveness(
        {
          provider: PROVIDER,
          http,
          clientId: opts.clientId,
          ...(opts.clientSecret !== undefined ? { clientSecret: opts.clientSecret } : {}),
          ...(opts.clientAuthMethod ? { clientAuthMethod: opts.clientAuthMethod } : {}),
          ...(opts.allowInsecureHttp ? { allowInsecureHttp: true } : {}),
          ...(opts.observe ? { observe: opts.observe } : {}),
        },
        {
          ...(metadata.userinfo_endpoint ? { userinfo: metadata.userinfo_endpoint } : {}),
          ...(metadata.introspection_endpoint ? { introspection: metadata.introspection_endpoint } : {}),
        },
        accessToken,
      );
    },
  };
}

function clientAuth(opts: OidcProviderOptions): ClientAuth {
  if (opts.clientSecret === undefined) return None();
  return opts.clientAuthMethod === 'client_secret_basic'
    ? ClientSecretBasic(opts.clientSecret)
    : ClientSecretPost(opts.clientSecret);
}

function explicitMetadata(tokenUrl: string, opts: OidcProviderOptions): ServerMetadata {
  const token = parseUrl(tokenUrl, 'tokenUrl');
  const sibling = (name: string) => (token.pathname.endsWith('/token') ? new URL(token.pathname.replace(/\/token$/, name), token).href : undefined);
  const revocation = opts.revocationUrl ? parseUrl(opts.revocationUrl, 'revocationUrl').href : sibling('/revoke');
  // liveness checks (liveness.ts): Keycloak's layout beside the token endpoint
  const userinfo = sibling('/userinfo');
  const introspection = sibling('/token/introspect');
  // `issuer` is required by openid-client but only checked against ID tokens, which
  // refresh() drops; Keycloak's issuer is the token URL minus /protocol/openid-connect/token
  const issuer = opts.issuerUrl ?? token.href.replace(/\/protocol\/openid-connect\/token$/, '');
  return {
    issuer,
    token_endpoint: token.href,
    ...(revocation ? { revocation_endpoint: revocation } : {}),
    ...(userinfo ? { userinfo_endpoint: userinfo } : {}),
    ...(introspection ? { introspection_endpoint: introspection } : {}),
  };
}

function parseUrl(value: string, field: string): URL {
  try {
    return new URL(value);
  } catch {
    throw new OidcError('Invalid', `configure: ${field} is not a URL`, { provider: PROVIDER, call: 'configure' });
  }
}

function tokenTypeSpelling(lowercased: string): string {
  if (lowercased === 'bearer') return 'Bearer';
  if (lowercased === 'dpop') return 'DPoP';
  return lowercased;
}
