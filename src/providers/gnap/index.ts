export {
  createGnapProvider,
  type GnapProvider,
  type GnapProviderOptions,
  type GnapRevokeOutcome,
  type GnapRevokeRequest,
  type GnapTokenRef,
  type RotatedGnapToken,
} from './provider.js';
export type { GnapClientIdentity } from './signer.js';
export { GnapAccessItemSchema, GnapRotateResponseSchema, type GnapAccessItem } from './schema.js';
