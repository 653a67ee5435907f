import { z } from 'zod';
import type { Clock } from '../../schedule/clock.js';
import { send, type HttpClient, type ObservedCall } from '../http.js';
import { ALIVE, revoked, unknown, unknownFrom, type Liveness } from '../liveness.js';
import { GNAP_PROVIDER, hostOf } from './errors.js';
import { GnapErrorBodySchema, type GnapAccessItem } from './schema.js';
import type { GnapSigner } from './signer.js';

/**
 * Liveness of a GNAP access token (docs/liveness.md). Open Payments gives a client no way to
 * ask the authorization server about its token short of rotating it (which replaces it) or
 * revoking it; token introspection is for resource servers only. What is left is using the
 * token, read-only, at the resource server of the wallet address its grant is for: a signed
 * `GET {resourceServer}/outgoing-payments?wallet-address=…&first=1` (or incoming-payments).
 * Rafiki's resource server introspects the token before anything else
 * (backend open_payments/auth/middleware.ts):
 *
 * - 2xx: active, and allowed to list.
 * - 403 with the description "Insufficient Grant": active, just not allowed to list: alive all the same.
 * - 403 with the description "Inactive Token": revoked, expired, or its grant ended: revoked.
 * - 401 (introspection failed, a bad signature) and anything else prove nothing.
 *
 * It costs the wallet address document (cached) and one GET; nothing is created.
 */

const WalletAddressSchema = z.looseObject({ resourceServer: z.url({ protocol: /^https?$/ }) });

// a wallet address document rarely changes; kept past the default one-hour interval, so a check costs one call
const RESOURCE_SERVER_TTL_MS = 2 * 3_600_000;
const MAX_WALLETS = 256;

export interface GnapLivenessDeps {
  http: HttpClient;
  clock: Clock;
  timeoutMs: number;
  allowInsecureHttp: boolean;
  observe?: (o: ObservedCall) => void;
}

export interface GnapLivenessRequest {
  accessToken: string;
  /** the client's wallet address: the probe's wallet when the grant names none */
  walletAddressUrl: string;
  /** the grant's access rights, as the last rotation returned them */
  access: GnapAccessItem[];
  sign: GnapSigner;
  /** the resource's consent to plain http (the egress policy's; the operator's is in the deps) */
  allowInsecureHttp?: boolean;
}

/** One per provider: a wallet address's resource server is looked up once every two hours. */
export function createGnapLiveness(deps: GnapLivenessDeps) {
  const resourceServers = new Map<string, { url: string; atMs: number }>();
  const where = (call: string) => ({ provider: GNAP_PROVIDER, call, ...(deps.observe ? { observe: deps.observe } : {}) });

  function checkUrl(url: string): boolean {
    return url.startsWith('https://') || (deps.allowInsecureHttp && url.startsWith('http://'));
  }

  /** The wallet address's resource server (the public wallet address document), or why not. */
  async function resourceServerOf(wallet: string, insecure: boolean): Promise<{ url: string } | { why: string }> {
    const now = deps.clock.now().getTime();
    const hit = resourceServers.get(wallet);
    if (hit && now - hit.atMs < RESOURCE_SERVER_TTL_MS) return hit;
    const res = await send(
      deps.http,
      { method: 'GET', url: wallet, headers: { accept: 'application/json' }, timeoutMs: deps.timeoutMs, ...(insecure ? { allowInsecureHttp: true } : {}) },
      where('wallet-address'),
    );
    if (res.status !== 200) return { why: `wallet-address at ${hostOf(wallet)}: HTTP ${res.status}` };
    let doc: z.infer<typeof WalletAddressSchema>;
    try {
      doc = WalletAddressSchema.parse(JSON.parse(res.text));
    } catch {
      return { why: `wallet-address at ${hostOf(wallet)}: no resourceServer in the answer` };
    }
    const entry = { url: doc.resourceServer.replace(/\/+$/, ''), atMs: now };
    resourceServers.delete(wallet);
    resourceServers.set(wallet, entry);
    if (resourceServers.size > MAX_WALLETS) resourceServers.delete(resourceServers.keys().next().value!);
    return entry;
  }

  return async function liveness(req: GnapLivenessRequest): Promise<Liveness> {
    const { collection, wallet } = probeOf(req.access, req.walletAddressUrl);
    if (!checkUrl(wallet)) return unknown(`liveness: the wallet address ${hostOf(wallet)} is not https`);
    try {
      const insecure = req.allowInsecureHttp === true;
      const found = await resourceServerOf(wallet, insecure);
      if ('why' in found) return unknown(found.why);
      const rs = found.url;
      if (!checkUrl(rs)) return unknown(`liveness: the resource server ${hostOf(rs)} is not https`);
      const url = `${rs}/${collection}?wallet-address=${encodeURIComponent(wallet)}&first=1`;
      const signed = await req.sign({ method: 'GET', url, accessToken: req.accessToken });
      const res = await send(
        deps.http,
        { method: 'GET', url: signed.url, headers: signed.headers, timeoutMs: deps.timeoutMs, ...(insecure ? { allowInsecureHttp: true } : {}) },
        where('liveness'),
      );
      if (res.status >= 200 && res.status < 300) return ALIVE;
      // Rafiki's two 403s, told apart by their description; the message names which, in our words
      // (a server's free text is not repeated: the URL may point anywhere)
      const description = describe(res.text);
      const said = `GET /${collection} at ${hostOf(rs)}: HTTP ${res.status}`;
      if (res.status === 403 && /insufficient/i.test(description)) return ALIVE;
      if (res.status === 403 && /inactive/i.test(description)) return revoked(`${said}: the resource server reports the access token as inactive (revoked, expired, or its grant ended)`);
      return unknown(said);
    } catch (e) {
      return unknownFrom(e);
    }
  };
}

/**
 * Which list to ask for: one the grant may list if there is one (incoming or outgoing
 * payments), else outgoing payments; at the wallet address the access right names, else the
 * client's own.
 */
export function probeOf(access: GnapAccessItem[], clientWallet: string): { collection: 'incoming-payments' | 'outgoing-payments'; wallet: string } {
  const payments = access.filter((a) => a.type === 'incoming-payment' || a.type === 'outgoing-payment');
  const pick = payments.find((a) => a.actions.some((x) => x === 'list' || x === 'list-all')) ?? payments[0] ?? access[0];
  return {
    collection: pick?.type === 'incoming-payment' ? 'incoming-payments' : 'outgoing-payments',
    wallet: pick?.identifier ?? clientWallet,
  };
}

function describe(text: string): string {
  try {
    const parsed = GnapErrorBodySchema.safeParse(JSON.parse(text));
    return parsed.success ? (parsed.data.error.description ?? '') : '';
  } catch {
    return '';
  }
}
