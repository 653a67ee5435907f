/**
 * Runs the DDS simulator by hand: `tsx test/simulators/dds/main.ts` (port from DDS_SIM_PORT,
 * default 18081). Point a DeltaShareToken's `spec.dds.apiUrl` at the printed URL.
 */
import { DEMO_CLIENT, startDdsSimulator } from './server.js';

const port = Number(process.env.DDS_SIM_PORT ?? '18081');
const sim = await startDdsSimulator({ port });

console.log(`DDS simulator listening on ${sim.url}
  apiUrl:        ${sim.url}
  tokenUrl:      ${sim.url}/auth/token
  client_id:     ${DEMO_CLIENT.clientId}
  client_secret: ${DEMO_CLIENT.clientSecret}
  inspect:       curl ${sim.url}/_sim/state
  inject fault:  curl -X POST ${sim.url}/_sim/faults -H 'content-type: application/json' \\
                   -d '{"route":"dds-tokens.post","fault":{"kind":"status","status":503},"times":1}'`);

const stop = () => {
  void sim.close().then(() => process.exit(0));
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
