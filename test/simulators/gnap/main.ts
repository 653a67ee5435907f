/**
 * Runs the GNAP simulator by hand: `npx tsx test/simulators/gnap/main.ts`
 * (port from GNAP_SIM_PORT, default 18083). Generates an Ed25519 client key, registers
 * it for a wallet address, issues one token and prints what an AccessToken's `gnap`
 * spec and its Secrets need.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateJwk } from '@interledger/http-signature-utils';
import { startGnapSimulator } from './server.js';

const port = Number(process.env.GNAP_SIM_PORT ?? 18083);
const keyId = 'sim-key-1';

const sim = await startGnapSimulator({ port });
const { privateKey } = generateKeyPairSync('ed25519');
const dir = mkdtempSync(join(tmpdir(), 'gnap-sim-'));
const privateKeyPath = join(dir, 'private.pem');
writeFileSync(privateKeyPath, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });

const walletAddressUrl = sim.walletAddressUrl('alice');
sim.registerClientKey(walletAddressUrl, generateJwk({ privateKey, keyId }));
const token = sim.issueToken();

console.log(`GNAP simulator listening on ${sim.url}
  wallet address:   ${walletAddressUrl}   (keys: ${walletAddressUrl}/jwks.json)
  key id:           ${keyId}
  private key:      ${privateKeyPath}
  access token:     ${token.value}   (expires in ${token.expiresIn}s; rotating an expired token still works)
  manage URL:       ${token.manageUrl}

Try:
  curl -H 'Authorization: GNAP ${token.value}' ${sim.url}/resource
  curl ${sim.url}/_sim/state
  curl -X POST ${sim.url}/_sim/tokens -H 'content-type: application/json' -d '{}'
  curl -X POST ${sim.url}/_sim/faults -H 'content-type: application/json' -d '{"kind":"request_denied","count":2}'
(fault kinds: request_denied, timeout, malformed, wrong_shape, rate_limited)`);

const stop = () => {
  void sim.close().then(() => process.exit(0));
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
