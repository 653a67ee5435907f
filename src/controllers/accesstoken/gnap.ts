import type { AccessToken } from '../../api/index.js';
import { isProviderError } from '../../providers/errors.js';
import { GnapAccessItemSchema, type GnapProvider, type GnapTokenRef } from '../../providers/gnap/index.js';
import { unknown } from '../../providers/liveness.js';
import { checkEndpoint, type SecretReader } from '../shared/inputs.js';
import type { KindContext } from '../shared/token-reconciler.js';
import type { Renewed, Variant } from './variant.js';

export interface GnapCredential {
  accessToken: string;
  /** a capability URL: as secret as the token itself */
  manageUrl: string;
}

// Rafiki's ACCESS_TOKEN_EXPIRY_SECONDS default (providers.md §4.1), when expires_in is absent.
const DEFAULT_LIFETIME_MS = 600_000;

function spec(res: AccessToken) {
  const g = res.spec.gnap;
  if (!g) throw new Error('gnap variant on a resource without spec.gnap');
  return g;
}

function seedLocation(res: AccessToken): string {
  const g = spec(res);
  const t = g.accessTokenSecretRef;
  const m = g.manageUrlSecretRef;
  return t.name === m.name
    ? `Secret "${t.name}" keys "${t.key}" and "${m.key}"`
    : `Secret "${t.name}" key "${t.key}" and Secret "${m.name}" key "${m.key}"`;
}

/** Everything a management request for this token needs: checks the URLs, reads the signing key. */
async function tokenRef(res: AccessToken, ctx: KindContext, reader: SecretReader, c: GnapCredential): Promise<GnapTokenRef> {
  const g = spec(res);
  checkEndpoint(g.walletAddressUrl, 'spec.gnap.walletAddressUrl', g.allowInsecureHttp, ctx.env.allowInsecureHttp);
  checkEndpoint(c.manageUrl, 'the token management URL', g.allowInsecureHttp, ctx.env.allowInsecureHttp);
  const privateKeyPem = await reader.value(g.privateKeySecretRef.name, g.privateKeySecretRef.key, 'spec.gnap.privateKeySecretRef');
  return {
    manageUrl: c.manageUrl,
    accessToken: c.accessToken,
    privateKeyPem,
    keyId: g.keyId,
    walletAddressUrl: g.walletAddressUrl,
    ...(g.allowInsecureHttp && ctx.env.allowInsecureHttp ? { allowInsecureHttp: true } : {}),
  };
}

/**
 * GNAP token management (Interledger Open Payments; docs/providers.md). Rotation revokes the
 * old token at once and returns a new value AND a new manage URL: both go into one state
 * Secret write (the target gets access_token, expires_at, access; the manage URL stays private).
 * Losing that answer strands the grant: only a new grant helps then.
 */
export function gnapVariant(gnap: GnapProvider): Variant<GnapCredential> {
  return {
    grantType: 'gnap',
    afterRenewCrashPoint: 'accesstoken:gnap:after-rotate',
    seedLocation,

    async readSeed(res, reader) {
      const g = spec(res);
      return {
        accessToken: await reader.value(g.accessTokenSecretRef.name, g.accessTokenSecretRef.key, 'spec.gnap.accessTokenSecretRef'),
        manageUrl: await reader.value(g.manageUrlSecretRef.name, g.manageUrlSecretRef.key, 'spec.gnap.manageUrlSecretRef'),
      };
    },

    toPrivate: (c) => ({ access_token: c.accessToken, manage_url: c.manageUrl }),

    fromPrivate: (data) =>
      data.access_token && data.manage_url ? { accessToken: data.access_token, manageUrl: data.manage_url } : undefined,

    async prepare(res, ctx, reader, c) {
      const ref = await tokenRef(res, ctx, reader, c);
      return async (): Promise<Renewed<GnapCredential>> => {
        const t = await gnap.rotate(ref);
        const expiresAt = t.expiresAt ?? new Date(ctx.now.getTime() + DEFAULT_LIFETIME_MS);
        return {
          next: { accessToken: t.value, manageUrl: t.manage },
          // the manage URL (with the client's key it rotates and revokes) stays in the state Secret
          data: {
            access_token: t.value,
            expires_at: expiresAt.toISOString(),
            access: JSON.stringify(t.access),
          },
          expiresAt,
        };
      };
    },

    refusal(e, res, r) {
      if (!isProviderError(e) || e.provider !== 'gnap') return undefined;
      const refused = e.kind === 'Unauthorized' || e.kind === 'NotFound' || (e.kind === 'Invalid' && e.code === 'invalid_rotation');
      if (!refused) return undefined;
      const seed = seedLocation(res);
      const newGrant = `Request a new grant and put its access token and manage URL into ${seed}: the operator uses them as soon as they change.`;
      // 400 invalid_client = the key id is not in the client's JWKS; "signature" = the key does not match
      if (e.code === 'invalid_client' && (e.status === 400 || /signature/i.test(e.message))) {
        return {
          reason: 'ClientKeyRejected',
          message: `gnap ${e.message}: the authorization server refused our signature. Check spec.gnap.keyId and the Ed25519 key in spec.gnap.privateKeySecretRef (its public key must be in ${spec(res).walletAddressUrl}/jwks.json); after fixing only the key Secret, set the token-operator.io/rotate annotation to a new value.`,
        };
      }
      if (r.recoveringSince) {
        return {
          reason: 'TokenLost',
          message:
            `a rotation sent at ${r.recoveringSince} never had its answer stored (operator crash or lost reply); the authorization server had already replaced the token, ` +
            `so the token and manage URL the operator holds are dead (gnap ${e.message}). A new grant is needed. ${newGrant}`,
        };
      }
      return {
        reason: 'TokenRefused',
        message: `gnap ${e.message}: the authorization server no longer knows this token (revoked, rotated by someone else, or its grant ended). A new grant is needed. ${newGrant}`,
      };
    },

    async revoke(res, ctx, reader, c, mayAlreadyBeRevoked) {
      await gnap.revoke({ ...(await tokenRef(res, ctx, reader, c)), mayAlreadyBeRevoked });
    },

    async verify(res, ctx, reader, data) {
      // a read-only, signed call with the token at its resource server; the manage URL is not needed
      if (!data.access_token) return unknown('no access token known for this revision');
      const access = GnapAccessItemSchema.array().safeParse(JSON.parse(data.access ?? '[]'));
      const g = spec(res);
      checkEndpoint(g.walletAddressUrl, 'spec.gnap.walletAddressUrl', g.allowInsecureHttp, ctx.env.allowInsecureHttp);
      const privateKeyPem = await reader.value(g.privateKeySecretRef.name, g.privateKeySecretRef.key, 'spec.gnap.privateKeySecretRef');
      return gnap.verify({
        accessToken: data.access_token,
        access: access.success ? access.data : [],
        privateKeyPem,
        keyId: g.keyId,
        walletAddressUrl: g.walletAddressUrl,
        ...(g.allowInsecureHttp && ctx.env.allowInsecureHttp ? { allowInsecureHttp: true } : {}),
      });
    },
  };
}
