export {
  createOidcProvider,
  type OidcClientAuthMethod,
  type OidcProvider,
  type OidcProviderOptions,
  type RefreshRequest,
  type RefreshedTokens,
} from './client.js';
export { createDiscoveryCache, sharedDiscoveryCache, type DiscoveryCache, type DiscoveryCacheOptions } from '../oauth2-discovery.js';
export { OidcError, isOidcError, reasonForGrantError, type OidcRefusalReason } from './errors.js';
