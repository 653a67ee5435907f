import { ACCESS_TOKEN, type AccessToken } from '../../api/index.js';
import type { Plan, TokenKind } from '../shared/kind.js';
import { nextRenewal, planAccessToken } from './plan.js';

/**
 * AccessToken: an access token from whichever provider block the spec sets (an OAuth2 refresh
 * grant, GNAP token management, …). Providers with a chain (a refresh token, a GNAP token and
 * its manage URL) renew from the credential the last answer gave; the skeleton keeps that
 * chain. Its plan (plan.ts) decides; this says what the decisions mean to the skeleton and
 * what status it keeps. Nothing here names a provider.
 */
export function accessTokenKind(): TokenKind<AccessToken, undefined> {
  return {
    kind: ACCESS_TOKEN.kind,
    plural: ACCESS_TOKEN.plural,

    plan(res, view, now): Plan<undefined> {
      const p = planAccessToken(res, view.secret, now, view.provider, view.traits.keepAliveMs);
      switch (p.action) {
        case 'Wait':
          return { action: 'Wait' };
        case 'AwaitNewSeed':
          return { action: 'AwaitNewSeed', refusal: p.refusal };
        case 'Refresh':
          return { action: 'Issue', reason: p.reason, params: undefined, recovering: p.recovering, ...(p.rotateRequest !== undefined ? { rotateRequest: p.rotateRequest } : {}) };
      }
    },

    record(_res, status, issued, _plan, provider) {
      status.grantType = provider as NonNullable<typeof status.grantType>;
      const until = issued.facts?.renewableUntil;
      if (until) status.refreshTokenExpirationTime = until;
      else delete status.refreshTokenExpirationTime;
    },

    // Facts the status also holds, written on the Secret with the credential: if the process
    // dies between the Secret write and the status write, the next reconcile adopts them
    // instead of presenting a spent seed.
    mirror: { seedHMAC: 'token-operator.io/seed-hmac', refreshTokenExpirationTime: 'token-operator.io/refresh-expires-at' },

    adopted(_res, status, _before, provider) {
      status.grantType = provider as NonNullable<typeof status.grantType>;
    },

    schedule(res, status, now, provider) {
      const next = nextRenewal(res, status, provider.traits.keepAliveMs)?.at ?? now;
      return {
        next,
        message: `access token valid until ${status.expirationTime}; next renewal ${next.toISOString()}`,
        requeueAfterMs: Math.max(1000, next.getTime() - now.getTime()),
      };
    },
  };
}
