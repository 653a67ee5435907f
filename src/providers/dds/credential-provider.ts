import type { DdsProviderSpec } from '../../api/deltasharetoken.js';
import type { ShareTokenIssue } from '../contracts.js';
import { keysOfSecret, type CredentialProvider, type ProviderCall, type ProviderDeps } from '../credential-provider.js';
import { ProviderError } from '../errors.js';
import { unknownFrom, type Liveness } from '../liveness.js';
import { listedLiveness } from './liveness.js';
import { createDdsProvider, type DdsAccount, type DdsProvider, type DdsToken } from './index.js';

// Delta Sharing tokens live 90 days (docs/providers.md "Zalando DDS: lifecycle") when neither
// the profile nor the token list says otherwise.
const DEFAULT_LIFETIME_MS = 90 * 86_400_000;

/**
 * Zalando Direct Data Sharing (docs/providers.md "Zalando DDS"): an issue lists the account's
 * tokens, uses an activation link nobody downloaded yet or rotates for a new one, and downloads
 * the Delta Sharing profile behind it — once: the link works one time only.
 */
export function ddsCredentialProvider(deps: ProviderDeps, dds: DdsProvider = createDdsProvider(deps)): CredentialProvider<DdsProviderSpec, ShareTokenIssue> {
  const account = (call: ProviderCall<DdsProviderSpec>): DdsAccount => ({
    apiUrl: call.spec.apiUrl,
    ...(call.spec.tokenUrl ? { tokenUrl: call.spec.tokenUrl } : {}),
    credentials: { clientId: String(call.inputs.clientId), clientSecret: String(call.inputs.clientSecret) },
    // the resource's consent to plain http covers the URLs DDS hands back too
    ...(call.allowInsecureHttp ? { allowInsecureHttp: true } : {}),
  });

  return {
    name: 'dds',
    traits: { oneTime: true },

    inputs: (d) => keysOfSecret('credentialsSecretRef', d.credentialsSecretRef.name, { clientId: 'client_id', clientSecret: 'client_secret' }),

    endpoints: (d) => ({ apiUrl: d.apiUrl, tokenUrl: d.tokenUrl }),

    async issue(call) {
      const acct = account(call);
      const p = call.params;
      if (p.revokeAllFirst) await dds.revokeAll(acct);
      // Always look first: a link left unconsumed by an interrupted rotation is used, not wasted.
      let tokens = await dds.listTokens(acct);
      let chosen = unconsumed(tokens, p.downloaded);
      let rotated = false;
      if (!chosen) {
        tokens = await dds.rotate(acct, p.overlapSeconds);
        call.step('after-rotate');
        chosen = unconsumed(tokens, p.downloaded);
        rotated = true;
        if (!chosen) throw new ProviderError('BadResponse', 'rotate-tokens: the answer has no activation link', { provider: 'dds', call: 'rotate-tokens' });
      }
      // When the previous token stops working: what DDS reports for it, else (a rotation whose answer
      // omits it) now + overlap. After PATCH 0 nothing survives: every old token died at once.
      const fallback = rotated && !p.revokeAllFirst ? new Date(call.now.getTime() + p.overlapSeconds * 1000) : undefined;
      const rotatedUntil = maxRotatedExpiry(tokens, call.now, fallback);
      const profile = await dds.activate(chosen.activationLink!, call.allowInsecureHttp);
      const expiresAt = profile.expirationTime
        ? new Date(profile.expirationTime)
        : (chosen.expirationTime ?? new Date(call.now.getTime() + DEFAULT_LIFETIME_MS));
      return {
        // config.share is the profile as the server served it (every field, version 2's type);
        // the other keys are conveniences, bearerToken only where the profile has one
        data: {
          'config.share': JSON.stringify(profile),
          endpoint: profile.endpoint,
          ...(profile.bearerToken !== undefined ? { bearerToken: profile.bearerToken } : {}),
          expirationTime: expiresAt.toISOString(),
        },
        expiresAt,
        ...(chosen.id ? { tokenId: chosen.id } : {}),
        facts: { replacedUntil: rotatedUntil?.toISOString() ?? null },
      };
    },

    // Only a bearer token can be checked with a plain call; an OAuth profile's consumer gets its own token.
    async verify(call, data) {
      if (data.bearerToken === undefined) return;
      await dds.verify({ endpoint: data.endpoint ?? '', bearerToken: data.bearerToken }, call.allowInsecureHttp);
    },

    // The sharing server with the bearer token (what every consumer does first); where the
    // operator may not call it, or the profile has no bearer token, the token list. A dead one:
    // the list also says whether a live previous token holds a new one back (two-token ceiling).
    async checkLiveness(call) {
      const { endpoint, bearerToken } = call.data;
      let result: Liveness;
      let tokens: DdsToken[] | undefined;
      try {
        if (call.mayPresent && endpoint && bearerToken) {
          result = await dds.shareLiveness({ endpoint, bearerToken }, call.allowInsecureHttp);
          if (result.state === 'revoked') tokens = await dds.listTokens(account(call)).catch(() => undefined);
        } else {
          tokens = await dds.listTokens(account(call));
          // ids the kind made up where DDS lists none ("revision-N") identify nothing here
          result = listedLiveness(tokens, call.tokenId?.startsWith('revision-') ? undefined : call.tokenId, call.now);
        }
      } catch (e) {
        return unknownFrom(e);
      }
      if (result.state !== 'revoked' || !tokens) return result;
      return { ...result, facts: { replacedUntil: maxRotatedExpiry(tokens, call.now)?.toISOString() ?? null } };
    },

    async revoke(call) {
      // PATCH 0 revokes EVERY token of the account; deletionPolicy Revoke is the user's opt-in.
      await dds.revokeAll(account(call));
    },

    stillValid(d, known) {
      const until = known.expiresAt ? ` (the newest until ${known.expiresAt})` : '';
      return (
        `The DDS tokens of the zDirect app in Secret "${d.credentialsSecretRef.name}" may still be valid${until}: ` +
        'revoke them with PATCH /dds-tokens (token_expiry_time_in_seconds 0) or in the Zalando partner portal'
      );
    },
  };
}

/** A usable activation link: an ACTIVE token whose link this resource has not downloaded. */
function unconsumed(tokens: DdsToken[], downloaded: readonly string[]): DdsToken | undefined {
  return tokens.find((t) => t.status === 'ACTIVE' && t.activationLink && !(t.id !== undefined && downloaded.includes(t.id)));
}

function maxRotatedExpiry(tokens: DdsToken[], now: Date, fallback?: Date): Date | undefined {
  const live = tokens.filter((t) => t.status === 'ROTATED' && t.expirationTime && t.expirationTime > now).map((t) => t.expirationTime!.getTime());
  if (live.length) return new Date(Math.max(...live));
  return fallback;
}
