import type { PrivicoreSpec } from '../../api/datatoken.js';
import { FLOORS } from '../../api/common.js';
import { sleep } from '../../schedule/clock.js';
import { atLeast } from '../../schedule/duration.js';
import type { DataTokenIssue, DataTokenRevoke } from '../contracts.js';
import { keysOfSecret, type CredentialProvider, type ProviderCall, type ProviderDeps } from '../credential-provider.js';
import { ProviderError, isProviderError } from '../errors.js';
import { ALIVE } from '../liveness.js';
import { AuthorizationCache } from './authorization-cache.js';
import { PROVIDER, initialWire, normalizeApiUrl, type PollingOptions, type PrivicoreWire } from './context.js';
import { DataTokenListings, LIST_PAGE_SIZE, MAX_LIST_PAGES } from './liveness.js';
import { createPrivicoreProvider, type PrivicoreProvider } from './provider.js';

const DEFAULT_AUTHORIZATION_TTL = '24h';

export interface PrivicoreCredentialOptions {
  /** ONE per process, so every DataToken of a profile shares one login */
  authorizations?: AuthorizationCache;
  polling?: Partial<PollingOptions>;
}

/** servers whose command-status dialect is remembered */
const MAX_WIRES = 1024;

/**
 * Privicore data tokens (docs/providers.md "Privicore"): tokenize exchanges data for a
 * permanent data token, resolve downloads the data behind one. Every call is authorized by the
 * profile's one shared authorization (AuthorizationCache), and what a server's wire speaks is
 * learned once per apiUrl.
 */
export function privicoreCredentialProvider(
  deps: ProviderDeps,
  opts: PrivicoreCredentialOptions = {},
): CredentialProvider<PrivicoreSpec, DataTokenIssue, DataTokenRevoke> {
  const authorizations = opts.authorizations ?? new AuthorizationCache({ clock: deps.clock });
  // liveness checks of a profile's data tokens share one listing (liveness.ts)
  const listings = new DataTokenListings({ clock: deps.clock });
  // apiUrl is a tenant's input: bounded, least recently used first out (a forgotten server
  // only re-learns its dialect with one extra 404)
  const wires = new Map<string, PrivicoreWire>();

  function wireOf(apiUrl: string): PrivicoreWire {
    const key = normalizeApiUrl(apiUrl);
    const wire = wires.get(key) ?? initialWire();
    wires.delete(key);
    wires.set(key, wire);
    if (wires.size > MAX_WIRES) wires.delete(wires.keys().next().value!);
    return wire;
  }

  function client(call: ProviderCall<PrivicoreSpec>): PrivicoreProvider {
    const p = call.spec;
    const wire = wireOf(p.apiUrl);
    return createPrivicoreProvider({
      http: deps.http,
      clock: deps.clock,
      apiUrl: p.apiUrl,
      profile: { username: String(call.inputs.username), password: String(call.inputs.password) },
      authorizations,
      listings,
      wire,
      ...(call.allowInsecureHttp ? { allowInsecureHttp: true } : {}),
      authorizationTtlSeconds: Math.round(atLeast(p.authorizationTtl ?? DEFAULT_AUTHORIZATION_TTL, FLOORS.authorizationTtl) / 1000),
      ...(deps.observe ? { observe: deps.observe } : {}),
      ...(opts.polling ? { polling: opts.polling } : {}),
      sleep: (ms) => sleep(deps.clock, ms, true),
    });
  }

  /** Every data token carrying the tag (crash orphans included), except `keep`. */
  async function tagged(c: PrivicoreProvider, tag: string, keep: readonly string[]): Promise<string[]> {
    const ours: string[] = [];
    for (let page = 1; page <= MAX_LIST_PAGES; page++) {
      const list = await c.listDataTokens(page, LIST_PAGE_SIZE);
      for (const item of list.items) if (item.fileName === tag && !keep.includes(item.token)) ours.push(item.token);
      if (list.items.length < LIST_PAGE_SIZE || page * LIST_PAGE_SIZE >= list.meta.count) break;
    }
    return ours;
  }

  return {
    name: 'privicore',
    // an exchange can be repeated: a token lost to a crash is an orphan, tagged and swept on delete
    traits: { oneTime: false },

    inputs: (p) => keysOfSecret('profileSecretRef', p.profileSecretRef.name, { username: 'username', password: 'password' }),

    endpoints: (p) => ({ apiUrl: p.apiUrl }),

    async issue(call) {
      const c = client(call);
      const what = call.params;
      let issued: { data: Record<string, string>; tokenId: string };
      if (what.mode === 'tokenize') {
        const { token } = await c.tokenize({ data: what.data, context: what.context, fileName: what.tag });
        issued = { data: { data_token: token, context: what.context }, tokenId: token };
      } else {
        const { data } = await c.resolve({ token: what.token });
        const text = data.toString('utf8');
        if (!Buffer.from(text, 'utf8').equals(data)) {
          throw new ProviderError('Invalid', 'resolve: the data behind the token is not UTF-8 text; binary payloads cannot be written to a Secret key yet', {
            provider: PROVIDER,
            call: 'resolve',
            code: 'binary_data',
          });
        }
        issued = { data: { data: text }, tokenId: what.token };
      }
      // just used, so this is the cached authorization: no extra request
      const auth = await c.authorization();
      return { ...issued, facts: { authorizationExpiresAt: auth.expiresAt.toISOString() } };
    },

    // The profile authorization is the operator's own (in no Secret): refused, it is replaced by a
    // fresh login, not reported. Then the data token: still listed for the profile?
    async checkLiveness(call) {
      const c = client(call);
      const auth = await c.authorizationLiveness();
      if (auth.liveness.state !== 'alive') return auth.liveness;
      // tokenRef mode (the Secret holds the data): the token may be another profile's, not in this one's listing
      const token = call.data.data_token;
      if (!token) return ALIVE;
      // a listing taken up to a tenth of the interval before serves this check too (one per profile, not per token)
      return c.dataTokenLiveness(token, call.issuedAt, call.intervalMs / 10);
    },

    async revoke(call) {
      const c = client(call);
      let tokens = [...call.params.tokens];
      const sweep = call.params.sweep;
      if (sweep) {
        try {
          tokens = [...new Set([...tokens, ...(await tagged(c, sweep.tag, sweep.keep))])];
        } catch (e) {
          // list-data-tokens is known only from a third-party probe (docs/providers.md "Privicore:
          // data tokens"): a server without it must not keep the resource from being deleted
          if (!(isProviderError(e) && (e.kind === 'NotFound' || e.kind === 'Invalid'))) throw e;
        }
      }
      for (const token of tokens) await c.remove({ token });
    },

    stillValid(p, known) {
      if (!known.createdTag) return 'The operator created nothing at Privicore for this resource: nothing else to revoke.';
      return `Data tokens this resource created stay stored at Privicore (file name ${known.createdTag}, profile in Secret "${p.profileSecretRef.name}"): delete them there`;
    },
  };
}
