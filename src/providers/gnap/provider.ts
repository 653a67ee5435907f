import { ProviderError } from '../errors.js';
import { fetchHttpClient, parseBody, send, type HttpClient, type ObservedCall } from '../http.js';
import { systemClock, type Clock } from '../../schedule/clock.js';
import { GNAP_PROVIDER, gnapFailure, hostOf, readErrorBody, scrubberFor, secretsOfManageUrl } from './errors.js';
import { GnapRotateResponseSchema, type GnapAccessItem } from './schema.js';
import { createSignerCache, type GnapClientIdentity } from './signer.js';
import { createGnapLiveness } from './liveness.js';
import { unknown, unknownFrom, type Liveness } from '../liveness.js';

/**
 * GNAP token management for Interledger Open Payments: rotate (`POST {manage}`) and
 * revoke (`DELETE {manage}`), signed with the client's Ed25519 key.
 * Contract and Rafiki's behaviour: ../../../../shared/research/providers.md §4.
 *
 * Why we sign by hand instead of calling the SDK's `client.token.rotate/revoke`:
 * the SDK's ky instance retries DELETE on 408/413/429/5xx (twice, with back-off, honouring
 * Retry-After) and offers no way to turn that off. A revoke whose first attempt landed but
 * whose reply was a 500 then comes back as 401 on the hidden retry, which we would have
 * to report as Unauthorized; and retry policy belongs to the work queue, not here. The SDK
 * also drops Retry-After, reports timeouts, network errors and non-JSON bodies as the
 * same error type (told apart only by message text, which contains the manage URL), and
 * bypasses our HttpClient (body cap, metrics). So we sign with the same function the SDK
 * uses (`@interledger/http-signature-utils` `createHeaders`, same components) and send
 * over HttpClient. test/unit/providers/gnap/sdk-interop.test.ts keeps both honest: the
 * SDK, with response validation on, rotates and revokes against our simulator.
 */

export interface GnapTokenRef extends GnapClientIdentity {
  /** the token's management URL: a capability, treat it like the token itself */
  manageUrl: string;
  /** the current access token value */
  accessToken: string;
  /** the resource's consent to plain http for the manage URL (the operator's is `allowInsecureHttp` below) */
  allowInsecureHttp?: boolean;
}

export interface GnapRevokeRequest extends GnapTokenRef {
  /**
   * Set when the caller has reason to think this token is already dead: an earlier revoke
   * or rotate of it was sent but its reply never arrived, or the token was rotated.
   * Only then is 401 `invalid_client` read as "already gone" (see revoke()).
   */
  mayAlreadyBeRevoked?: boolean;
}

export interface RotatedGnapToken {
  /** the new access token value (the old one is already revoked) */
  value: string;
  /** the new management URL: persist it with value, atomically; the old one is dead */
  manage: string;
  /** lifetime in seconds, if the server said (Rafiki: 600) */
  expiresIn?: number;
  /** clock time when the request was sent + expiresIn: errs on the early side */
  expiresAt?: Date;
  access: GnapAccessItem[];
}

export type GnapRevokeOutcome = 'revoked' | 'already-gone';

export interface GnapLivenessCheck extends GnapClientIdentity {
  /** the current access token value */
  accessToken: string;
  /** the grant's access rights, as the last rotation returned them (the target Secret's `access`) */
  access: GnapAccessItem[];
  /** the resource's consent to plain http */
  allowInsecureHttp?: boolean;
}

export interface GnapProvider {
  rotate(req: GnapTokenRef): Promise<RotatedGnapToken>;
  revoke(req: GnapRevokeRequest): Promise<GnapRevokeOutcome>;
  /** Liveness without rotating: a read-only, signed call with the token at the resource server (liveness.ts). */
  verify(req: GnapLivenessCheck): Promise<Liveness>;
}

export interface GnapProviderOptions {
  clock?: Clock;
  /** per request; default 10 s (the SDK's 5 s is short for a loaded auth server) */
  timeoutMs?: number;
  /** allow `http:` manage URLs: local simulators only, never in production */
  allowInsecureHttp?: boolean;
  http?: HttpClient;
  observe?: (o: ObservedCall) => void;
}

const DEFAULT_TIMEOUT_MS = 10_000;

export function createGnapProvider(opts: GnapProviderOptions = {}): GnapProvider {
  const clock = opts.clock ?? systemClock;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const http = opts.http ?? fetchHttpClient({ timeoutMs });
  const signers = createSignerCache();
  const liveness = createGnapLiveness({ http, clock, timeoutMs, allowInsecureHttp: opts.allowInsecureHttp === true, ...(opts.observe ? { observe: opts.observe } : {}) });

  async function call(name: 'rotate' | 'revoke', method: 'POST' | 'DELETE', req: GnapTokenRef) {
    const target = checkRequest(req, name, opts.allowInsecureHttp === true);
    const scrub = scrubberFor([req.accessToken, ...secretsOfManageUrl(req.manageUrl), req.privateKeyPem]);
    const ctx = { call: name, host: hostOf(target), scrub };
    const signed = await signers.signerFor(req, name)({ method, url: target, accessToken: req.accessToken });
    const sentAt = clock.now();
    const res = await send(
      http,
      { method, url: signed.url, headers: signed.headers, timeoutMs, ...(req.allowInsecureHttp ? { allowInsecureHttp: true } : {}) },
      { provider: GNAP_PROVIDER, call: name, ...(opts.observe ? { observe: opts.observe } : {}) },
    );
    return { res, sentAt, ctx: { ...ctx, nowMs: clock.now().getTime() } };
  }

  return {
    /**
     * Rotation has no overlap: once the server answers 200 the old value and manage URL
     * are dead. If the reply is lost (timeout), the old token may already be revoked and
     * the next rotate gets 401 invalid_client: only a new grant helps then.
     */
    async rotate(req) {
      const { res, sentAt, ctx } = await call('rotate', 'POST', req);
      if (res.status < 200 || res.status >= 300) throw gnapFailure(res, ctx);
      const { access_token: token } = parseBody(res, GnapRotateResponseSchema, {
        provider: GNAP_PROVIDER,
        call: 'rotate',
      });
      return {
        value: token.value,
        manage: token.manage,
        ...(token.expires_in !== undefined
          ? { expiresIn: token.expires_in, expiresAt: new Date(sentAt.getTime() + token.expires_in * 1000) }
          : {}),
        access: token.access,
      };
    },

    /**
     * Revoke is not idempotent upstream: Rafiki looks the token up by management id with
     * `revokedAt IS NULL`, so a second DELETE answers 401 invalid_client ("invalid access
     * token"). The same 401 code also means "your signature is bad" or "bad signature
     * headers", so 401 alone cannot tell "already gone" from "our key is wrong". We read it
     * as already-gone only when the caller says the token may be dead already
     * (mayAlreadyBeRevoked), and even then not when the server says the signature failed:
     * Rafiki verifies the signature only after finding a live token, so "invalid
     * signature" proves the token is still alive. 404/410 count as gone under the same flag.
     * Without the flag every 401 is Unauthorized: reporting a live token as revoked would
     * leave a credential we think is dead working for up to its lifetime.
     */
    async revoke(req) {
      const { res, ctx } = await call('revoke', 'DELETE', req);
      if (res.status >= 200 && res.status < 300) return 'revoked';
      if (req.mayAlreadyBeRevoked && isAlreadyGone(res.status, res.text)) return 'already-gone';
      throw gnapFailure(res, ctx);
    },

    async verify(req) {
      try {
        if (!req.accessToken || !req.keyId || !URL.canParse(req.walletAddressUrl)) return unknown('liveness: access token, key id or wallet address missing');
        return await liveness({
          accessToken: req.accessToken,
          walletAddressUrl: req.walletAddressUrl,
          access: req.access,
          sign: signers.signerFor(req, 'liveness'),
          ...(req.allowInsecureHttp ? { allowInsecureHttp: true } : {}),
        });
      } catch (e) {
        return unknownFrom(e);
      }
    },
  };
}

function isAlreadyGone(status: number, text: string): boolean {
  if (status === 404 || status === 410) return true;
  if (status !== 401) return false;
  const { code, description } = readErrorBody(text);
  return code === 'invalid_client' && !/signature/i.test(description ?? '');
}

/** Checks inputs before anything is signed or sent; returns the normalised target URL. */
function checkRequest(req: GnapTokenRef, call: string, allowInsecureHttp: boolean): string {
  const invalid = (message: string, code: string) =>
    new ProviderError('Invalid', `${call}: ${message}`, { provider: GNAP_PROVIDER, call, code });
  if (!req.accessToken) throw invalid('access token is empty', 'invalid_request');
  if (!req.keyId) throw invalid('key id is empty', 'invalid_request');
  if (!URL.canParse(req.walletAddressUrl)) throw invalid('wallet address URL is not a URL', 'invalid_request');
  let url: URL;
  try {
    url = new URL(req.manageUrl);
  } catch {
    throw invalid('manage URL is not a URL', 'invalid_manage_url');
  }
  if (url.username || url.password) throw invalid(`manage URL for ${url.host} carries credentials`, 'invalid_manage_url');
  if (url.protocol === 'http:' && !allowInsecureHttp) {
    throw invalid(`manage URL for ${url.host} is http:, which is allowed only with allowInsecureHttp`, 'insecure_url');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw invalid(`manage URL for ${url.host} must be https:`, 'invalid_manage_url');
  }
  // @target-uri is signed: sign and send exactly the same normalised string
  return url.href;
}
