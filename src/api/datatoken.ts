import { z } from 'zod';
import {
  AllowInsecureHttp,
  DeletionPolicy,
  FLOORS,
  Rotation,
  SecretKeyRef,
  SecretRef,
  commonSpecFields,
  commonStatusFields,
  durationAtLeast,
  endpointUrl,
  httpsUnlessAllowed,
  target,
  targetIsNotAnInput,
} from './common.js';
import { targetTemplate, templateFieldRules, type TemplateFields } from './template.js';

export const DATA_TOKEN = { kind: 'DataToken', plural: 'datatokens', singular: 'datatoken', shortNames: ['dt'] } as const;

/**
 * The credential's fields, by the names of the default keys: what a template may use. A data
 * token is a reference, not a credential (status.tokenId shows it); the data behind one is secret.
 */
export const DATA_TOKEN_FIELDS = {
  data_token: { secret: false, description: 'the data token', only: { path: 'source', says: 'spec.source' } },
  context: { secret: false, description: 'the Privicore context of the token', only: { path: 'source', says: 'spec.source' } },
  data: { secret: true, description: 'the data behind the token (UTF-8 text)', only: { path: 'tokenRef', says: 'spec.tokenRef' } },
} as const satisfies TemplateFields;

export const PrivicoreSpec = z
  .object({
    apiUrl: endpointUrl('Privicore API base URL, e.g. https://stage.privicore.com:9009.'),
    profileSecretRef: SecretRef.meta({ description: 'Secret with keys username and password of the Privicore profile.' }),
    authorizationTtl: durationAtLeast(FLOORS.authorizationTtl, 'spec.privicore.authorizationTtl', 'the authorization is renewed shortly before it runs out, so a shorter one would be renewed all the time')
      .optional()
      .meta({
      description:
        `Lifetime to request when the profile authorization is reauthorized (it is renewed shortly before it runs out). Default 24h, at least ${FLOORS.authorizationTtl}. ` +
        'One authorization per profile is shared by every DataToken the operator manages.',
    }),
    allowInsecureHttp: AllowInsecureHttp,
  })
  .meta({ description: 'Privicore profile and data-token API.', 'x-kubernetes-validations': httpsUnlessAllowed(['apiUrl']) });

const CheckInterval = durationAtLeast(FLOORS.checkInterval, 'checkInterval', 'each check reads the referenced Secret from the API server').optional().meta({
  description:
    `How often to re-read the referenced Secret to notice a change (default 60s, at least ${FLOORS.checkInterval}). The operator does not watch Secrets it does not manage, ` +
    'so a change is picked up within this interval (or at once when the DataToken itself changes).',
});

export const DataTokenSpec = z
  .object({
    privicore: PrivicoreSpec,
    source: z
      .object({
        secretKeyRef: SecretKeyRef.meta({ description: 'The data to tokenize.' }),
        context: z.string().min(1).max(512).meta({ description: 'Privicore context grouping the token (e.g. a path).' }),
        checkInterval: CheckInterval,
      })
      .optional()
      .meta({
        description:
          'Exchange this data for a data token; re-exchanged when the data (or context) changes, or on the rotate annotation. ' +
          'Data tokens do not expire, so no schedule applies.',
      }),
    tokenRef: z
      .object({
        secretKeyRef: SecretKeyRef.meta({ description: 'The existing data token to resolve.' }),
        checkInterval: CheckInterval,
      })
      .optional()
      .meta({ description: 'Download the data behind an existing data token; refreshed every refreshInterval, on the rotate annotation, and when the token changes.' }),
    refreshInterval: durationAtLeast(FLOORS.refreshInterval, 'refreshInterval', 'each refresh downloads the data from Privicore again').optional().meta({
      description:
        `tokenRef mode: download the data again this long after the last download (default 24h, at least ${FLOORS.refreshInterval}). Data behind a token has no expiry, ` +
        'so this takes the place of an expiry; rotation.schedule and rotation.jitterPercent apply to it.',
    }),
    ...commonSpecFields,
    rotation: Rotation.optional().meta({
      description:
        'When to renew. DataToken uses only schedule (a cron window for tokenRef refreshes) and jitterPercent (of refreshInterval); ' +
        'rotateBefore and rotateBeforePercent have no meaning for data that never expires.',
    }),
    deletionPolicy: DeletionPolicy.optional().meta({
      description:
        'On delete. Revoke: delete at Privicore the data this resource tokenized itself (source mode, including tokens it replaced), ' +
        'then delete the Secret. In tokenRef mode the referenced data belongs to whoever tokenized it and is never deleted: Revoke ' +
        'only deletes the Secret. Retain (default): leave everything alone.',
    }),
    target: target(
      'The Secret to write: keys data_token and context (source mode) or data (tokenRef mode); or, with template, the keys it names.',
      targetTemplate(DATA_TOKEN.kind, DATA_TOKEN_FIELDS),
    ),
  })
  .meta({
    description: 'Desired state of a DataToken: exactly one of source and tokenRef.',
    'x-kubernetes-validations': [
      { rule: 'has(self.source) != has(self.tokenRef)', message: 'set exactly one of source and tokenRef' },
      { rule: '!has(self.refreshInterval) || has(self.tokenRef)', message: 'refreshInterval applies to tokenRef mode only' },
      ...targetIsNotAnInput(['privicore.profileSecretRef', 'source.secretKeyRef', 'tokenRef.secretKeyRef']),
      ...templateFieldRules(DATA_TOKEN.kind, DATA_TOKEN_FIELDS),
    ],
  });

export const DataTokenStatus = z
  .object({
    ...commonStatusFields,
    tokenId: z.string().max(256).optional().meta({ description: 'The data token (a reference, not a credential).' }),
    tokenOrigin: z.enum(['Tokenized', 'Referenced']).optional().meta({
      description: 'Tokenized = tokenId was created by this resource (source mode); Referenced = it is someone else\'s (tokenRef mode) and is never deleted.',
    }),
    authorizationExpirationTime: z.string().max(64).optional().meta({
      description: 'When the shared profile authorization expires, as of the last call to Privicore.',
      format: 'date-time',
    }),
    sourceHMAC: z.string().max(128).optional().meta({
      description: 'Keyed HMAC of the input last exchanged: the source data and context (source mode) or the referenced token (tokenRef mode).',
    }),
    pendingRemovals: z.array(z.string().max(256)).max(64).optional().meta({
      description: 'Data tokens this resource replaced, still to be deleted at Privicore (deletionPolicy Revoke).',
    }),
  })
  .meta({ description: 'Observed state of a DataToken.' });

export type DataTokenSpec = z.infer<typeof DataTokenSpec>;
export type DataTokenStatus = z.infer<typeof DataTokenStatus>;
