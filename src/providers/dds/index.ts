import { type Clock, systemClock } from '../../schedule/clock.js';
import { ProviderError, isProviderError } from '../errors.js';
import { withInsecureHttpConsent, type HttpClient, type ObservedCall } from '../http.js';
import { type DeltaSharingProfile, downloadProfile } from './activation.js';
import {
  type DdsCall,
  type DdsToken,
  TWO_TOKEN_CEILING,
  listDdsTokens,
  revokeAllDdsTokens,
  rotateDdsTokens,
} from './dds-api.js';
import { type ShareAccess, verifyShareAccess } from './delta-sharing.js';
import { listedLiveness, shareLiveness } from './liveness.js';
import { unknownFrom, type Liveness } from '../liveness.js';
import { type TokenRateLimiter, createTokenRateLimiter } from './token-rate-limiter.js';
import { type ZDirectCredentials, createZDirectTokenClient } from './zdirect-token.js';

export {
  ACTIVATION_CONSUMED,
  ACTIVATION_UNREADABLE,
  DeltaSharingProfileSchema,
  activationApiUrl,
  profileExpiry,
} from './activation.js';
export type { DeltaSharingProfile } from './activation.js';
export { TWO_TOKEN_CEILING, parseTimestamp } from './dds-api.js';
export type { DdsToken, DdsTokenStatus } from './dds-api.js';
export type { ShareAccess } from './delta-sharing.js';
export { createTokenRateLimiter } from './token-rate-limiter.js';
export type { TokenRateLimiter, TokenRateLimiterOptions } from './token-rate-limiter.js';
export type { ZDirectCredentials } from './zdirect-token.js';

/** One partner account at the DDS API, as a DeltaShareToken's `spec.dds` describes it. */
export interface DdsAccount {
  /** e.g. https://api-sandbox.merchants.zalando.com */
  apiUrl: string;
  /** zDirect token endpoint; default `{apiUrl}/auth/token` */
  tokenUrl?: string;
  credentials: ZDirectCredentials;
  /** the resource's consent to plain http (its allowInsecureHttp), for these URLs and every one DDS hands back */
  allowInsecureHttp?: boolean;
}

export interface DdsProvider {
  listTokens(account: DdsAccount): Promise<DdsToken[]>;
  /**
   * POST /dds-tokens: a new ACTIVE token (with an activation link) and the old one ROTATED,
   * valid for `overlapSeconds` more. While a ROTATED token is still valid this fails with
   * Conflict/`TwoTokenCeiling`, with `retryAfterMs` until that token expires when known.
   */
  rotate(account: DdsAccount, overlapSeconds: number): Promise<DdsToken[]>;
  /** PATCH /dds-tokens with 0: revokes EVERY token of the account. Returns what is left (normally []). */
  revokeAll(account: DdsAccount): Promise<DdsToken[]>;
  /**
   * One-time download of the profile behind an activation link (HTML or API form). The link is
   * the provider's URL, held to https (unless the resource consents to http) and to the egress policy.
   */
  activate(activationLink: string, allowInsecureHttp?: boolean): Promise<DeltaSharingProfile>;
  /** GET {endpoint}/shares with the profile's bearer token. */
  verify(profile: Pick<DeltaSharingProfile, 'endpoint' | 'bearerToken'>, allowInsecureHttp?: boolean): Promise<ShareAccess>;
  /** Liveness: does the Delta Sharing server still accept the profile's bearer token (GET {endpoint}/shares)? */
  shareLiveness(profile: Pick<DeltaSharingProfile, 'endpoint' | 'bearerToken'>, allowInsecureHttp?: boolean): Promise<Liveness>;
  /** Liveness without the sharing server: is the token still listed ACTIVE or ROTATED by GET /dds-tokens? */
  listedLiveness(account: DdsAccount, tokenId: string | undefined): Promise<Liveness>;
}

export interface DdsProviderOptions {
  http: HttpClient;
  clock?: Clock;
  /** share one per process: the 8/min limit is per app, whichever resource asks */
  tokenLimiter?: TokenRateLimiter;
  clientAuth?: 'basic' | 'body';
  observe?: (o: ObservedCall) => void;
}

/** Create one per process, so every resource shares the zDirect token cache and limiter. */
export function createDdsProvider(opts: DdsProviderOptions): DdsProvider {
  const clock = opts.clock ?? systemClock;
  const tokens = createZDirectTokenClient({
    http: opts.http,
    clock,
    limiter: opts.tokenLimiter ?? createTokenRateLimiter({ clock }),
    clientAuth: opts.clientAuth,
    observe: opts.observe,
  });
  const plain = { http: opts.http, observe: opts.observe };

  /**
   * Runs a DDS call with a cached zDirect token. A 401 means that token was refused
   * (expired early, revoked): drop it and try once with a fresh one; a second 401 is real.
   */
  async function withDds<T>(account: DdsAccount, fn: (c: DdsCall) => Promise<T>): Promise<T> {
    const tokenUrl = account.tokenUrl ?? `${account.apiUrl.replace(/\/+$/, '')}/auth/token`;
    const http = withInsecureHttpConsent(opts.http, account.allowInsecureHttp);
    const callWith = (accessToken: string) => fn({ ...plain, http, apiUrl: account.apiUrl, accessToken });
    const insecure = account.allowInsecureHttp === true;
    const first = await tokens.getToken(tokenUrl, account.credentials, insecure);
    try {
      return await callWith(first);
    } catch (e) {
      if (!(isProviderError(e) && e.status === 401)) throw e;
      tokens.invalidate(tokenUrl, account.credentials, first);
      return callWith(await tokens.getToken(tokenUrl, account.credentials, insecure));
    }
  }

  /**
   * The ceiling's error code is undocumented (§1.4), so a refused POST is checked against
   * the token list: a still-valid ROTATED token means Conflict, retry after it expires.
   */
  async function explainRefusedRotation(c: DdsCall, refusal: ProviderError): Promise<never> {
    const listed = await listDdsTokens(c).catch(() => {
      throw refusal;
    });
    const now = clock.now().getTime();
    const blocking = listed.filter(
      (t) => t.status === 'ROTATED' && (t.expirationTime === undefined || t.expirationTime.getTime() > now),
    );
    if (blocking.length === 0) throw refusal;
    const expiries = blocking.flatMap((t) => (t.expirationTime ? [t.expirationTime.getTime()] : []));
    const retryAfterMs = expiries.length === blocking.length ? Math.max(0, Math.min(...expiries) - now) : undefined;
    throw new ProviderError('Conflict', 'rotate-tokens: the account already holds two valid tokens', {
      provider: 'dds',
      call: 'rotate-tokens',
      status: refusal.status,
      code: TWO_TOKEN_CEILING,
      retryAfterMs,
    });
  }

  return {
    listTokens: (account) => withDds(account, listDdsTokens),
    rotate(account, overlapSeconds) {
      if (!Number.isInteger(overlapSeconds) || overlapSeconds < 0) {
        return Promise.reject(
          new ProviderError('Invalid', 'rotate-tokens: overlap must be a whole, non-negative number of seconds', {
            provider: 'dds',
            call: 'rotate-tokens',
          }),
        );
      }
      return withDds(account, async (c) => {
        try {
          return await rotateDdsTokens(c, overlapSeconds);
        } catch (e) {
          const refused = isProviderError(e) && (e.kind === 'Conflict' || (e.kind === 'Invalid' && e.status === 400));
          if (!refused) throw e;
          return explainRefusedRotation(c, e);
        }
      });
    },
    revokeAll: (account) => withDds(account, revokeAllDdsTokens),
    activate: (activationLink, allowInsecureHttp) => downloadProfile({ ...plain, http: withInsecureHttpConsent(opts.http, allowInsecureHttp) }, activationLink),
    verify: (profile, allowInsecureHttp) => verifyShareAccess({ ...plain, http: withInsecureHttpConsent(opts.http, allowInsecureHttp) }, profile),
    shareLiveness: (profile, allowInsecureHttp) => shareLiveness({ ...plain, http: withInsecureHttpConsent(opts.http, allowInsecureHttp) }, profile),
    async listedLiveness(account, tokenId) {
      try {
        return listedLiveness(await withDds(account, listDdsTokens), tokenId, clock.now());
      } catch (e) {
        return unknownFrom(e);
      }
    },
  };
}
