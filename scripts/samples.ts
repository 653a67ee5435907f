// The samples in deploy/samples as objects to apply, pointed at running simulators: used by
// `npm run dev` (operator as a local process or in-cluster) and by the e2e suite.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';

/** Where the simulators answer. The samples name the `npm run simulators` defaults (127.0.0.1:1808x). */
export interface SampleEndpoints {
  dds: string;
  gnap: string;
  privicore: string;
}

export const DEFAULT_ENDPOINTS: SampleEndpoints = { dds: 'http://127.0.0.1:18081', gnap: 'http://127.0.0.1:18083', privicore: 'http://127.0.0.1:18084' };

/** The GNAP simulator's first grant and client key (test/simulators/main.ts --write-gnap-grant writes one). */
export interface GnapGrant {
  walletAddressUrl: string;
  keyId: string;
  privateKeyPem: string;
  accessToken: string;
  manageUrl: string;
}

type Ref = { name: string; key: string };
export type SampleObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  spec?: Record<string, unknown> & { gnap?: Record<string, unknown> & { privateKeySecretRef?: Ref; accessTokenSecretRef?: Ref; manageUrlSecretRef?: Ref } };
  [k: string]: unknown;
};

/**
 * Every object of deploy/samples/*.yaml, in file order, with the simulator URLs replaced by
 * `endpoints`, and the Secrets a GNAP AccessToken reads filled from `grant` (the simulator
 * issues random tokens, so the sample files carry placeholders).
 */
export function sampleObjects(root: string, endpoints: SampleEndpoints, grant: GnapGrant): SampleObject[] {
  const dir = join(root, 'deploy', 'samples');
  const objects: SampleObject[] = [];
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.yaml')).sort()) {
    let text = readFileSync(join(dir, f), 'utf8');
    for (const k of Object.keys(DEFAULT_ENDPOINTS) as Array<keyof SampleEndpoints>) text = text.replaceAll(DEFAULT_ENDPOINTS[k], endpoints[k]);
    for (const doc of parseAllDocuments(text)) {
      const obj = doc.toJS() as SampleObject | null;
      if (obj?.kind) objects.push(obj);
    }
  }
  for (const at of objects.filter((o) => o.kind === 'AccessToken' && o.spec?.gnap)) {
    const g = at.spec!.gnap!;
    const values: Array<[Ref | undefined, string]> = [
      [g.privateKeySecretRef, grant.privateKeyPem],
      [g.accessTokenSecretRef, grant.accessToken],
      [g.manageUrlSecretRef, grant.manageUrl],
    ];
    for (const [ref, value] of values) {
      if (!ref) continue;
      const ns = at.metadata.namespace ?? 'default';
      let secret = objects.find((o) => o.kind === 'Secret' && o.metadata.name === ref.name && (o.metadata.namespace ?? 'default') === ns);
      if (!secret) objects.splice(objects.indexOf(at), 0, (secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: ref.name, namespace: ns } }));
      secret.stringData = { ...(secret.stringData as Record<string, string> | undefined), [ref.key]: value };
    }
    // the sample's wallet address and key id must be the simulator's
    at.spec!.gnap = { ...g, walletAddressUrl: grant.walletAddressUrl, keyId: grant.keyId };
  }
  return objects;
}

/** the token resources among the samples, as "kind/namespace/name" */
export const sampleTokens = (objects: SampleObject[]) =>
  objects.filter((o) => o.apiVersion.startsWith('token-operator.io/')).map((o) => `${o.kind}/${o.metadata.namespace ?? 'default'}/${o.metadata.name}`);
