import { z } from 'zod';
import {
  AllowInsecureHttp,
  ObjectName,
  SecretKeyRef,
  commonSpecFields,
  commonStatusFields,
  endpointUrl,
  httpsUnlessAllowed,
  target,
  targetIsNotAnInput,
} from './common.js';
import { targetTemplate, templateFieldRules, type TemplateFields } from './template.js';

export const ACCESS_TOKEN = { kind: 'AccessToken', plural: 'accesstokens', singular: 'accesstoken', shortNames: ['at'] } as const;

/**
 * The credential's fields, by the names of the default keys: what a template may use. Least
 * exposure: what can mint new tokens is not a field (the GNAP manage URL), or only where the
 * user already chose to put it into the Secret (the OIDC refresh token, oidc.exposeRefreshToken).
 */
export const ACCESS_TOKEN_FIELDS = {
  access_token: { secret: true, description: 'the access token' },
  token_type: {
    secret: false,
    description: 'the token type the server named, e.g. Bearer',
    // every OAuth2 grant has one; GNAP does not
    only: { path: 'gnap', absent: true, says: 'an OAuth2 grant (not spec.gnap)' },
  },
  expires_at: { secret: false, description: 'when the access token expires (RFC 3339)' },
  refresh_token: {
    secret: true,
    description: 'the current refresh token (DANGEROUS: see spec.oidc.exposeRefreshToken)',
    only: { path: 'oidc.exposeRefreshToken', equals: true, says: 'spec.oidc.exposeRefreshToken: true' },
  },
  access: { secret: false, description: 'the access rights of the token (JSON)', only: { path: 'gnap', says: 'spec.gnap' } },
} as const satisfies TemplateFields;

export const OidcSpec = z
  .object({
    issuerUrl: endpointUrl('OIDC issuer; the token endpoint is discovered from it. Set issuerUrl or tokenUrl.').optional(),
    tokenUrl: endpointUrl('Token endpoint, used as is (no discovery). Set issuerUrl or tokenUrl.').optional(),
    revocationUrl: endpointUrl('RFC 7009 revocation endpoint; discovered from issuerUrl when unset.').optional(),
    clientId: z.string().min(1).max(256).meta({ description: 'OAuth2 client id (e.g. "pydc" for DataChain).' }),
    clientSecretRef: SecretKeyRef.optional().meta({ description: 'Client secret, for confidential clients only.' }),
    refreshTokenSecretRef: SecretKeyRef.meta({
      description:
        'The refresh (or offline) token a person generated once. The operator keeps the current one in its own state Secret ' +
        '(token-operator-state-<resource uid>), never in the target Secret unless exposeRefreshToken is set.',
    }),
    scope: z.string().max(1024).optional().meta({ description: 'Scope to request, e.g. "openid offline_access".' }),
    exposeRefreshToken: z.boolean().optional().meta({
      description:
        'DANGEROUS; default false. Also write the current refresh token into the target Secret (key refresh_token). By default it ' +
        'stays in the operator\'s own state Secret: a refresh token (often an offline token that never expires) lets whoever reads ' +
        'the Secret mint new access tokens, and every pod that mounts the Secret could. Worse, with refresh-token rotation on, a ' +
        'client library that refreshes on its own spends the token the operator holds, and Keycloak\'s reuse detection then ends ' +
        'the whole chain. Set it only for a workload that must refresh by itself and that nothing else mounts.',
    }),
    allowInsecureHttp: AllowInsecureHttp,
  })
  .meta({
    description: 'OAuth2/OIDC refresh-token grant.',
    'x-kubernetes-validations': [
      { rule: 'has(self.issuerUrl) || has(self.tokenUrl)', message: 'set issuerUrl or tokenUrl' },
      ...httpsUnlessAllowed(['issuerUrl', 'tokenUrl', 'revocationUrl']),
    ],
  });

export const GnapSpec = z
  .object({
    walletAddressUrl: endpointUrl('The client\'s wallet address URL (its keys are served at {walletAddressUrl}/jwks.json).'),
    keyId: z.string().min(1).max(256).meta({ description: 'Key id (kid) of the client\'s Ed25519 key.' }),
    privateKeySecretRef: SecretKeyRef.meta({ description: 'Ed25519 private key (PEM) used to sign GNAP requests.' }),
    accessTokenSecretRef: SecretKeyRef.meta({ description: 'The initial access token value from a grant.' }),
    manageUrlSecretRef: SecretKeyRef.meta({ description: 'The initial token management URL from a grant.' }),
    allowInsecureHttp: AllowInsecureHttp,
  })
  .meta({
    description:
      'GNAP token management (Interledger Open Payments). Rotation kills the old token at once (no overlap): consumers listed in target.rolloutRestart are restarted right after the Secret write.',
    'x-kubernetes-validations': httpsUnlessAllowed(['walletAddressUrl']),
  });

export const AccessTokenSpec = z
  .object({
    oidc: OidcSpec.optional(),
    gnap: GnapSpec.optional(),
    ...commonSpecFields,
    target: target(
      'The Secret to write: oidc keys access_token, token_type, expires_at (and refresh_token only with oidc.exposeRefreshToken); ' +
        'gnap keys access_token, expires_at, access. What can mint new tokens (the refresh token, the GNAP manage URL) stays in the ' +
        'operator\'s own state Secret. With template: the keys it names.',
      targetTemplate(ACCESS_TOKEN.kind, ACCESS_TOKEN_FIELDS),
    ),
  })
  .meta({
    description: 'Desired state of an AccessToken: exactly one of oidc and gnap.',
    'x-kubernetes-validations': [
      { rule: 'has(self.oidc) != has(self.gnap)', message: 'set exactly one of oidc and gnap' },
      ...targetIsNotAnInput([
        'oidc.refreshTokenSecretRef',
        'oidc.clientSecretRef',
        'gnap.privateKeySecretRef',
        'gnap.accessTokenSecretRef',
        'gnap.manageUrlSecretRef',
      ]),
      ...templateFieldRules(ACCESS_TOKEN.kind, ACCESS_TOKEN_FIELDS),
    ],
  });

export const AccessTokenStatus = z
  .object({
    ...commonStatusFields,
    grantType: z.enum(['oidc', 'gnap']).optional().meta({ description: 'Which variant issued the current token.' }),
    refreshTokenExpirationTime: z.string().max(64).optional().meta({
      description: 'When the current refresh token lapses (unset for offline tokens that never expire).',
      format: 'date-time',
    }),
    pendingRefreshSince: z.string().max(64).optional().meta({
      description:
        'A refresh (oidc) or rotation (gnap) was sent to the provider and its result not yet stored in the Secret: set before the call, cleared after the write, so a crash in between is recognised on the next reconcile.',
      format: 'date-time',
    }),
    seedHMAC: z.string().max(128).optional().meta({
      description:
        'Keyed HMAC of the seed credential (the refresh token, or the GNAP token and manage URL, in the referenced Secrets) that the current one descends from. A different seed means a person pasted a new one: the operator then uses it instead of the one it keeps.',
    }),
    credentialRefused: z.string().max(64).optional().meta({
      description:
        'Why the provider refused the credential for good (the Stalled reason). While set the operator makes no provider call; it resumes when the seed Secret changes, the spec changes, or a new token-operator.io/rotate value asks it to retry.',
    }),
  })
  .meta({ description: 'Observed state of an AccessToken.' });

export type AccessTokenSpec = z.infer<typeof AccessTokenSpec>;
export type AccessTokenStatus = z.infer<typeof AccessTokenStatus>;
export { ObjectName };
