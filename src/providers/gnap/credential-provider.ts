import type { GnapSpec } from '../../api/accesstoken.js';
import type { CredentialProvider, ProviderCall, ProviderDeps } from '../credential-provider.js';
import { ProviderError, isProviderError, type Refusal } from '../errors.js';
import { unknown } from '../liveness.js';
import { GNAP_PROVIDER } from './errors.js';
import { GnapAccessItemSchema, type GnapAccessItem } from './schema.js';
import { createGnapProvider, type GnapProvider, type GnapTokenRef } from './provider.js';

// Rafiki's ACCESS_TOKEN_EXPIRY_SECONDS default (docs/providers.md "GNAP: lifetimes"), when expires_in is absent.
const DEFAULT_LIFETIME_MS = 600_000;

/**
 * GNAP token management (Interledger Open Payments; docs/providers.md "GNAP token
 * management"). The token and its manage URL a grant gave are the seed of a chain: rotation
 * revokes the old token at once and returns a new value AND a new manage URL, both private
 * until the next rotation (the target gets access_token, expires_at, access). Losing that
 * answer strands the grant: only a new grant helps then.
 */
export function gnapCredentialProvider(deps: ProviderDeps, gnap: GnapProvider = createGnapProvider(deps)): CredentialProvider<GnapSpec> {
  function tokenRef(call: ProviderCall<GnapSpec>, credential: Record<string, string> | undefined): GnapTokenRef {
    const manageUrl = credential?.manage_url ?? '';
    // the manage URL comes from the grant, not the spec: held to the same https rule
    if (manageUrl.startsWith('http:') && !call.allowInsecureHttp) {
      throw new ProviderError('Invalid', 'the token management URL is plain http, refused unless the resource and the operator allow insecure http', {
        provider: GNAP_PROVIDER,
        call: 'configure',
        code: 'insecure_url',
      });
    }
    return {
      manageUrl,
      accessToken: credential?.access_token ?? '',
      privateKeyPem: String(call.inputs.privateKey ?? ''),
      keyId: call.spec.keyId,
      walletAddressUrl: call.spec.walletAddressUrl,
      ...(call.allowInsecureHttp ? { allowInsecureHttp: true } : {}),
    };
  }

  return {
    name: 'gnap',
    traits: {
      oneTime: true,
      chain: { seed: { accessToken: 'access_token', manageUrl: 'manage_url' }, lost: 'TokenLost', call: 'rotation', anew: 'A new grant is needed: request one and put its access token and manage URL into' },
      // the authorization server revokes the previous token the moment it issues the new one
      noOverlap: true,
    },

    inputs: (g) => ({
      privateKey: { field: 'privateKeySecretRef', ...g.privateKeySecretRef },
      accessToken: { field: 'accessTokenSecretRef', ...g.accessTokenSecretRef },
      manageUrl: { field: 'manageUrlSecretRef', ...g.manageUrlSecretRef },
    }),

    endpoints: (g) => ({ walletAddressUrl: g.walletAddressUrl }),

    async issue(call) {
      const ref = tokenRef(call, call.previous);
      let t;
      try {
        t = await gnap.rotate(ref);
      } catch (e) {
        throw refused(e, call.spec);
      }
      const expiresAt = t.expiresAt ?? new Date(call.now.getTime() + DEFAULT_LIFETIME_MS);
      return {
        // the manage URL (with the client's key it rotates and revokes) stays private
        data: { access_token: t.value, expires_at: expiresAt.toISOString(), access: JSON.stringify(t.access) },
        private: { access_token: t.value, manage_url: t.manage },
        expiresAt,
      };
    },

    // a read-only, signed call with the token at its resource server: no rotation, no manage URL
    async checkLiveness(call) {
      if (!call.data.access_token) return unknown('no access token known for this revision');
      return gnap.verify({
        accessToken: call.data.access_token,
        access: accessOf(call.data.access),
        privateKeyPem: String(call.inputs.privateKey ?? ''),
        keyId: call.spec.keyId,
        walletAddressUrl: call.spec.walletAddressUrl,
        ...(call.allowInsecureHttp ? { allowInsecureHttp: true } : {}),
      });
    },

    async revoke(call) {
      if (!call.current?.private) return;
      await gnap.revoke({ ...tokenRef(call, call.current.private), mayAlreadyBeRevoked: call.mayAlreadyBeRevoked });
    },

    stillValid(g, known) {
      const until = known.expiresAt ? ` until ${known.expiresAt}` : '';
      return `The GNAP access token stays valid${until}, and its grant until it is revoked at the authorization server of ${g.walletAddressUrl}: revoke the grant there`;
    },
  };
}

/** The access rights the target's `access` key holds (JSON); none when it cannot be read. */
function accessOf(json: string | undefined): GnapAccessItem[] {
  try {
    const parsed = GnapAccessItemSchema.array().safeParse(JSON.parse(json ?? '[]'));
    return parsed.success ? parsed.data : [];
  } catch {
    return [];
  }
}

/**
 * Which rotation failures only a person can fix (Rafiki's answers, docs/providers.md "GNAP:
 * errors"): our signature refused (400 invalid_client = the key id is not in the client's
 * JWKS; "signature" = the key does not match), or the token unknown (401, 404
 * invalid_rotation: revoked, rotated by someone else, or its grant ended).
 */
function refused(e: unknown, g: GnapSpec): unknown {
  if (!isProviderError(e) || e.provider !== GNAP_PROVIDER) return e;
  let refusal: Refusal;
  let says: string;
  if (e.code === 'invalid_client' && (e.status === 400 || /signature/i.test(e.message))) {
    refusal = { reason: 'ClientKeyRejected', config: ['keyId'], inputs: ['privateKey'] };
    says = `the authorization server refused our signature: the Ed25519 key's public key must be in ${g.walletAddressUrl}/jwks.json under the key id`;
  } else if (e.kind === 'Unauthorized' || e.kind === 'NotFound' || (e.kind === 'Invalid' && e.code === 'invalid_rotation')) {
    refusal = { reason: 'TokenRefused', inputs: ['accessToken', 'manageUrl'] };
    says = 'the authorization server no longer knows this token (revoked, rotated by someone else, or its grant ended)';
  } else {
    return e;
  }
  return new ProviderError(e.kind, `${e.message}: ${says}`, {
    provider: e.provider,
    call: e.call,
    ...(e.status !== undefined ? { status: e.status } : {}),
    ...(e.code !== undefined ? { code: e.code } : {}),
    refusal,
  });
}
