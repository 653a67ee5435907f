import { sanitize } from '../../providers/errors.js';
import { KubeApiError, type OwnerReference } from '../../runtime/kube-client.js';
import { LeaseNotHeldError } from '../../runtime/leader-election.js';
import { crashPoint } from '../../runtime/crash-points.js';
import { CREDENTIAL_WRITE_RETRY, retryWrite, type WriteFailure, type WriteRetryPolicy } from '../../schedule/retry.js';
import { ANNOTATIONS, dataHmac, readSecretState } from './secret-state.js';
import { writeStateSecret } from './state-secret.js';
import { ReconcileError } from './failures.js';
import { targetContent } from './target-content.js';
import { TargetRefused, writeTarget } from './target-secret.js';
import type { AnyResource, KindContext } from './kind.js';

export interface CredentialWrite {
  /**
   * the credential's fields, by the default key names: what a workload needs to call the service.
   * The target Secret gets them as they are, or rendered by spec.target.template (target-content.ts);
   * the state Secret keeps them as they are, so every later write can render them again.
   */
  data: Record<string, string>;
  /**
   * what stays in the operator's state Secret only: anything that can mint new credentials
   * (ARCHITECTURE rule 7), e.g. a refresh token or a token management URL
   */
  private?: Record<string, string>;
  revision: number;
  rotatedAt: Date;
  expiresAt?: Date;
  tokenId?: string;
  /** status facts the Secret mirrors (token-operator.io/*), so a crash before the status write is adopted */
  facts?: Record<string, string>;
}

export function ownerRef(res: AnyResource): OwnerReference {
  return { apiVersion: res.apiVersion, kind: res.kind, name: res.metadata.name, uid: res.metadata.uid };
}

/**
 * How a failed credential write counts (the policy is src/schedule/retry.ts): the API server
 * away, or the lease unconfirmed, is transient; a refusal needs a person; a refused target or a
 * template that cannot render (TemplateInvalid) is final (the credential is safe in the state
 * Secret), and so is another replica holding the leader lease: that replica recovers the
 * resource (leader-election.ts).
 */
function writeFailure(e: unknown): WriteFailure {
  if (e instanceof TargetRefused || e instanceof ReconcileError) return 'final';
  if (e instanceof LeaseNotHeldError) return e.taken ? 'final' : 'transient';
  if (e instanceof KubeApiError) return e.status >= 500 || e.status === 429 || e.status === 408 ? 'transient' : 'refused';
  return 'transient'; // no answer: connection refused or reset, timed out
}

/**
 * Writes a freshly issued credential into the operator's state Secret, then into the target
 * Secret, retrying in-process: some providers hand a credential out once. The state Secret goes
 * first: it is the durable copy drift repair rewrites the target from (state-secret.ts), and it
 * holds the private part. The target write follows the ownership rules (target-secret.ts); the
 * credential's fields are rendered by spec.target.template when it has one (target-content.ts),
 * and a template that cannot render them is final (TemplateInvalid: the credential is safe in the
 * state Secret, the target keeps its last good content). Returns the HMAC of what the target got.
 */
export async function writeCredential(ctx: KindContext, res: AnyResource, w: CredentialWrite, retry: WriteRetryPolicy = CREDENTIAL_WRITE_RETRY): Promise<string> {
  const { env, log } = ctx;
  const annotations: Record<string, string> = {
    ...res.spec.target.annotations,
    ...w.facts,
    [ANNOTATIONS.revision]: String(w.revision),
    [ANNOTATIONS.rotatedAt]: w.rotatedAt.toISOString(),
    ...(w.expiresAt ? { [ANNOTATIONS.expiresAt]: w.expiresAt.toISOString() } : {}),
    ...(w.tokenId ? { [ANNOTATIONS.tokenId]: w.tokenId } : {}),
  };
  return retryWrite(
    env.clock,
    async (attempt) => {
      await writeStateSecret(
        env.client,
        res.metadata.namespace,
        ownerRef(res),
        { secretName: res.spec.target.secretName, revision: w.revision, annotations, data: w.data },
        w.private,
      );
      crashPoint('issue:after-state-secret');
      // after a failed attempt the Secret is read again: the failure may have been a race
      const content = targetContent(res, w.data, annotations);
      const written = await writeTarget(env, res, content, attempt === 1 ? ctx.target : undefined);
      ctx.target = { secret: written };
      ctx.secret = readSecretState(written, res.metadata.uid);
      return dataHmac(env.hmacKey, content.data);
    },
    writeFailure,
    {
      policy: retry,
      // the API server's answer to a Secret write may quote what was sent: sanitize before logging
      onRetry: ({ attempt, failure, elapsedMs, error }) =>
        log.warn({ attempt, failure, elapsedMs, err: error instanceof Error ? sanitize(error.message) : 'non-error thrown' }, 'Secret write failed; retrying'),
    },
  );
}
