import { startPrivicoreSimulator } from './server.js';

/**
 * Runs the Privicore simulator by hand for the README quick start:
 *   PRIVICORE_SIM_PORT=18084 tsx test/simulators/privicore/main.ts
 */
const DEMO_USERNAME = 'demo';
const DEMO_PASSWORD = 'demo-password';

const port = Number(process.env['PRIVICORE_SIM_PORT'] ?? '18084');
const sim = await startPrivicoreSimulator({ port });
sim.addProfile(DEMO_USERNAME, DEMO_PASSWORD);

console.log(`privicore simulator listening on ${sim.url}`);
console.log(`demo profile: username=${DEMO_USERNAME} password=${DEMO_PASSWORD}`);
console.log(`try: curl -s -X POST ${sim.url}/profile/authenticate -d username=${DEMO_USERNAME} -d password=${DEMO_PASSWORD}`);
console.log(`state: curl -s ${sim.url}/_sim/state   faults: curl -s -X POST ${sim.url}/_sim/faults -d '{"serverErrors":1}'`);

const stop = (): void => {
  void sim.close().then(() => process.exit(0));
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
