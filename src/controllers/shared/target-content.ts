import { TEMPLATE_FIELDS, type TargetTemplate } from '../../api/index.js';
import { checkTemplate, shapeTarget, templateDigest, TemplateError, type Offer } from '../../template/shape.js';
import { ReconcileError } from './failures.js';
import type { TargetContent } from './ownership.js';
import type { SecretState } from './secret-state.js';
import { readStateSecret } from './state-secret.js';
import type { KubeClient } from '../../runtime/kube-client.js';

/**
 * The one place where a credential's fields become the target Secret's content
 * (spec.target.template, src/template/): every write of the target goes through targetContent —
 * an issuance or rotation (write-secret.ts), drift repair and a template change (drift.ts) — so
 * templated keys follow the same rules as the default ones. The state Secret keeps the fields
 * themselves (what the provider handed out, by the default key names), never the rendering, so
 * any later write renders again from them.
 */

export const TEMPLATE_INVALID = 'TemplateInvalid';
/** On the target Secret: the digest of the template its content was rendered from (none without one). */
export const TEMPLATE_ANNOTATION = 'token-operator.io/template';
const OPERATOR_PREFIX = 'token-operator.io/';

export interface Shapeable {
  kind: string;
  spec: {
    target: {
      template?: TargetTemplate | undefined;
      labels?: Record<string, string> | undefined;
      annotations?: Record<string, string> | undefined;
    };
  };
}

const offerOf = (res: Shapeable): Offer => ({ kind: res.kind, fields: TEMPLATE_FIELDS[res.kind] ?? {}, spec: res.spec });

/** A template that cannot render: Stalled until a person fixes the spec (its message names the key and the field, never a value). */
function invalid(e: unknown): never {
  if (e instanceof TemplateError) throw new ReconcileError(TEMPLATE_INVALID, `${e.message}; the Secret is left as it was until spec.target.template is fixed`, false);
  throw e;
}

/**
 * The target Secret's content for a credential whose default keys are `fields`. `annotations`
 * carries the operator's own (token-operator.io/*: revision, expiry, …); anything else in it is
 * ignored: the user's annotations come from the spec as it is now. Throws ReconcileError
 * TemplateInvalid when the template cannot render these fields.
 */
export function targetContent(res: Shapeable, fields: Record<string, string>, annotations: Record<string, string>): TargetContent {
  const { template, labels, annotations: userAnnotations } = res.spec.target;
  let shaped;
  try {
    shaped = shapeTarget(template, fields, offerOf(res));
  } catch (e) {
    invalid(e);
  }
  const own = Object.fromEntries(Object.entries(annotations).filter(([k]) => k.startsWith(OPERATOR_PREFIX) && k !== TEMPLATE_ANNOTATION));
  const digest = templateDigest(template);
  const allLabels = { ...labels, ...shaped.labels };
  return {
    data: shaped.data,
    annotations: { ...userAnnotations, ...shaped.annotations, ...own, ...(digest ? { [TEMPLATE_ANNOTATION]: digest } : {}) },
    ...(Object.keys(allLabels).length ? { labels: allLabels } : {}),
    ...(shaped.type ? { type: shaped.type } : {}),
  };
}

/**
 * Throws TemplateInvalid when a template names what this resource does not have (a field of
 * another mode, a credential in metadata) or does not parse: checked before any provider call,
 * so a credential is never minted for a Secret that could not be written.
 */
export function checkTargetTemplate(res: Shapeable): void {
  try {
    checkTemplate(res.spec.target.template, offerOf(res));
  } catch (e) {
    invalid(e);
  }
}

/** Was the target Secret rendered from another template than the spec's (or from none)? Free: reads the cached Secret's annotations. */
export function templateChanged(res: Shapeable, secretAnnotations: Record<string, string> | undefined): boolean {
  return secretAnnotations?.[TEMPLATE_ANNOTATION] !== templateDigest(res.spec.target.template);
}

/**
 * The credential's own fields, for a step that needs them again (verifying a profile): the target
 * Secret's keys when it holds them as they are, else the state Secret's copy (one GET; a
 * templated Secret's keys are the template's). Undefined when neither has them.
 */
export async function credentialFields(client: KubeClient, namespace: string, ownerUid: string, secret: SecretState): Promise<Record<string, string> | undefined> {
  if (secret.exists && secret.owned && !secret.templated) return secret.data;
  return (await readStateSecret(client, namespace, ownerUid))?.data;
}
