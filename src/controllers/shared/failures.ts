import { REASON, ROTATE_ANNOTATION } from '../../api/index.js';
import type { CredentialProvider } from '../../providers/credential-provider.js';
import { isProviderError, type ProviderErrorKind, type Refusal } from '../../providers/errors.js';
import { KubeApiError } from '../../runtime/kube-client.js';
import { InputError, inputLocation } from './inputs.js';

export interface Failure {
  /** CamelCase, stable: becomes the Ready condition's reason */
  reason: string;
  /** safe for status and events: no credential (messages are built without values) */
  message: string;
  /** transient failures retry fast; the others need a human (Stalled) */
  transient: boolean;
  retryAfterMs?: number;
}

const PROVIDER_REASON: Record<ProviderErrorKind, string> = {
  Retryable: REASON.ProviderUnavailable,
  RateLimited: REASON.ProviderRateLimited,
  Unauthorized: REASON.ProviderUnauthorized,
  Invalid: REASON.ProviderRejected,
  NotFound: REASON.ProviderNotFound,
  Conflict: REASON.ProviderConflict,
  BadResponse: REASON.InvalidProviderResponse,
  // the operator's egress policy refused the URL (or an address it resolved to): a human must change it
  EgressDenied: REASON.EgressDenied,
};

/**
 * A failure a kind or the skeleton detects itself (e.g. the provider accepted a rotation but
 * the new credential does not verify). Progress already made (the status draft) is kept; the
 * skeleton applies the back-off tier and conditions like for any other failure.
 */
export class ReconcileError extends Error {
  constructor(
    readonly reason: string,
    message: string,
    readonly transient: boolean,
  ) {
    super(message);
    this.name = 'ReconcileError';
  }
}

/** Turns a provider's refusal into what a person does here: which Secret or spec field to change. */
export type Advice = (refusal: Refusal) => string;

/** Maps anything a reconcile can throw to a condition reason, a message and a back-off tier. */
export function classify(e: unknown, advise?: Advice): Failure {
  if (e instanceof InputError) return { reason: e.reason, message: e.message, transient: false };
  if (e instanceof ReconcileError) return { reason: e.reason, message: e.message, transient: e.transient };
  if (isProviderError(e)) {
    if (e.refusal) {
      const advice = advise?.(e.refusal);
      return { reason: e.refusal.reason, message: `${e.provider} ${e.message}${advice ? `. ${advice}` : ''}`, transient: false };
    }
    return {
      reason: PROVIDER_REASON[e.kind] ?? REASON.ProviderError,
      message: `${e.provider}: ${e.message}`,
      transient: e.transient,
      ...(e.retryAfterMs !== undefined ? { retryAfterMs: e.retryAfterMs } : {}),
    };
  }
  if (e instanceof KubeApiError) {
    return { reason: REASON.KubernetesApiError, message: `Kubernetes API: ${e.status} ${e.reason}`, transient: true };
  }
  // Unknown errors may carry anything: never surface their text in status.
  return { reason: REASON.InternalError, message: 'unexpected error; see operator logs', transient: true };
}

/**
 * The Kubernetes side of a provider's refusal: the spec fields and Secrets it names. For a
 * chain's seed: where a person puts a new one (it is picked up as soon as it changes); for
 * anything else: what to fix, and that a change to a Secret alone needs a rotate request.
 */
export function adviceFor(provider: Pick<CredentialProvider, 'inputs' | 'traits'>, block: unknown, field: string): Advice {
  return (refusal) => {
    const refs = provider.inputs(block);
    const seed = provider.traits.chain?.seed ?? {};
    const named = (refusal.inputs ?? []).map((n) => refs[n]).filter((r) => r !== undefined);
    if (provider.traits.chain && refusal.inputs?.length && refusal.inputs.every((n) => n in seed) && !refusal.config?.length) {
      return `${provider.traits.chain.anew} ${seedLocation(provider, block)}: the operator uses it as soon as the value changes.`;
    }
    const fields = [...(refusal.config ?? []).map((f) => `spec.${field}.${f}`), ...named.map((r) => `spec.${field}.${r.field} (${inputLocation([r])})`)];
    return `Fix ${fields.join(', ') || `spec.${field}`}: a spec change retries at once; after changing only a Secret, set the ${ROTATE_ANNOTATION} annotation to a new value.`;
  };
}

/** Where a chain's seed lives, for messages: `Secret "x" key "y"`. */
export function seedLocation(provider: Pick<CredentialProvider, 'inputs' | 'traits'>, block: unknown): string {
  const refs = provider.inputs(block);
  return inputLocation(Object.keys(provider.traits.chain?.seed ?? {}).flatMap((n) => (refs[n] ? [refs[n]] : [])));
}
