/**
 * Privicore: profile authorization + data tokens (providers.md §3). No Kubernetes here;
 * the DataToken reconciler uses `createPrivicoreProvider` and one shared
 * `AuthorizationCache` per process.
 */
export { createPrivicoreProvider } from './provider.js';
export type { PrivicoreProvider, PrivicoreProviderOptions, TokenizeInput } from './provider.js';
export { AuthorizationCache, profileKey } from './authorization-cache.js';
export { DataTokenListings } from './liveness.js';
export type { AuthorizationCacheOptions, ProfileKey, ProfileSession } from './authorization-cache.js';
export { commandIdFrom, readCommandStatus } from './commands.js';
export type { CommandOutcome, CommandState, CommandStatus } from './commands.js';
export { AUTH_HEADER, DEFAULT_API_URL, DEFAULT_POLLING } from './context.js';
export type { PollingOptions } from './context.js';
export { reservationTtlOnWire } from './data-tokens.js';
export type { DataTokenChanges, FileMeta, ReservationTtlUnit } from './data-tokens.js';
export type { DataTokenItem, DataTokenList, ProfileAuthorization, TemporaryToken } from './schemas.js';
