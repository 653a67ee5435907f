/**
 * `helm upgrade` and `helm uninstall` on a live installation, as charts/token-operator/README.md
 * describes them: an upgrade to a new image rolls both replicas to it with a leader throughout
 * the rollout's end state and without re-issuing any token; uninstall removes the operator but
 * keeps the CRDs (crds.keep), the token resources and their Secrets; installing again adopts
 * them as they are. (The file reinstalls the release as global-setup made it.)
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { KubeClient, KubeObject } from '../../src/runtime/kube-client.js';
import { importImages, podmanArchive, podmanEnv } from '../cluster/images.js';
import { NODE_IP } from '../cluster/node.js';
import { startDdsSimulator, type DdsSimulator } from '../simulators/dds/server.js';
import { ddsFixture } from '../support/fixtures.js';
import { adminClient, condition, createNamespace, createResource, getResource, getSecretData, waitFor } from '../support/harness.js';
import { FULLNAME, helm, installOperator, leaderPod, OPERATOR_IMAGE, operatorPods, podReady, RELEASE, ROOT } from './operator.js';
import { skipNote, skipReason } from './support.js';

const UPGRADE_IMAGE = 'localhost/token-operator:e2e-upgrade';
const CRDS = ['accesstokens.token-operator.io', 'datatokens.token-operator.io', 'deltasharetokens.token-operator.io'];

let client: KubeClient;
let ns: string;
let dds: DdsSimulator;

/** a new image: the e2e image with one more label (a different image id, same program) */
function buildUpgradeImage(): void {
  const dir = mkdtempSync(join(tmpdir(), 'upgrade-image-'));
  try {
    writeFileSync(join(dir, 'Containerfile'), `FROM ${OPERATOR_IMAGE}\nLABEL io.token-operator.e2e="upgrade"\n`);
    execFileSync('podman', ['build', '--pull=never', '--network=host', '-t', UPGRADE_IMAGE, '-f', join(dir, 'Containerfile'), dir], { env: podmanEnv(ROOT), stdio: ['ignore', 'ignore', 'pipe'] });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const token = async () => {
  const r = await getResource(client, 'deltasharetokens', ns, 'kept');
  return { ready: condition(r, 'Ready')?.status, revision: (r?.status as { revision?: number } | undefined)?.revision, uid: r?.metadata?.uid };
};

describe.skipIf(!!skipReason)(`helm upgrade and uninstall on a live installation${skipNote}`, () => {
  beforeAll(async () => {
    client = adminClient();
    ns = await createNamespace(client, 'helm');
    dds = await startDdsSimulator({ host: NODE_IP });
    await createResource(client, 'deltasharetokens', await ddsFixture(client, dds, 'kept', { namespace: ns, spec: { overlap: '2m', deletionPolicy: 'Retain' } }));
    await waitFor('kept Ready', async () => (await token()).ready === 'True', 120_000, 500);
    buildUpgradeImage();
    await importImages(join(inject('nodeDir'), 'containerd', 'containerd.sock'), [await podmanArchive(ROOT, UPGRADE_IMAGE)]);
  }, 600_000);

  afterAll(async () => {
    // leave the release as global-setup made it, whatever happened here
    installOperator(inject('kubeconfigPath'));
    if (ns) {
      await client.delete(`/api/v1/namespaces/${ns}`).catch(() => undefined);
      await waitFor('helm namespace deleted', async () => (await client.find(`/api/v1/namespaces/${ns}`)) === undefined, 180_000, 1000).catch(() => undefined);
    }
    await dds?.close();
  });

  it('helm upgrade to a new image: both replicas roll to it, a leader leads, no token is re-issued', async () => {
    const before = await token();
    const secretBefore = await getSecretData(client, ns, 'kept-share');
    const { readySeconds } = installOperator(inject('kubeconfigPath'), UPGRADE_IMAGE);
    const pods = await operatorPods(client);
    expect(pods).toHaveLength(2);
    for (const p of pods) {
      expect(p.spec.containers[0]!.image).toBe(UPGRADE_IMAGE);
      expect(podReady(p)).toBe(true);
    }
    const leader = await waitFor('a leader among the new pods', async () => {
      const l = await leaderPod(client);
      return l && pods.some((p) => p.metadata!.name === l) ? l : undefined;
    }, 60_000, 500);
    console.log(`[e2e helm] upgrade rolled out in ${readySeconds}s; leader ${leader}`);
    // the new leader reconciles the token and finds nothing to do
    await new Promise((r) => setTimeout(r, 5000));
    expect(await token()).toEqual(before);
    expect(await getSecretData(client, ns, 'kept-share')).toEqual(secretBefore);
  });

  it('helm uninstall removes the operator, keeps the CRDs, the token resources and their Secrets; a new install adopts them', async () => {
    const before = await token();
    helm(inject('kubeconfigPath'), 'uninstall', RELEASE.name, '--namespace', RELEASE.namespace, '--wait', '--timeout', '3m');
    expect(await client.find(`/apis/apps/v1/namespaces/${RELEASE.namespace}/deployments/${FULLNAME}`)).toBeUndefined();
    expect(await client.find(`/api/v1/namespaces/${RELEASE.namespace}/serviceaccounts/${FULLNAME}`)).toBeUndefined();
    expect(await client.find(`/apis/rbac.authorization.k8s.io/v1/clusterroles/${FULLNAME}`)).toBeUndefined();
    await waitFor('operator pods gone', async () => (await operatorPods(client)).length === 0, 120_000, 500);
    for (const crd of CRDS) expect(await client.find<KubeObject>(`/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd}`), crd).toBeDefined();
    expect((await token()).uid).toBe(before.uid);
    expect(await getSecretData(client, ns, 'kept-share')).toBeDefined();

    installOperator(inject('kubeconfigPath'));
    await new Promise((r) => setTimeout(r, 5000));
    expect(await token()).toEqual(before);
  });
});
