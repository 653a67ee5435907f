import { z } from 'zod';

/**
 * Building blocks shared by the three kinds. Every schema here is the single source for
 * the TypeScript type, the CRD's OpenAPI schema (see scripts/generate.ts) and runtime
 * parsing. `.meta()` carries descriptions and the CEL rules (`x-kubernetes-validations`)
 * that the API server enforces at admission; the messages name the field and say what to fix.
 */

export const GROUP = 'token-operator.io';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

type Rule = { rule: string; message: string; fieldPath?: string; reason?: string };
const rules = (...r: Rule[]) => ({ 'x-kubernetes-validations': r });

/** Kubernetes-style duration ("90s", "15m", "12h", "1h30m"); CEL's duration() accepts the same. */
export const Duration = z
  .string()
  .max(32)
  .regex(/^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$/)
  .meta({
    description: 'A duration such as "90s", "15m", "12h" or "720h" (units ms, s, m, h).',
    // The upper bound also keeps CEL's duration() (Go time.Duration, about 290 years) from overflowing.
    ...rules({
      rule: "duration(self) > duration('0s') && duration(self) <= duration('87600h')",
      message: 'must be a positive duration such as "15m" or "12h", at most 87600h (10 years)',
    }),
  });

/**
 * A Duration with a floor. The operator applies the same floor at runtime (parse with
 * `durationFloorMs`), so admission and runtime agree: what admission accepts is what runs.
 * (Validations on a wrapper replace the inner schema's own: Duration's are repeated here.)
 */
export function durationAtLeast(min: string, field: string, why: string) {
  return Duration.meta({
    'x-kubernetes-validations': [
      ...((Duration.meta()?.['x-kubernetes-validations'] as Rule[] | undefined) ?? []),
      { rule: `duration(self) >= duration('${min}')`, message: `${field} must be at least ${min}: ${why}` },
    ],
  });
}

/** Floors of the interval fields (admission and runtime); see durationAtLeast. */
export const FLOORS = {
  rotateBefore: '10s',
  checkInterval: '30s',
  refreshInterval: '1m',
  authorizationTtl: '5m',
  revokeTimeout: '1m',
  livenessInterval: '1m',
} as const;

/** DNS-1123 subdomain: the name rule for Secrets and most objects. */
export const ObjectName = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/)
  .meta({ description: 'Name of an object in the same namespace (lowercase DNS subdomain).' });

export const SecretKey = z
  .string()
  .min(1)
  .max(253)
  // Kubernetes' own rule for data keys: also never ".", ".." or a leading "..".
  .regex(/^\.?[-_a-zA-Z0-9][-._a-zA-Z0-9]*$/)
  .meta({ description: 'A key in the Secret\'s data (letters, digits, "-", "_", "."; not "." or "..").' });

// A `namespace` field is declared only so that admission can refuse it with a clear
// message: references never leave the resource's own namespace (ARCHITECTURE rule 4).
const noNamespace = rules({
  rule: '!has(self.namespace)',
  message: 'cross-namespace references are not allowed: remove namespace, the Secret must live in the resource\'s own namespace',
  fieldPath: '.namespace',
});
const NamespaceTrap = z
  .string()
  .max(63)
  .meta({ description: 'Not allowed: references always point into the resource\'s own namespace.' })
  .optional();

export const SecretRef = z
  .object({ name: ObjectName, namespace: NamespaceTrap })
  .meta({ description: 'A Secret in the same namespace as this resource.', ...noNamespace });

export const SecretKeyRef = z
  .object({ name: ObjectName, key: SecretKey, namespace: NamespaceTrap })
  .meta({ description: 'One key of a Secret in the same namespace as this resource.', ...noNamespace });

/**
 * An endpoint URL. HTTPS is required; plain HTTP is accepted only where the provider block
 * also sets `allowInsecureHttp: true` (a rule on the parent object checks that), and
 * credentials in the URL are always refused because they would end up in logs.
 */
export function endpointUrl(description: string) {
  return z
    .string()
    .min(1)
    .max(2048)
    .meta({
      description,
      ...rules(
        { rule: "self.matches('^https?://[^/?#\\\\s]+[^\\\\s]*$')", message: 'must be an absolute http(s) URL such as https://api.example.com, without spaces' },
        { rule: "!self.matches('^[a-zA-Z]+://[^/?#]*@')", message: 'must not contain credentials (user:password@): put them in the referenced Secret' },
      ),
    });
}

export const AllowInsecureHttp = z.boolean().optional().meta({
  description:
    'Allow plain http:// endpoints. For local simulators only; the operator must also run with --allow-insecure-http.',
});

/** CEL rule for a provider block: each listed URL field must be https unless allowInsecureHttp. */
export function httpsUnlessAllowed(fields: string[]): Rule[] {
  return fields.map((f) => ({
    rule: `!has(self.${f}) || self.${f}.startsWith('https://') || (has(self.allowInsecureHttp) && self.allowInsecureHttp)`,
    message: `${f} must use https:// (plain http is allowed only with allowInsecureHttp: true, for local testing)`,
    fieldPath: `.${f}`,
  }));
}

/**
 * CEL rules for a spec: the target Secret must not be one of the Secrets the resource reads.
 * The operator takes the target over (server-side apply with force, a controller owner
 * reference), so garbage collection would delete the user's input Secret together with the
 * resource. `refs` are paths below spec such as "oidc.clientSecretRef"; absent parents pass.
 */
export function targetIsNotAnInput(refs: string[]): Rule[] {
  return refs.map((ref) => {
    const parts = ref.split('.');
    const guards = parts.map((_, i) => `!has(self.${parts.slice(0, i + 1).join('.')})`);
    return {
      rule: `${guards.join(' || ')} || self.${ref}.name != self.target.secretName`,
      message: `target.secretName must differ from ${ref}.name: the operator writes the target Secret; the input Secret stays yours`,
      fieldPath: '.target.secretName',
    };
  });
}

// Standard cron only, checked field by field (values in range, names, "*", "?" in the day
// fields, ranges, "*/n" and "a-b/n" steps, lists), with an optional leading seconds field,
// separated by spaces (node-cron does not split on tabs).
// node-cron also accepts L, W, # and @nicknames, but nextCronSlot does not evaluate them:
// refusing them here keeps a schedule from being silently ignored. (Built from pieces so
// the one pattern works in RE2 (API server) and JavaScript alike: no flags, no lookahead.)
const anyCase = (words: string[]) => words.map((w) => [...w].map((c) => `[${c.toUpperCase()}${c}]`).join('')).join('|');
function cronField(value: string, question = false): string {
  const step = '/[1-9][0-9]?';
  const item = `(?:\\*(?:${step})?|(?:${value})(?:-(?:${value})(?:${step})?)?${question ? '|\\?' : ''})`;
  return `${item}(?:,${item})*`;
}
const CRON_SECOND = cronField('[0-5]?[0-9]');
const CRON_MINUTE = cronField('[0-5]?[0-9]');
const CRON_HOUR = cronField('[01]?[0-9]|2[0-3]');
const CRON_DAY_OF_MONTH = cronField('0?[1-9]|[12][0-9]|3[01]', true);
const CRON_MONTH = cronField(`1[0-2]|0?[1-9]|${anyCase(['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'])}`);
const CRON_DAY_OF_WEEK = cronField(`[0-7]|${anyCase(['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'])}`, true);
export const CRON_PATTERN = new RegExp(
  `^ *(?:${CRON_SECOND} +)?${CRON_MINUTE} +${CRON_HOUR} +${CRON_DAY_OF_MONTH} +${CRON_MONTH} +${CRON_DAY_OF_WEEK} *$`,
);
// A CEL rule rather than an OpenAPI `pattern`: the API server quotes a failed pattern in
// full (a thousand characters of regex); the rule says what to write instead.
const CRON_MESSAGE =
  'must be a cron expression with 5 fields (or 6 with leading seconds) such as "0 3 * * 1": numbers in range, *, ranges, steps, lists, JAN-DEC and SUN-SAT; L, W, # and @nicknames are not supported';
export const CronSchedule = z
  .string()
  .max(128)
  .refine((v) => CRON_PATTERN.test(v), { message: CRON_MESSAGE })
  .meta({
    description:
      'Cron window in UTC (5 fields, or 6 with leading seconds; e.g. "0 3 * * 1"): once a rotation is due, wait for the next slot. ' +
      'Numbers, ranges, steps, lists and JAN-DEC/SUN-SAT names; L, W, # and @nicknames are not supported.',
    ...rules({ rule: `self.matches('${CRON_PATTERN.source.replaceAll('\\', '\\\\')}')`, message: CRON_MESSAGE }),
  });

export const Rotation = z
  .object({
    rotateBefore: durationAtLeast(FLOORS.rotateBefore, 'rotateBefore', 'a shorter lead leaves no time to renew before the credential expires')
      .optional()
      .meta({ description: `Renew this long before the credential expires (e.g. "720h"; at least ${FLOORS.rotateBefore}).` }),
    rotateBeforePercent: z.int().min(1).max(99).optional().meta({
      description: 'Renew when this share of the lifetime is left (1-99). Default 33 when rotateBefore is unset.',
    }),
    schedule: CronSchedule.optional(),
    jitterPercent: z.int().min(0).max(50).optional().meta({
      description: 'Spread renewals of many tokens by up to this share of the lifetime (default 5, capped at 1h).',
    }),
  })
  .meta({
    description: 'When to renew the credential.',
    ...rules({
      rule: '!(has(self.rotateBefore) && has(self.rotateBeforePercent))',
      message: 'set rotateBefore or rotateBeforePercent, not both',
    }),
  });

export const RolloutTarget = z
  .object({
    kind: z.enum(['Deployment', 'StatefulSet', 'DaemonSet']).meta({ description: 'Workload kind.' }),
    name: ObjectName,
  })
  .meta({ description: 'A workload in the same namespace to restart after the Secret changes.' });

// Label and annotation keys are qualified names ([DNS-subdomain prefix/]name); label values
// follow the label-value rule. Checked at admission, so a bad key fails at `kubectl apply`
// rather than at the first Secret write. Keys the operator sets itself are refused: a user
// value would be overwritten silently, or (for token-operator.io/expires-at and friends on an
// annotation) read back as if the operator had written it.
const QUALIFIED_NAME = '^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$';
const mapRules = (what: 'label' | 'annotation', reserved: string) =>
  rules(
    {
      rule: `self.all(k, k.matches('${QUALIFIED_NAME}'))`,
      message: `${what} keys must be qualified names ([prefix/]name, the name at most 63 letters, digits, "-", "_" or ".")`,
    },
    {
      rule: `self.all(k, !k.startsWith('${GROUP}/')${reserved ? ` && k != '${reserved}'` : ''})`,
      message: `${what} keys under ${GROUP}/${reserved ? ` and ${reserved}` : ''} are set by the operator and cannot be overridden`,
    },
  );
const LabelMap = z
  .record(z.string().max(317), z.string().max(63).regex(/^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/))
  .meta({ maxProperties: 64, ...mapRules('label', 'app.kubernetes.io/managed-by') });
const AnnotationMap = z.record(z.string().max(317), z.string().max(4096)).meta({ maxProperties: 64, ...mapRules('annotation', '') });

export const CreationPolicy = z.enum(['Owner', 'Merge', 'Orphan']).meta({
  description:
    'Who the target Secret belongs to. Owner (default): the operator creates it and owns it (a controller owner reference: ' +
    'garbage-collected with this resource unless deletionPolicy is Retain); a Secret that already exists and was not created ' +
    'for this resource is never touched (Ready=False, SecretOwnedElsewhere). Merge: write only this resource\'s keys into a ' +
    'Secret that already exists; other keys, its owner references and its type are never changed, and no owner reference is ' +
    'added. Orphan: the operator creates the Secret, with no owner reference (it outlives this resource). One Secret has one ' +
    'claimant: a Secret another token resource writes, or reads as an input, is refused (SecretClaimedByOther).',
});

/** spec.target of a kind; `template` is the kind's spec.target.template schema (template.ts). */
export function target<T extends z.ZodType>(description: string, template: T) {
  return z
    .object({
      secretName: ObjectName.meta({ description: 'The Secret to write, in the same namespace (see creationPolicy for who owns it).' }),
      creationPolicy: CreationPolicy.optional(),
      labels: LabelMap.optional().meta({ description: 'Extra labels for the Secret (not under token-operator.io/ or app.kubernetes.io/managed-by).' }),
      annotations: AnnotationMap.optional().meta({ description: 'Extra annotations for the Secret (not under token-operator.io/).' }),
      rolloutRestart: z.array(RolloutTarget).max(32).optional().meta({
        description:
          'Workloads to restart after the Secret gets a new credential: the operator sets the pod-template annotation ' +
          'token-operator.io/secret-revision to "<secretName>@<revision>". Rotations in quick succession restart them once, with the latest revision. ' +
          'Only workloads whose pod template uses the Secret (a secret or projected volume, envFrom, or env valueFrom) are restarted; ' +
          'any other is refused and named in the RolloutRestarted condition.',
      }),
      template: template.optional(),
    })
    .meta({
      description,
      ...rules({
        rule: "!has(self.template) || !has(self.template.type) || !has(self.creationPolicy) || self.creationPolicy != 'Merge'",
        message: 'template.type cannot be set with creationPolicy Merge: the operator never changes the type of a Secret it did not create',
        fieldPath: '.template.type',
      }),
    });
}

const DELETION_POLICY =
  'On delete. Revoke: revoke the credential at the provider, then delete the target Secret (the credential is dead; with ' +
  'creationPolicy Merge only this resource\'s keys are removed). If revoking cannot succeed (the namespace is being deleted, an ' +
  'input Secret is gone, or the provider keeps failing for revokeTimeout) the resource is released anyway with a Warning event ' +
  'RevokeAbandoned saying what may still be valid; the annotation token-operator.io/skip-revoke: "true" releases it at once. ' +
  'Retain (default): leave the credential alone and the target Secret in place, with the operator\'s owner reference and labels removed.';
export const DeletionPolicy = z.enum(['Revoke', 'Retain']).meta({ description: DELETION_POLICY });

export const Condition = z
  .object({
    type: z.string().max(316).meta({ description: 'Condition type: Ready, Reconciling, Stalled, or a kind-specific one.' }),
    status: z.enum(['True', 'False', 'Unknown']).meta({ description: 'True, False or Unknown.' }),
    reason: z.string().max(1024).meta({ description: 'CamelCase reason for the last transition; stable, for automation.' }),
    message: z.string().max(32768).meta({ description: 'Human-readable detail; never a credential.' }),
    lastTransitionTime: z.string().max(64).meta({ description: 'When status last changed.', format: 'date-time' }),
    observedGeneration: z.int().min(0).optional().meta({ description: 'The spec generation this condition describes.' }),
  })
  .meta({ description: 'A metav1.Condition.' });

const Timestamp = (description: string) => z.string().max(64).meta({ description, format: 'date-time' });

/** Status fields every kind shares (API.md "Shared shape"); never a secret value. */
export const commonStatusFields = {
  observedGeneration: z.int().optional().meta({ description: 'The spec generation this status describes.' }),
  conditions: z.array(Condition).max(16).optional().meta({
    description: 'Ready (summary), Reconciling, Stalled, and kind-specific conditions.',
    'x-kubernetes-list-type': 'map',
    'x-kubernetes-list-map-keys': ['type'],
  }),
  expirationTime: Timestamp('When the current credential expires.').optional(),
  nextRotationTime: Timestamp('When the operator plans to renew the credential.').optional(),
  lastRotationTime: Timestamp('When the credential was last issued or renewed.').optional(),
  failedAttempts: z.int().min(0).optional().meta({ description: 'Consecutive failed attempts (persisted back-off).' }),
  lastFailureTime: Timestamp('When the last attempt failed.').optional(),
  lastHandledRotateRequest: z.string().max(256).optional().meta({
    description: 'The value of the token-operator.io/rotate annotation last acted on.',
  }),
  revision: z.int().min(0).optional().meta({ description: 'Increments each time the Secret gets a new credential.' }),
  lastRestartedRevision: z.int().min(0).optional().meta({
    description:
      'The Secret revision that the workloads in target.rolloutRestart were last restarted for (the first time, the revision they are assumed to run). ' +
      'A restart is due only while revision is greater, so an operator restart or leader change never restarts them again.',
  }),
  secretHMAC: z.string().max(128).optional().meta({
    description: 'Keyed HMAC of the Secret data the operator wrote, to detect drift without storing a hash of the secret.',
  }),
  driftRepairs: z.int().min(0).optional().meta({
    description:
      'Times the target Secret was edited or deleted outside the operator and written back (from the operator\'s state Secret ' +
      'token-operator-state-<resource uid>, never with a new token) in the current run; a run ends after 10 minutes without drift. ' +
      'After 5 repairs in a run the operator stops repairing and sets SecretDrift=True (DriftRepairSuspended).',
  }),
  lastDriftRepairTime: Timestamp('When the target Secret was last written back after drift.').optional(),
  credentialRevokedTime: Timestamp(
    'When a liveness check found the credential in the target Secret dead at the provider (spec.liveness). While set, the operator ' +
      'issues a new credential; cleared once one is in the Secret.',
  ).optional(),
};

/**
 * spec.liveness: how often the operator proves, at the provider, that the credential in the
 * target Secret still works (docs/liveness.md). A duration, or "0" for the kind's default.
 */
const LivenessInterval = z
  .string()
  .max(32)
  .regex(/^(0|([0-9]+(\.[0-9]+)?(ms|s|m|h))+)$/)
  .meta({
    description:
      `How often to check (e.g. "30m", "6h"; at least ${FLOORS.livenessInterval}). "0" or absent: the kind's default (1h). ` +
      'Each resource checks at a point of its own within the interval (a stable jitter), so many tokens spread their checks evenly.',
    ...rules({
      rule: `self == '0' || duration(self) == duration('0s') || (duration(self) >= duration('${FLOORS.livenessInterval}') && duration(self) <= duration('87600h'))`,
      message: `liveness.interval must be "0" (the default) or a duration of at least ${FLOORS.livenessInterval}: each check is a call to the provider`,
    }),
  });

export const LivenessSpec = z
  .object({
    enabled: z.boolean().optional().meta({ description: 'false turns the checks off (default true).' }),
    interval: LivenessInterval.optional(),
  })
  .meta({
    description:
      'Liveness checks: between renewals, the operator asks the provider, with the cheapest read the provider offers, whether the ' +
      'credential in the target Secret still works (never a renewal, which would spend it). A credential found dead (revoked out of ' +
      'band, its session ended, deleted) sets Ready=False with reason CredentialRevoked and is replaced through the normal issue ' +
      'path; where only a person can issue a new one, Stalled=True says what to do. A check that finds it alive writes nothing.',
  });

export const commonSpecFields = {
  suspend: z.boolean().optional().meta({ description: 'true = no provider calls; the Secret is left as it is.' }),
  rotation: Rotation.optional(),
  deletionPolicy: DeletionPolicy.optional().meta({ description: DELETION_POLICY }),
  liveness: LivenessSpec.optional(),
  revokeTimeout: durationAtLeast(FLOORS.revokeTimeout, 'revokeTimeout', 'revoking is retried with back-off, and a shorter bound would give up on a brief outage')
    .optional()
    .meta({
      description:
        'deletionPolicy Revoke: how long after the delete request the operator keeps retrying a failing revoke before it releases the ' +
        `resource anyway (Warning event RevokeAbandoned). Default 10m, at least ${FLOORS.revokeTimeout}.`,
    }),
};

export const DEFAULT_REVOKE_TIMEOUT = '10m';
/** `"true"` on a resource being deleted: release it without revoking (what may still be valid is named in an event). */
export const SKIP_REVOKE_ANNOTATION = `${GROUP}/skip-revoke`;

export const ROTATE_ANNOTATION = `${GROUP}/rotate`;
export const FINALIZER = `${GROUP}/finalizer`;
