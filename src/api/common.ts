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
    ...rules({ rule: "duration(self) > duration('0s')", message: 'must be a positive duration such as "15m" or "12h"' }),
  });

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
  .regex(/^[-._a-zA-Z0-9]+$/)
  .meta({ description: 'A key in the Secret\'s data (letters, digits, "-", "_", ".").' });

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
        { rule: "self.matches('^https?://[^/?#]+')", message: 'must be an absolute http(s) URL such as https://api.example.com' },
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

// Loose enough for 5-field cron with names, ranges, steps and lists; node-cron's own parser
// re-checks at reconcile time and reports a Stalled condition for anything this lets through.
const CRON_FIELD = '[0-9A-Za-z*?/,\\-]+';
export const CronSchedule = z
  .string()
  .max(128)
  .regex(new RegExp(`^\\s*${CRON_FIELD}(\\s+${CRON_FIELD}){4,5}\\s*$`))
  .meta({ description: 'Cron window (5 or 6 fields, e.g. "0 3 * * 1"): once a rotation is due, wait for the next slot.' });

export const Rotation = z
  .object({
    rotateBefore: Duration.optional().meta({ description: 'Renew this long before the credential expires (e.g. "720h").' }),
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

const LabelMap = z.record(z.string().max(317), z.string().max(1024));

export function target(description: string) {
  return z
    .object({
      secretName: ObjectName.meta({ description: 'The Secret to write, in the same namespace; created and owned by the operator.' }),
      labels: LabelMap.optional().meta({ description: 'Extra labels for the Secret.' }),
      annotations: LabelMap.optional().meta({ description: 'Extra annotations for the Secret.' }),
      rolloutRestart: z.array(RolloutTarget).max(32).optional().meta({
        description: 'Workloads to restart (pod-template annotation) after the Secret changes.',
      }),
    })
    .meta({ description });
}

export const DeletionPolicy = z.enum(['Revoke', 'Retain']).meta({
  description: 'On delete: Revoke = revoke at the provider, then delete the Secret; Retain = leave the credential alone.',
});

export const Condition = z
  .object({
    type: z.string().max(316),
    status: z.enum(['True', 'False', 'Unknown']),
    reason: z.string().max(1024),
    message: z.string().max(32768),
    lastTransitionTime: z.string().max(64).meta({ format: 'date-time' }),
    observedGeneration: z.int().min(0).optional(),
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
  secretHMAC: z.string().max(128).optional().meta({
    description: 'Keyed HMAC of the Secret data the operator wrote, to detect drift without storing a hash of the secret.',
  }),
};

export const commonSpecFields = {
  suspend: z.boolean().optional().meta({ description: 'true = no provider calls; the Secret is left as it is.' }),
  rotation: Rotation.optional(),
  deletionPolicy: DeletionPolicy.optional().meta({
    description: 'On delete: Revoke = revoke at the provider, then delete the Secret; Retain (default) = leave the credential alone.',
  }),
};

export const ROTATE_ANNOTATION = `${GROUP}/rotate`;
export const FINALIZER = `${GROUP}/finalizer`;
