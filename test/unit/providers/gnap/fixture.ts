import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { generateJwk } from '@interledger/http-signature-utils';
import { createGnapProvider, type GnapProviderOptions, type GnapTokenRef } from '../../../../src/providers/gnap/index.js';
import type { Clock } from '../../../../src/schedule/clock.js';
import { startGnapSimulator, type GnapSimulator } from '../../../simulators/gnap/server.js';

export const KEY_ID = 'test-key-1';

export function newEd25519Pem(): string {
  const { privateKey } = generateKeyPairSync('ed25519');
  return privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

/** A running simulator with one registered client (wallet "alice", key KEY_ID). */
export async function gnapFixture(opts: { clock?: Clock; provider?: GnapProviderOptions } = {}) {
  const sim: GnapSimulator = await startGnapSimulator(opts.clock ? { clock: opts.clock } : {});
  const privateKeyPem = newEd25519Pem();
  const walletAddressUrl = sim.walletAddressUrl('alice');
  sim.registerClientKey(walletAddressUrl, generateJwk({ privateKey: createPrivateKey(privateKeyPem), keyId: KEY_ID }));
  const provider = createGnapProvider({
    timeoutMs: 2_000,
    allowInsecureHttp: true,
    ...(opts.clock ? { clock: opts.clock } : {}),
    ...opts.provider,
  });

  /** a fresh token on a new grant, as the ref the provider takes */
  const issue = (): GnapTokenRef => {
    const t = sim.issueToken();
    return { manageUrl: t.manageUrl, accessToken: t.value, privateKeyPem, keyId: KEY_ID, walletAddressUrl };
  };

  /** status of GET /resource with this token value */
  const resourceStatus = async (value: string): Promise<number> =>
    (await fetch(`${sim.url}/resource`, { headers: { authorization: `GNAP ${value}` } })).status;

  return { sim, provider, privateKeyPem, walletAddressUrl, issue, resourceStatus };
}
