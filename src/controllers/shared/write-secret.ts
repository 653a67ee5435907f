import { sanitize } from '../../providers/errors.js';
import type { OwnerReference } from '../../runtime/kube-client.js';
import { crashPoint } from '../../runtime/crash-points.js';
import { retryWrite } from '../../schedule/retry.js';
import { ANNOTATIONS, dataHmac, readSecretState } from './secret-state.js';
import { writeStateSecret } from './state-secret.js';
import { TargetRefused, writeTarget } from './target-secret.js';
import type { AnyResource, KindContext } from './kind.js';

export interface CredentialWrite {
  /** what the target Secret gets: what a workload needs to call the service */
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
  /** status facts the Secret mirrors (token-operator.io/*), so a crash before the status write is adopted */
  facts?: Record<string, string>;
}

export function ownerRef(res: AnyResource): OwnerReference {
  return { apiVersion: res.apiVersion, kind: res.kind, name: res.metadata.name, uid: res.metadata.uid };
}

/**
 * Writes a freshly issued credential into the operator's state Secret, then into the target
 * Secret, retrying in-process (src/schedule/retry.ts): some providers hand a credential out
 * once. The state Secret goes first: it is the durable copy drift repair rewrites the target
 * from (state-secret.ts), and it holds the private part. The target write follows the ownership
 * rules (target-secret.ts): a refusal is not retried here — the credential is safe in the state
 * Secret. Returns the HMAC of what was written, for status.
 */
export async function writeCredential(ctx: KindContext, res: AnyResource, w: CredentialWrite): Promise<string> {
  const { env, log } = ctx;
  const annotations: Record<string, string> = {
    ...res.spec.target.annotations,
    ...w.facts,
    [ANNOTATIONS.revision]: String(w.revision),
    [ANNOTATIONS.rotatedAt]: w.rotatedAt.toISOString(),
    ...(w.expiresAt ? { [ANNOTATIONS.expiresAt]: w.expiresAt.toISOString() } : {}),
    ...(w.tokenId ? { [ANNOTATIONS.tokenId]: w.tokenId } : {}),
  };
  let known: { secret: typeof ctx.target.secret } | undefined = ctx.target;
  return retryWrite(
    env.clock,
    async () => {
      await writeStateSecret(
        env.client,
        res.metadata.namespace,
        ownerRef(res),
        { secretName: res.spec.target.secretName, revision: w.revision, annotations, data: w.data },
        w.private,
      );
      crashPoint('issue:after-state-secret');
      // after a failed attempt the Secret is read again: the failure may have been a race
      const written = await writeTarget(env, res, { data: w.data, annotations, ...(res.spec.target.labels ? { labels: res.spec.target.labels } : {}) }, known);
      ctx.target = { secret: written };
      ctx.secret = readSecretState(written, res.metadata.uid);
      return dataHmac(env.hmacKey, w.data);
    },
    {
      final: (e) => e instanceof TargetRefused,
      onRetry: (attempt, e) => {
        known = undefined;
        // the API server's answer to a Secret write may quote what was sent: sanitize before logging
        log.warn({ attempt, err: e instanceof Error ? sanitize(e.message) : 'non-error thrown' }, 'Secret write failed; retrying');
      },
    },
  );
}
