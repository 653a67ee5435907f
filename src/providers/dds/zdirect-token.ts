import { createHmac, randomBytes } from 'node:crypto';
import { z } from 'zod';
import { type Clock, systemClock } from '../../schedule/clock.js';
import { OAUTH_ERROR_CODES, ProviderError, isProviderError } from '../errors.js';
import { type HttpClient, type HttpResponse, MAX_CREDENTIAL_CHARS, type ObservedCall, failFor, parseBody, send } from '../http.js';
import { DEFAULT_TOKEN_WINDOW_MS, type TokenRateLimiter, createTokenRateLimiter } from './token-rate-limiter.js';

/**
 * zDirect OAuth2 client-credentials tokens, the caller credential of the DDS API
 * (../../../../shared/research/providers.md §1.2). One cached token per app is shared by
 * every resource that uses it, because the token endpoint allows only 8 requests/minute.
 */
export interface ZDirectCredentials {
  clientId: string;
  clientSecret: string;
}

export interface ZDirectTokenClientOptions {
  http: HttpClient;
  clock?: Clock;
  limiter?: TokenRateLimiter;
  /** Zalando documents both: HTTP Basic (auth page) and form fields (DDS rotation guide) */
  clientAuth?: 'basic' | 'body';
  observe?: (o: ObservedCall) => void;
}

export interface ZDirectTokenClient {
  /** a valid access token for these credentials, from cache when possible */
  getToken(tokenUrl: string, creds: ZDirectCredentials, allowInsecureHttp?: boolean): Promise<string>;
  /**
   * Drops the cached token after the DDS API refused it (401). Pass the refused token so a
   * late 401 for an old token does not throw away a newer one.
   */
  invalidate(tokenUrl: string, creds: ZDirectCredentials, refused?: string): void;
}

const WHERE = { provider: 'dds', call: 'auth-token' } as const;

/** zDirect tokens kept at once, each at most MAX_CREDENTIAL_CHARS long: 16 MiB at the very worst */
export const MAX_CACHED_TOKENS = 1024;

/** Used when the response has no expires_in: short, so a wrong guess costs little. */
const ASSUMED_LIFETIME_S = 300;
/** Renew this long before expiry (at most half the lifetime, for short-lived tokens). */
const RENEW_MARGIN_MS = 60_000;

const TokenResponse = z.object({
  access_token: z.string().min(1).max(MAX_CREDENTIAL_CHARS),
  token_type: z.string().optional(),
  expires_in: z.union([z.number().nonnegative(), z.string().regex(/^\d+$/).transform(Number)]).optional(),
});

const OAuthErrorBody = z.object({ error: z.string().optional() });

/** OAuth error codes that mean the app's credentials or grants must be fixed by a human. */
const CREDENTIAL_ERRORS = new Set(['invalid_client', 'unauthorized_client', 'invalid_scope', 'access_denied']);

interface CachedToken {
  accessToken: string;
  renewAt: number;
  expiresAt: number;
}

export function createZDirectTokenClient(opts: ZDirectTokenClientOptions): ZDirectTokenClient {
  const clock = opts.clock ?? systemClock;
  const limiter = opts.limiter ?? createTokenRateLimiter({ clock });
  const clientAuth = opts.clientAuth ?? 'basic';
  const cache = new Map<string, CachedToken>();
  const inFlight = new Map<string, Promise<string>>();
  const now = () => clock.now().getTime();

  async function request(tokenUrl: string, creds: ZDirectCredentials, allowInsecureHttp: boolean): Promise<CachedToken> {
    const form = new URLSearchParams({ grant_type: 'client_credentials' });
    const headers: Record<string, string> = {};
    if (clientAuth === 'basic') {
      headers.authorization = `Basic ${Buffer.from(`${creds.clientId}:${creds.clientSecret}`).toString('base64')}`;
    } else {
      form.set('client_id', creds.clientId);
      form.set('client_secret', creds.clientSecret);
    }
    const res = await send(opts.http, { method: 'POST', url: tokenUrl, headers, body: form, allowInsecureHttp }, { ...WHERE, observe: opts.observe });
    if (res.status !== 200) failToken(res);
    const body = parseBody(res, TokenResponse, WHERE);
    const lifetimeMs = (body.expires_in ?? ASSUMED_LIFETIME_S) * 1000;
    const obtainedAt = now();
    return {
      accessToken: body.access_token,
      expiresAt: obtainedAt + lifetimeMs,
      renewAt: obtainedAt + lifetimeMs - Math.min(RENEW_MARGIN_MS, lifetimeMs / 2),
    };
  }

  // A full sweep per fetch would be quadratic across many apps: sweep at most once a minute.
  let lastSweep = Number.NEGATIVE_INFINITY;
  function dropExpired(t: number): void {
    if (t - lastSweep < 60_000) return;
    lastSweep = t;
    for (const [key, entry] of cache) if (entry.expiresAt <= t) cache.delete(key);
  }

  return {
    getToken(tokenUrl, creds, allowInsecureHttp = false) {
      const key = cacheKey(tokenUrl, creds);
      const cached = cache.get(key);
      if (cached && now() < cached.renewAt) return Promise.resolve(cached.accessToken);
      // Concurrent callers for the same credentials share one request.
      const pending = inFlight.get(key);
      if (pending) return pending;
      // The limit is per app, and the secret is part of the app's key (see cacheKey): a resource
      // that names another app's client id with a wrong secret has a budget of its own, and its
      // refused requests (or a 429 they earn) never spend or pause the budget of the resources
      // holding the right secret.
      const fetched = limiter
        .run(key, () => request(tokenUrl, creds, allowInsecureHttp))
        .then(
          (token) => {
            dropExpired(now());
            cache.set(key, token);
            // one entry per app a resource names (user input): past the cap the oldest goes first
            // (it only costs that app one token request); each entry is a token of bounded length
            if (cache.size > MAX_CACHED_TOKENS) cache.delete(cache.keys().next().value!);
            return token.accessToken;
          },
          (e: unknown) => {
            if (isProviderError(e) && e.kind === 'RateLimited' && e.code !== 'ClientRateLimit') {
              limiter.pause(key, e.retryAfterMs ?? DEFAULT_TOKEN_WINDOW_MS);
            }
            throw e;
          },
        )
        .finally(() => inFlight.delete(key));
      inFlight.set(key, fetched);
      return fetched;
    },
    invalidate(tokenUrl, creds, refused) {
      const key = cacheKey(tokenUrl, creds);
      const cached = cache.get(key);
      if (cached && (refused === undefined || cached.accessToken === refused)) cache.delete(key);
    },
  };
}

// Keyed with a per-process secret, so the maps never hold a plain, guessable hash of a client secret.
const KEY_SALT = randomBytes(32);

/**
 * The secret is part of the key (as a keyed digest, never the secret): a resource naming someone
 * else's client id with a wrong secret must not be served the token that the right secret
 * obtained, nor spend its token-request budget.
 */
function cacheKey(tokenUrl: string, creds: ZDirectCredentials): string {
  // one flat 43-character digest of all three (a key per app: not the ~100-character concatenation)
  return createHmac('sha256', KEY_SALT).update(`${tokenUrl}\0${creds.clientId}\0${creds.clientSecret}`).digest('base64url');
}

function failToken(res: HttpResponse): never {
  let error: string | undefined;
  try {
    error = OAuthErrorBody.parse(JSON.parse(res.text)).error;
  } catch {
    error = undefined;
  }
  if (res.status === 400 && error !== undefined && CREDENTIAL_ERRORS.has(error)) {
    throw new ProviderError('Unauthorized', `auth-token: HTTP 400 (${error})`, { ...WHERE, status: 400, code: error });
  }
  if (res.status === 429 && !res.headers.has('retry-after')) {
    throw new ProviderError('RateLimited', 'auth-token: HTTP 429', {
      ...WHERE,
      status: 429,
      retryAfterMs: DEFAULT_TOKEN_WINDOW_MS,
    });
  }
  failFor(res, WHERE, error, OAUTH_ERROR_CODES);
}
