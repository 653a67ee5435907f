import { ProviderError, isProviderError } from '../errors.js';
import { withInsecureHttpConsent, type HttpClient, type ObservedCall } from '../http.js';
import type { Clock } from '../../schedule/clock.js';
import { AuthorizationCache, profileKey, type ProfileSession } from './authorization-cache.js';
import { waitForCommand, type CommandOutcome } from './commands.js';
import {
  DEFAULT_API_URL,
  DEFAULT_POLLING,
  PROVIDER,
  normalizeApiUrl,
  realSleep,
  type Authorized,
  type PollingOptions,
  type PrivicoreContext,
} from './context.js';
import * as dataTokens from './data-tokens.js';
import * as profile from './profile.js';
import type { DataTokenList, ProfileAuthorization, TemporaryToken } from './schemas.js';
import { authorizationLiveness, DataTokenListings } from './liveness.js';
import type { Liveness } from '../liveness.js';

export interface PrivicoreProviderOptions {
  http: HttpClient;
  clock: Clock;
  /** default: the documented sandbox host */
  apiUrl?: string;
  /** the profile whose authorization every call uses (from the DataToken's profile Secret) */
  profile: { username: string; password: string };
  /**
   * Pass ONE cache for the whole process so every DataToken of a profile shares one
   * authorization; without it the provider keeps its own.
   */
  authorizations?: AuthorizationCache;
  /** ONE per process too: liveness checks of a profile's tokens share its listing */
  listings?: DataTokenListings;
  /** ttl asked for on reauthorize (`spec.privicore.authorizationTtl`); default: the lifetime the last one had */
  authorizationTtlSeconds?: number;
  /** how long an unfilled reservation lives; default 300 s = the documented 5 minutes */
  reservationTtlSeconds?: number;
  /** unit of the `ttl` form field: 'minutes' per the official docs (default) or 'seconds' per the probe */
  reservationTtlUnit?: dataTokens.ReservationTtlUnit;
  polling?: Partial<PollingOptions>;
  requestTimeoutMs?: number;
  /** the resource's consent to plain http (apiUrl and the download links Privicore returns) */
  allowInsecureHttp?: boolean;
  observe?: (o: ObservedCall) => void;
  /** test seams for the poll loop; real time by default */
  sleep?: (ms: number) => Promise<void>;
  elapsedMs?: () => number;
}

export interface TokenizeInput {
  data: Buffer;
  /** Privicore's free-form grouping (a path or namespace) */
  context: string;
  /** default `data.bin` */
  fileName?: string;
}

export interface PrivicoreProvider {
  readonly apiUrl: string;
  /** reserve → retrieve temporary token → exchange → configure-file-meta → permanent `dtk-…` */
  tokenize(input: TokenizeInput): Promise<{ token: string }>;
  /** request-data → (poll for the link) → download */
  resolve(input: { token: string }): Promise<{ data: Buffer }>;
  /** delete-data and wait for the commit; a token already gone counts as removed */
  remove(input: { token: string }): Promise<void>;
  /** the profile's live authorization (shared, reauthorized when due) */
  authorization(): Promise<ProfileAuthorization>;
  /** revokes the cached authorization at Privicore and forgets it */
  revokeAuthorization(): Promise<void>;
  /**
   * Liveness of the authorization held for the profile (token-expiry endpoint); a refused one is
   * replaced by a fresh login (`relogged`). Nothing held yet: alive, nothing to check.
   */
  authorizationLiveness(): Promise<{ liveness: Liveness; relogged: boolean }>;
  /**
   * Liveness of a data token: still listed for the profile? One listing serves every check of
   * the profile's tokens within `maxAgeMs` of it (liveness.ts).
   */
  dataTokenLiveness(token: string, writtenAt: Date | undefined, maxAgeMs: number): Promise<Liveness>;

  // Building blocks, each authorized through the shared cache (profile calls take the token).
  authenticate(username: string, password: string): Promise<ProfileAuthorization>;
  reauthorize(token: string, ttlSeconds: number): Promise<ProfileAuthorization>;
  retrieveExpiry(token: string): Promise<Date>;
  revoke(token: string): Promise<void>;
  waitForCommand(commandId: string, call?: string): Promise<CommandOutcome>;
  reserveTokenSpace(context: string, ttlSeconds?: number, meta?: string): Promise<{ reservationId: string }>;
  retrieveTemporaryToken(reservationId: string): Promise<TemporaryToken>;
  exchangeDataForToken(temporaryToken: string, dataBase64: string): Promise<{ commandId: string }>;
  configureFileMeta(temporaryToken: string, meta: dataTokens.FileMeta): Promise<{ token: string }>;
  requestData(token: string): Promise<{ requestId: string; downloadUrl: string }>;
  download(url: string): Promise<Buffer>;
  listDataTokens(page?: number, perPage?: number): Promise<DataTokenList>;
  updateDataToken(token: string, changes: dataTokens.DataTokenChanges): Promise<void>;
  deleteData(token: string): Promise<void>;
}

export function createPrivicoreProvider(opts: PrivicoreProviderOptions): PrivicoreProvider {
  const apiUrl = normalizeApiUrl(opts.apiUrl ?? DEFAULT_API_URL);
  const { username, password } = opts.profile;
  const cache = opts.authorizations ?? new AuthorizationCache({ clock: opts.clock });
  const listings = opts.listings ?? new DataTokenListings({ clock: opts.clock });
  const key = profileKey(apiUrl, username, password);
  const ttlUnit = opts.reservationTtlUnit ?? 'minutes';
  const reservationTtlSeconds = opts.reservationTtlSeconds ?? 300;

  const ctx: PrivicoreContext = {
    // the consent covers the download links Privicore hands back too
    http: withInsecureHttpConsent(opts.http, opts.allowInsecureHttp),
    clock: opts.clock,
    apiUrl,
    polling: { ...DEFAULT_POLLING, ...opts.polling },
    ...(opts.requestTimeoutMs !== undefined ? { requestTimeoutMs: opts.requestTimeoutMs } : {}),
    ...(opts.observe ? { observe: opts.observe } : {}),
    sleep: opts.sleep ?? realSleep,
    elapsedMs: opts.elapsedMs ?? (() => performance.now()),
    knownSecrets: () => {
      const token = cache.peek(key)?.authorizationToken;
      return token ? [password, token] : [password];
    },
    wire: { statusMethod: 'POST', expiryPath: 'live' },
  };

  const session: ProfileSession = {
    key,
    authenticate: () => profile.authenticate(ctx, username, password),
    reauthorize: (current, lifetimeSeconds) =>
      profile.reauthorize(ctx, current.authorizationToken, opts.authorizationTtlSeconds ?? lifetimeSeconds),
  };
  const authorized: Authorized = (fn) => cache.withAuthorization(session, fn);

  const provider: PrivicoreProvider = {
    apiUrl,

    async tokenize({ data: bytes, context, fileName = 'data.bin' }) {
      if (context.trim() === '') throw invalid('tokenize', 'context is empty');
      if (bytes.length === 0) throw invalid('tokenize', 'data is empty');
      const dot = fileName.lastIndexOf('.');
      const extension = dot > 0 ? fileName.slice(dot + 1) : 'bin';
      const { reservationId } = await provider.reserveTokenSpace(context);
      const temporary = await provider.retrieveTemporaryToken(reservationId);
      await provider.exchangeDataForToken(temporary.token, bytes.toString('base64'));
      return provider.configureFileMeta(temporary.token, { fileName, extension, context, size: bytes.length, path: '/' });
    },

    async resolve({ token }) {
      const { downloadUrl } = await provider.requestData(token);
      return { data: await provider.download(downloadUrl) };
    },

    async remove({ token }) {
      try {
        await provider.deleteData(token);
      } catch (e) {
        // Revoke means "make it gone": already gone is the goal reached, not a failure.
        if (isProviderError(e) && e.kind === 'NotFound') return;
        throw e;
      }
    },

    authorization: () => cache.get(session),

    async revokeAuthorization() {
      const current = cache.take(key);
      if (current) await profile.revoke(ctx, current.authorizationToken);
    },

    async authorizationLiveness() {
      const held = cache.peek(key);
      if (!held) return { liveness: { state: 'alive' }, relogged: false };
      return authorizationLiveness(
        () => profile.retrieveExpiry(ctx, held.authorizationToken),
        () => {
          cache.invalidate(key, held.authorizationToken);
          return cache.get(session);
        },
      );
    },

    dataTokenLiveness: (token, writtenAt, maxAgeMs) => listings.liveness(key.key, token, writtenAt, maxAgeMs, (page, perPage) => provider.listDataTokens(page, perPage)),

    authenticate: (user, pass) => profile.authenticate(ctx, user, pass),
    reauthorize: (token, ttlSeconds) => profile.reauthorize(ctx, token, ttlSeconds),
    retrieveExpiry: (token) => profile.retrieveExpiry(ctx, token),
    revoke: (token) => profile.revoke(ctx, token),
    waitForCommand: (commandId, call = 'waitForCommand') => waitForCommand(ctx, commandId, authorized, { call }),
    reserveTokenSpace: (context, ttlSeconds = reservationTtlSeconds, meta) =>
      dataTokens.reserveTokenSpace(ctx, authorized, {
        context,
        ttl: dataTokens.reservationTtlOnWire(ttlSeconds, ttlUnit),
        ...(meta !== undefined ? { meta } : {}),
      }),
    retrieveTemporaryToken: (reservationId) => dataTokens.retrieveTemporaryToken(ctx, authorized, reservationId),
    exchangeDataForToken: (temporaryToken, dataBase64) => dataTokens.exchangeDataForToken(ctx, authorized, temporaryToken, dataBase64),
    configureFileMeta: (temporaryToken, meta) => dataTokens.configureFileMeta(ctx, authorized, temporaryToken, meta),
    requestData: (token) => dataTokens.requestData(ctx, authorized, token),
    download: (url) => dataTokens.download(ctx, url),
    listDataTokens: (page = 1, perPage = 25) => dataTokens.listDataTokens(ctx, authorized, page, perPage),
    updateDataToken: (token, changes) => dataTokens.updateDataToken(ctx, authorized, token, changes),
    deleteData: (token) => dataTokens.deleteData(ctx, authorized, token),
  };
  return provider;
}

function invalid(call: string, message: string): ProviderError {
  return new ProviderError('Invalid', `${call}: ${message}`, { provider: PROVIDER, call });
}
