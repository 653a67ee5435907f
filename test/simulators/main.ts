/**
 * `npm run simulators`: every provider simulator in one process, on fixed ports, for the
 * README quick start and for trying the operator by hand:
 *   DDS + zDirect + activation + Delta Sharing  http://127.0.0.1:18081  (DDS_SIM_PORT)
 *   GNAP (Open Payments auth server)            http://127.0.0.1:18083  (GNAP_SIM_PORT)
 *   Privicore                                    http://127.0.0.1:18084  (PRIVICORE_SIM_PORT)
 * (SIM_HOST changes the address.)
 * With --write-gnap-grant FILE it also writes the GNAP client key and the first grant's
 * token there (JSON), so a script can put them into Secrets.
 */
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { generateJwk } from '@interledger/http-signature-utils';
import { DEMO_CLIENT, startDdsSimulator } from './dds/server.js';
import { startGnapSimulator } from './gnap/server.js';
import { startPrivicoreSimulator } from './privicore/server.js';

// SIM_HOST: the address to listen on (default 127.0.0.1); `npm run dev -- --in-cluster` uses the
// test node's IP, which its pods can reach
const host = process.env.SIM_HOST ?? '127.0.0.1';
const dds = await startDdsSimulator({ host, port: Number(process.env.DDS_SIM_PORT ?? 18081) });
const gnap = await startGnapSimulator({ host, port: Number(process.env.GNAP_SIM_PORT ?? 18083) });
const privicore = await startPrivicoreSimulator({ host, port: Number(process.env.PRIVICORE_SIM_PORT ?? 18084) });
privicore.addProfile('demo', 'demo-password');

const keyId = 'quickstart-key';
const { privateKey } = generateKeyPairSync('ed25519');
const walletAddressUrl = gnap.walletAddressUrl('alice');
gnap.registerClientKey(walletAddressUrl, generateJwk({ privateKey, keyId }));
const grant = gnap.issueToken(undefined, { walletAddressUrl });

const out = process.argv.indexOf('--write-gnap-grant');
if (out >= 0 && process.argv[out + 1]) {
  writeFileSync(
    process.argv[out + 1]!,
    JSON.stringify({
      walletAddressUrl,
      keyId,
      privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      accessToken: grant.value,
      manageUrl: grant.manageUrl,
    }),
    { mode: 0o600 },
  );
}

console.log(`simulators ready
  DDS        ${dds.url}   client_id=${DEMO_CLIENT.clientId} client_secret=${DEMO_CLIENT.clientSecret}   (state: ${dds.url}/_sim/state)
  GNAP       ${gnap.url}   wallet=${walletAddressUrl} keyId=${keyId}   (state: ${gnap.url}/_sim/state)
  Privicore  ${privicore.url}   username=demo password=demo-password   (state: ${privicore.url}/_sim/state)`);

const stop = () => {
  void Promise.all([dds.close(), gnap.close(), privicore.close()]).then(() => process.exit(0));
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
