import type { KindName } from '../api/index.js';
import { clientCredentialsProvider } from './client-credentials/credential-provider.js';
import type { CredentialProvider, ProviderDeps } from './credential-provider.js';
import { ddsCredentialProvider } from './dds/credential-provider.js';
import { gnapCredentialProvider } from './gnap/credential-provider.js';
import { oidcCredentialProvider } from './oidc/credential-provider.js';
import { privicoreCredentialProvider } from './privicore/credential-provider.js';

export type AnyCredentialProvider = CredentialProvider<unknown, unknown, unknown>;
export type ProviderFactory = (deps: ProviderDeps) => AnyCredentialProvider;
export type ProviderTable = { [K in KindName]: Record<string, ProviderFactory> };

/**
 * Every provider, by the kind it serves and the spec field that selects it (External Secrets'
 * provider registry): a resource's provider is the one whose block its spec sets. Adding a
 * provider = its folder under src/providers/, its block in the kind's API (src/api/), and one
 * line here (docs/adding-a-provider.md).
 */
export const PROVIDERS: ProviderTable = {
  DeltaShareToken: { dds: ddsCredentialProvider },
  AccessToken: {
    oidc: oidcCredentialProvider,
    gnap: gnapCredentialProvider,
    clientCredentials: clientCredentialsProvider,
  },
  DataToken: { privicore: privicoreCredentialProvider },
};

export type Providers = { [K in KindName]: Record<string, AnyCredentialProvider> };

/** One instance of every provider for the process; `overrides` replace factories (tests). */
export function createProviders(deps: ProviderDeps, overrides: Partial<ProviderTable> = {}): Providers {
  const out = {} as Providers;
  for (const kind of Object.keys(PROVIDERS) as KindName[]) {
    const table = { ...PROVIDERS[kind], ...overrides[kind] };
    out[kind] = Object.fromEntries(Object.entries(table).map(([field, make]) => [field, make(deps)]));
  }
  return out;
}
