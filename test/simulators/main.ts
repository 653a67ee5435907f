/**
 * `npm run simulators`: every provider simulator in one process, on fixed ports, for the
 * README quick start and for trying the operator by hand:
 *   DDS + zDirect + activation + Delta Sharing  http://127.0.0.1:18081  (DDS_SIM_PORT)
 *   GNAP (Open Payments auth server)            http://127.0.0.1:18083  (GNAP_SIM_PORT)
 *   Privicore                                    http://127.0.0.1:18084  (PRIVICORE_SIM_PORT)
 * SIM_HOST sets the listen address, *_SIM_PUBLIC_URL the URL clients use when it differs.
 * With --write-gnap-grant FILE it also writes the GNAP client key and the first grant's
 * token there (JSON), so a script can put them into Secrets.
 */
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { generateJwk } from '@interledger/http-signature-utils';
import { DEMO_CLIENT, SAMPLE_CLIENTS, TEMPLATES_CLIENT, startDdsSimulator } from './dds/server.js';
import { startGnapSimulator } from './gnap/server.js';
import { startPrivicoreSimulator } from './privicore/server.js';

// In a container (the Dockerfile's `simulators` target): SIM_HOST=0.0.0.0, and *_SIM_PUBLIC_URL
// the address the host maps each port to, which the simulators put into the URLs they hand out.
const env = process.env;
const host = env.SIM_HOST ?? '127.0.0.1';
const dds = await startDdsSimulator({
  port: Number(env.DDS_SIM_PORT ?? 18081),
  host,
  publicUrl: env.DDS_SIM_PUBLIC_URL,
  clients: SAMPLE_CLIENTS,
});
const gnap = await startGnapSimulator({ port: Number(env.GNAP_SIM_PORT ?? 18083), host, publicUrl: env.GNAP_SIM_PUBLIC_URL });
const privicore = await startPrivicoreSimulator({ port: Number(env.PRIVICORE_SIM_PORT ?? 18084), host, publicUrl: env.PRIVICORE_SIM_PUBLIC_URL });
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
  DDS        ${dds.url}   client_id=${DEMO_CLIENT.clientId} client_secret=${DEMO_CLIENT.clientSecret} (and ${TEMPLATES_CLIENT.clientId} / ${TEMPLATES_CLIENT.clientSecret})   (state: ${dds.url}/_sim/state)
  GNAP       ${gnap.url}   wallet=${walletAddressUrl} keyId=${keyId}   (state: ${gnap.url}/_sim/state)
  Privicore  ${privicore.url}   username=demo password=demo-password   (state: ${privicore.url}/_sim/state)`);

const stop = () => {
  void Promise.all([dds.close(), gnap.close(), privicore.close()]).then(() => process.exit(0));
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
