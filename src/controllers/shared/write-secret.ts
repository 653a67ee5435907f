import type { Logger } from 'pino';
import { sanitize } from '../../providers/errors.js';
import type { OwnerReference } from '../../runtime/kube-client.js';
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
  attempts = 5,
): Promise<string> {
  const annotations: Record<string, string> = {
    ...res.spec.target.annotations,
    [ANNOTATIONS.revision]: String(w.revision),
    [ANNOTATIONS.rotatedAt]: w.rotatedAt.toISOString(),
    ...(w.expiresAt ? { [ANNOTATIONS.expiresAt]: w.expiresAt.toISOString() } : {}),
    ...(w.tokenId ? { [ANNOTATIONS.tokenId]: w.tokenId } : {}),
  };
  let delay = 500;
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
      if (i >= attempts) throw e;
      // the API server's answer to a Secret write may quote what was sent: sanitize before logging
      log.warn({ attempt: i, err: e instanceof Error ? sanitize(e.message) : 'non-error thrown' }, 'Secret write failed; retrying');
      await new Promise((r) => setTimeout(r, delay));
      delay *= 2;
    }
  }
}
