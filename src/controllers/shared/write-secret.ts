import type { Logger } from 'pino';
import { sanitize } from '../../providers/errors.js';
import { KubeApiError, type OwnerReference } from '../../runtime/kube-client.js';
import { LeaseNotHeldError } from '../../runtime/leader-election.js';
import { applySecret } from '../../runtime/secret-writer.js';
import { crashPoint } from '../../runtime/crash-points.js';
import { ANNOTATIONS, dataHmac } from './secret-state.js';
import { writeStateSecret } from './state-secret.js';
import type { AnyResource, OperatorEnv } from './token-reconciler.js';

export interface CredentialWrite {
  data: Record<string, string>;
  revision: number;
  rotatedAt: Date;
  expiresAt?: Date;
  tokenId?: string;
}

export function ownerRef(res: AnyResource): OwnerReference {
  return { apiVersion: res.apiVersion, kind: res.kind, name: res.metadata.name, uid: res.metadata.uid };
}

/**
 * How a credential write is retried in-process. The API server being away (restarting,
 * upgraded, a network blip, the leader lease unconfirmed meanwhile) is ridden out for
 * `transientBudgetMs` on the injected clock: a 60 s outage must not lose a one-time credential.
 * A refusal (403, 422: a person must act) gets `refusedAttempts`; the credential then waits in
 * the kind's in-memory hand-over map for the next reconcile. Another replica holding the leader
 * lease ends it at once: that replica recovers the resource (leader-election.ts).
 */
export interface WriteRetryPolicy {
  firstDelayMs: number;
  maxDelayMs: number;
  transientBudgetMs: number;
  refusedAttempts: number;
}

export const CREDENTIAL_WRITE_RETRY: WriteRetryPolicy = { firstDelayMs: 500, maxDelayMs: 5_000, transientBudgetMs: 120_000, refusedAttempts: 5 };

function writeFailure(e: unknown): 'transient' | 'refused' | 'fenced-out' {
  if (e instanceof LeaseNotHeldError) return e.taken ? 'fenced-out' : 'transient';
  if (e instanceof KubeApiError) return e.status >= 500 || e.status === 429 || e.status === 408 ? 'transient' : 'refused';
  return 'transient'; // no answer: connection refused or reset, timed out
}

/**
 * Writes a freshly issued credential into the operator's state Secret, then into the target
 * Secret, retrying in-process: some providers hand a credential out once, so giving up after
 * one failed write would lose it. The state Secret goes first: it is the durable copy drift
 * repair rewrites the target from (state-secret.ts). Returns the HMAC of what was written, for status.
 */
export async function writeCredential(
  env: OperatorEnv,
  res: AnyResource & { spec: { target: { secretName: string; labels?: Record<string, string>; annotations?: Record<string, string> } } },
  w: CredentialWrite,
  log: Logger,
  retry: WriteRetryPolicy = CREDENTIAL_WRITE_RETRY,
): Promise<string> {
  const annotations: Record<string, string> = {
    ...res.spec.target.annotations,
    [ANNOTATIONS.revision]: String(w.revision),
    [ANNOTATIONS.rotatedAt]: w.rotatedAt.toISOString(),
    ...(w.expiresAt ? { [ANNOTATIONS.expiresAt]: w.expiresAt.toISOString() } : {}),
    ...(w.tokenId ? { [ANNOTATIONS.tokenId]: w.tokenId } : {}),
  };
  const started = env.clock.now().getTime();
  let delay = retry.firstDelayMs;
  for (let i = 1; ; i++) {
    try {
      await writeStateSecret(env.client, res.metadata.namespace, ownerRef(res), {
        secretName: res.spec.target.secretName,
        revision: w.revision,
        annotations,
        data: w.data,
      });
      crashPoint('write:after-state-secret');
      const written = await applySecret(env.client, {
        namespace: res.metadata.namespace,
        name: res.spec.target.secretName,
        owner: ownerRef(res),
        data: w.data,
        ...(res.spec.target.labels ? { labels: res.spec.target.labels } : {}),
        annotations,
      });
      env.secrets.upsert(written);
      return dataHmac(env.hmacKey, w.data);
    } catch (e) {
      const failure = writeFailure(e);
      const elapsedMs = env.clock.now().getTime() - started;
      if (failure === 'fenced-out' || (failure === 'refused' ? i >= retry.refusedAttempts : elapsedMs >= retry.transientBudgetMs)) throw e;
      // the API server's answer to a Secret write may quote what was sent: sanitize before logging
      log.warn({ attempt: i, failure, elapsedMs, err: e instanceof Error ? sanitize(e.message) : 'non-error thrown' }, 'Secret write failed; retrying');
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, retry.maxDelayMs);
    }
  }
}
