import { z } from 'zod';
import {
  AllowInsecureHttp,
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

export const DELTA_SHARE_TOKEN = { kind: 'DeltaShareToken', plural: 'deltasharetokens', singular: 'deltasharetoken', shortNames: ['dst'] } as const;

/** The credential's fields, by the names of the default keys: what a template may use. */
export const DELTA_SHARE_TOKEN_FIELDS = {
  'config.share': { secret: true, description: 'the Delta Sharing profile file (JSON: shareCredentialsVersion, endpoint, bearerToken, expirationTime)' },
  endpoint: { secret: false, description: 'the Delta Sharing server URL' },
  bearerToken: { secret: true, description: 'the bearer token' },
  expirationTime: { secret: false, description: 'when the token expires (RFC 3339)' },
} as const satisfies TemplateFields;

export const DdsProviderSpec = z
  .object({
    apiUrl: endpointUrl('DDS API base URL, e.g. https://api-sandbox.merchants.zalando.com.'),
    tokenUrl: endpointUrl('zDirect token endpoint; default {apiUrl}/auth/token.').optional(),
    credentialsSecretRef: SecretRef.meta({ description: 'Secret with keys client_id and client_secret of the zDirect app.' }),
    allowInsecureHttp: AllowInsecureHttp,
  })
  .meta({
    description: 'Zalando Direct Data Sharing credentials API.',
    'x-kubernetes-validations': httpsUnlessAllowed(['apiUrl', 'tokenUrl']),
  });

export const DeltaShareTokenSpec = z
  .object({
    dds: DdsProviderSpec,
    ...commonSpecFields,
    overlap: durationAtLeast(
      '2m',
      'spec.overlap',
      'the kubelet updates mounted Secrets about once a minute plus its cache TTL, so a shorter overlap would kill the previous token before every pod has the new one',
    )
      .optional()
      .meta({
        description:
          'How long the previous (ROTATED) token keeps working after a rotation (existing_token_expiry_time_in_seconds). Default 1h, at least 2m: ' +
          'pods see a changed Secret only after the kubelet syncs it (about a minute, plus its cache TTL), and workloads in target.rolloutRestart need time to roll.',
      }),
    verify: z.boolean().optional().meta({
      description: 'GET {endpoint}/shares with the new bearer token before reporting Ready. Default true.',
    }),
    onTokenCeiling: z.enum(['Wait', 'RevokeAllAndReissue']).optional().meta({
      description:
        'DDS allows two live tokens. When a rotation is due while the previous token is still valid: Wait (default) until it expires, or RevokeAllAndReissue (PATCH 0 revokes EVERY token of the account, causing downtime).',
    }),
    target: target(
      'The Secret to write: keys config.share (profile JSON), endpoint, bearerToken, expirationTime; or, with template, the keys it names.',
      targetTemplate(DELTA_SHARE_TOKEN.kind, DELTA_SHARE_TOKEN_FIELDS),
    ),
  })
  .meta({
    description: 'Desired state of a DeltaShareToken.',
    'x-kubernetes-validations': [...targetIsNotAnInput(['dds.credentialsSecretRef']), ...templateFieldRules(DELTA_SHARE_TOKEN.kind, DELTA_SHARE_TOKEN_FIELDS)],
  });

export const DeltaShareTokenStatus = z
  .object({
    ...commonStatusFields,
    tokenId: z.string().max(256).optional().meta({ description: 'Provider id of the active DDS token (never the bearer token).' }),
    rotatedTokenExpirationTime: z.string().max(64).optional().meta({
      description:
        'When the previous (ROTATED) token stops working, as DDS reports it (at most lastRotationTime + spec.overlap). ' +
        'Absent when there is no previous token, or after onTokenCeiling: RevokeAllAndReissue revoked it at once.',
      format: 'date-time',
    }),
  })
  .meta({ description: 'Observed state of a DeltaShareToken.' });

export type DeltaShareTokenSpec = z.infer<typeof DeltaShareTokenSpec>;
export type DeltaShareTokenStatus = z.infer<typeof DeltaShareTokenStatus>;
