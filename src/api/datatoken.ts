import { z } from 'zod';
import {
  AllowInsecureHttp,
  Duration,
  SecretKeyRef,
  SecretRef,
  commonSpecFields,
  commonStatusFields,
  endpointUrl,
  httpsUnlessAllowed,
  target,
} from './common.js';

export const DATA_TOKEN = { kind: 'DataToken', plural: 'datatokens', singular: 'datatoken', shortNames: ['dt'] } as const;

export const PrivicoreSpec = z
  .object({
    apiUrl: endpointUrl('Privicore API base URL, e.g. https://stage.privicore.com:9009.'),
    profileSecretRef: SecretRef.meta({ description: 'Secret with keys username and password of the Privicore profile.' }),
    authorizationTtl: Duration.optional().meta({
      description: 'Lifetime to request for the profile authorization; it is reauthorized before this runs out. Default 24h.',
    }),
    allowInsecureHttp: AllowInsecureHttp,
  })
  .meta({ description: 'Privicore profile and data-token API.', 'x-kubernetes-validations': httpsUnlessAllowed(['apiUrl']) });

export const DataTokenSpec = z
  .object({
    privicore: PrivicoreSpec,
    source: z
      .object({
        secretKeyRef: SecretKeyRef.meta({ description: 'The data to tokenize.' }),
        context: z.string().min(1).max(512).meta({ description: 'Privicore context grouping the token (e.g. a path).' }),
      })
      .optional()
      .meta({ description: 'Exchange this data for a data token; re-exchanged when the data changes.' }),
    tokenRef: z
      .object({ secretKeyRef: SecretKeyRef.meta({ description: 'The existing data token to resolve.' }) })
      .optional()
      .meta({ description: 'Download the data behind an existing data token; refreshed on the rotation schedule.' }),
    ...commonSpecFields,
    target: target('The Secret to write: key data_token (source mode) or data (tokenRef mode).'),
  })
  .meta({
    description: 'Desired state of a DataToken: exactly one of source and tokenRef.',
    'x-kubernetes-validations': [{ rule: 'has(self.source) != has(self.tokenRef)', message: 'set exactly one of source and tokenRef' }],
  });

export const DataTokenStatus = z
  .object({
    ...commonStatusFields,
    tokenId: z.string().max(256).optional().meta({ description: 'The data token (a reference, not a credential).' }),
    authorizationExpirationTime: z.string().max(64).optional().meta({
      description: 'When the shared profile authorization expires.',
      format: 'date-time',
    }),
    sourceHMAC: z.string().max(128).optional().meta({ description: 'Keyed HMAC of the source data last tokenized.' }),
  })
  .meta({ description: 'Observed state of a DataToken.' });

export type DataTokenSpec = z.infer<typeof DataTokenSpec>;
export type DataTokenStatus = z.infer<typeof DataTokenStatus>;
