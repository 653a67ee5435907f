import { ProviderError } from '../errors.js';
import { withToken, type PrivicoreContext } from './context.js';
import { acceptedCommand, waitForCommand } from './commands.js';
import { failure, isSuccess, parse, request, sendCall, tryJson } from './request.js';
import { AuthorizationBody, ExpiryBody, type ProfileAuthorization } from './schemas.js';

/** `POST /profile/authenticate` with the profile's username and password (docs/providers.md "Privicore: profile authorization"). */
export async function authenticate(ctx: PrivicoreContext, username: string, password: string): Promise<ProfileAuthorization> {
  const call = 'authenticate';
  const res = await request(ctx, { call, method: 'POST', path: '/profile/authenticate', form: { username, password } });
  return parse(res, AuthorizationBody, call);
}

/**
 * `POST /profile/reauthorize-authorization-token` with form `ttl` in seconds (the
 * probe's unit, e.g. 86400). The live wire answers either 200 with a fresh
 * `{authorizationToken, expiresAt}` or 202 with a command id (docs/providers.md "Privicore: profile authorization"); after a 202 we wait
 * for the command and then read the presented token's new expiry, since a 202 carries
 * no new token (unless the status body happens to hold one).
 */
export async function reauthorize(ctx: PrivicoreContext, token: string, ttlSeconds: number): Promise<ProfileAuthorization> {
  const call = 'reauthorize';
  if (!Number.isInteger(ttlSeconds) || ttlSeconds <= 0) {
    throw new ProviderError('Invalid', `${call}: ttl must be a positive number of seconds`, { provider: 'privicore', call });
  }
  const res = await request(ctx, {
    call,
    method: 'POST',
    path: '/profile/reauthorize-authorization-token',
    token,
    form: { ttl: String(ttlSeconds) },
  });
  if (res.status !== 202) return parse(res, AuthorizationBody, call);
  const outcome = await waitForCommand(ctx, acceptedCommand(res, call), withToken(token), { call });
  const fresh = AuthorizationBody.safeParse(typeof outcome.body === 'string' ? tryJson(outcome.body) : outcome.body);
  if (fresh.success) return fresh.data;
  return { authorizationToken: token, expiresAt: await retrieveExpiry(ctx, token) };
}

/**
 * Reads the token's expiry: `POST /profile/authorization-token/expiry` on the live wire,
 * falling back to the older documented `GET /profile/retrieve-token-expiry` on 404/405
 * (docs/providers.md "Privicore: where the documents and the wire differ").
 */
export async function retrieveExpiry(ctx: PrivicoreContext, token: string): Promise<Date> {
  const call = 'retrieveExpiry';
  const live = { call, method: 'POST', path: '/profile/authorization-token/expiry', token } as const;
  const docs = { call, method: 'GET', path: '/profile/retrieve-token-expiry', token } as const;
  let res = await sendCall(ctx, ctx.wire.expiryPath === 'live' ? live : docs);
  if (ctx.wire.expiryPath === 'live' && (res.status === 404 || res.status === 405)) {
    const fallback = await sendCall(ctx, docs);
    if (fallback.status !== 404 && fallback.status !== 405) {
      if (isSuccess(fallback)) ctx.wire.expiryPath = 'docs';
      res = fallback;
    }
  }
  if (!isSuccess(res)) throw failure(ctx, res, call);
  return parse(res, ExpiryBody, call).expiresAt;
}

/** `POST /profile/revoke-authorization-token`: revokes the token presented in the header (docs/providers.md "Privicore: profile authorization"). */
export async function revoke(ctx: PrivicoreContext, token: string): Promise<void> {
  await request(ctx, { call: 'revoke', method: 'POST', path: '/profile/revoke-authorization-token', token });
}
