/**
 * Condition types and reasons: part of the API (CamelCase and stable; kstatus, Argo CD, Flux and
 * people's alerts read them). cert-manager style: every reason the operator sets is one of
 * these constants, so one grep finds who sets it. Refusals a provider names itself (e.g.
 * RefreshTokenExpired, TokenRefused) are used verbatim and documented in docs/providers.md.
 */

export const CONDITION = {
  Ready: 'Ready',
  Stalled: 'Stalled',
  Rotating: 'Rotating',
  Revoking: 'Revoking',
  SecretDrift: 'SecretDrift',
  RolloutRestarted: 'RolloutRestarted',
} as const;

export const REASON = {
  // Ready=True: the credential in the Secret
  Issued: 'Issued',
  Rotated: 'Rotated',
  RecoveredByRotation: 'RecoveredByRotation',
  Suspended: 'Suspended',
  // Rotating
  Idle: 'Idle',
  WaitingForTokenCeiling: 'WaitingForTokenCeiling',
  // the target Secret is not this resource's to write (ownership)
  SecretOwnedElsewhere: 'SecretOwnedElsewhere',
  SecretClaimedByOther: 'SecretClaimedByOther',
  SecretMissing: 'SecretMissing',
  // inputs and spec
  SecretNotFound: 'SecretNotFound',
  SecretKeyMissing: 'SecretKeyMissing',
  InvalidSecretValue: 'InvalidSecretValue',
  InvalidSpec: 'InvalidSpec',
  InsecureEndpoint: 'InsecureEndpoint',
  SecretTooLarge: 'SecretTooLarge',
  OverlapTooShort: 'OverlapTooShort',
  // provider failures by kind (failures.ts), and after the Secret write
  ProviderUnavailable: 'ProviderUnavailable',
  ProviderRateLimited: 'ProviderRateLimited',
  ProviderUnauthorized: 'ProviderUnauthorized',
  ProviderRejected: 'ProviderRejected',
  ProviderNotFound: 'ProviderNotFound',
  ProviderConflict: 'ProviderConflict',
  InvalidProviderResponse: 'InvalidProviderResponse',
  ProviderError: 'ProviderError',
  EgressDenied: 'EgressDenied',
  VerificationFailed: 'VerificationFailed',
  KubernetesApiError: 'KubernetesApiError',
  InternalError: 'InternalError',
  // drift (drift.ts)
  InSync: 'InSync',
  DriftRepaired: 'DriftRepaired',
  DriftRepairSuspended: 'DriftRepairSuspended',
  // spec.target.template (target-content.ts): a template that cannot render stalls; a changed one is applied once
  TemplateInvalid: 'TemplateInvalid',
  TemplateApplied: 'TemplateApplied',
  // liveness (liveness.ts): a check found the credential dead at the provider; a new one is issued
  CredentialRevoked: 'CredentialRevoked',
  // deletion
  Revoked: 'Revoked',
  RevokeSent: 'RevokeSent',
  RevokeFailed: 'RevokeFailed',
  RevokeAbandoned: 'RevokeAbandoned',
  // events beside a new credential
  SecretRestored: 'SecretRestored',
  ReplacedTokenDeleted: 'ReplacedTokenDeleted',
  // rollout restarts (rollout.ts)
  Restarted: 'Restarted',
  RestartFailed: 'RestartFailed',
  NotASecretConsumer: 'NotASecretConsumer',
  WorkloadNotFound: 'WorkloadNotFound',
} as const;

export type Reason = (typeof REASON)[keyof typeof REASON];
