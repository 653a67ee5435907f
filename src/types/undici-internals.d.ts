// undici's connector, agent and global-dispatcher modules, imported by path (src/providers/egress/
// connector.ts) so that the bundle (scripts/bundle.mjs) carries them; typed there from undici's
// public types.
declare module 'undici/lib/core/connect.js' {
  const buildConnector: unknown;
  export default buildConnector;
}
declare module 'undici/lib/dispatcher/agent.js' {
  const Agent: unknown;
  export default Agent;
}
declare module 'undici/lib/dispatcher/dispatcher1-wrapper.js' {
  const Dispatcher1Wrapper: unknown;
  export default Dispatcher1Wrapper;
}
declare module 'undici/lib/global.js' {
  const global: unknown;
  export default global;
}
