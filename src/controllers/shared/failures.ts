import { isProviderError } from '../../providers/errors.js';
import { KubeApiError } from '../../runtime/kube-client.js';
import { InputError } from './inputs.js';

export interface Failure {
  /** CamelCase, stable: becomes the Ready condition's reason */
  reason: string;
  /** safe for status and events: no credential (messages are built without values) */
  message: string;
  /** transient failures retry fast; the others need a human (Stalled) */
  transient: boolean;
  retryAfterMs?: number;
}

const PROVIDER_REASON: Record<string, string> = {
  Retryable: 'ProviderUnavailable',
  RateLimited: 'ProviderRateLimited',
  Unauthorized: 'ProviderUnauthorized',
  Invalid: 'ProviderRejected',
  NotFound: 'ProviderNotFound',
  Conflict: 'ProviderConflict',
  BadResponse: 'InvalidProviderResponse',
  // the operator's egress policy refused the URL (or an address it resolved to): a human must change it
  EgressDenied: 'EgressDenied',
};

/**
 * A failure a kind detects itself (e.g. the provider accepted a rotation but the new credential
 * does not verify). Progress already made (the status draft) is kept; the shared skeleton
 * applies the back-off tier and conditions like for any other failure.
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

/** Maps anything a reconcile can throw to a condition reason, a message and a back-off tier. */
export function classify(e: unknown): Failure {
  if (e instanceof InputError) return { reason: e.reason, message: e.message, transient: false };
  if (e instanceof ReconcileError) return { reason: e.reason, message: e.message, transient: e.transient };
  if (isProviderError(e)) {
    return {
      reason: PROVIDER_REASON[e.kind] ?? 'ProviderError',
      message: `${e.provider}: ${e.message}`,
      transient: e.transient,
      ...(e.retryAfterMs !== undefined ? { retryAfterMs: e.retryAfterMs } : {}),
    };
  }
  if (e instanceof KubeApiError) {
    return { reason: 'KubernetesApiError', message: `Kubernetes API: ${e.status} ${e.reason}`, transient: true };
  }
  // Unknown errors may carry anything: never surface their text in status.
  return { reason: 'InternalError', message: 'unexpected error; see operator logs', transient: true };
}
