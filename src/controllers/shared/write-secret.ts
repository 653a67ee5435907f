import { sanitize } from '../../providers/errors.js';
import { KubeApiError, type OwnerReference } from '../../runtime/kube-client.js';
import { LeaseNotHeldError } from '../../runtime/leader-election.js';
import { crashPoint } from '../../runtime/crash-points.js';
import { ANNOTATIONS, dataHmac, readSecretState } from './secret-state.js';
import { writeStateSecret } from './state-secret.js';
import { ReconcileError } from './failures.js';
import { targetContent } from './target-content.js';
import { TargetRefused, writeTarget } from './target-secret.js';
import type { AnyResource, KindContext } from './token-reconciler.js';

export interface CredentialWrite {
  /**
   * the credential's fields, by the default key names: what a workload needs to call the service.
   * The target Secret gets them as they are, or rendered by spec.target.template (target-content.ts);
   * the state Secret keeps them as they are, so every later write can render them again.
   */
  data: Record<string, string>;
  /**
   * what stays in the operator's state Secret only: anything that can mint new credentials
   * (ARCHITECTURE rule 7), e.g. an OIDC refresh token or a GNAP manage URL
   */
  private?: Record<string, string>;
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
 * repair rewrites the target from (state-secret.ts), and it holds the private part. The target
 * write follows the ownership rules (target-secret.ts): a refusal is not retried here — the
 * credential is safe in the state Secret; so is a template that cannot render it (TemplateInvalid:
 * the target keeps its last good content). Returns the HMAC of what the target got, for status.
 */
export async function writeCredential(ctx: KindContext, res: AnyResource, w: CredentialWrite, retry: WriteRetryPolicy = CREDENTIAL_WRITE_RETRY): Promise<string> {
  const { env, log } = ctx;
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
      await writeStateSecret(
        env.client,
        res.metadata.namespace,
        ownerRef(res),
        { secretName: res.spec.target.secretName, revision: w.revision, annotations, data: w.data },
        w.private,
      );
      crashPoint('write:after-state-secret');
      const content = targetContent(res, w.data, annotations);
      const written = await writeTarget(env, res, content, i === 1 ? ctx.target : undefined);
      ctx.target = { secret: written };
      ctx.secret = readSecretState(written, res.metadata.uid);
      return dataHmac(env.hmacKey, content.data);
    } catch (e) {
      // a refused target or a template that cannot render is not retried: the credential is safe in the state Secret
      if (e instanceof TargetRefused || e instanceof ReconcileError) throw e;
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
