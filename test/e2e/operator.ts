import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { helmBinary } from '../../scripts/chart.js';
import type { KubeClient, KubeObject } from '../../src/runtime/kube-client.js';

/** The operator as the e2e suite installs it: the chart's defaults plus what this machine needs. */

export const ROOT = join(import.meta.dirname, '..', '..');
/** built by scripts/image.sh (podman, offline) and imported into the node */
export const OPERATOR_IMAGE = 'localhost/token-operator:e2e';
export const RELEASE = { name: 'token-operator', namespace: 'token-operator' };
/** the chart's fullname for this release, which names the Deployment and the Lease */
export const FULLNAME = 'token-operator';
export const SELECTOR = 'app.kubernetes.io/name=token-operator';

/**
 * Values beyond the chart's defaults, and why: the image is local (repository and tag; the
 * default pull policy IfNotPresent finds it imported), two replicas so leader election has a
 * stand-by (the chart's default is one), and plain http for the simulators on the node's IP.
 * Everything else (restricted security context, read-only root filesystem, probes, the chart's
 * ServiceAccount and RBAC, leader election) stays as the chart ships it.
 */
export function operatorValues(image = OPERATOR_IMAGE): string[] {
  const [repository, tag] = image.split(/:(?=[^:/]+$)/) as [string, string];
  return ['--set', `image.repository=${repository}`, '--set', `image.tag=${tag}`, '--set', 'replicaCount=2', '--set', 'allowInsecureHttp=true'];
}

export function helm(kubeconfigPath: string, ...args: string[]): string {
  try {
    return execFileSync(helmBinary(ROOT), args, {
      encoding: 'utf8',
      env: { ...process.env, KUBECONFIG: kubeconfigPath, HELM_CACHE_HOME: join(ROOT, '.cache', 'helm'), HELM_CONFIG_HOME: join(ROOT, '.cache', 'helm') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`helm ${args.join(' ')}: ${err.stderr || err.message}`);
  }
}

/** `helm upgrade --install … --wait`: returns when every replica is Ready, and how long that took. */
export function installOperator(kubeconfigPath: string, image = OPERATOR_IMAGE, extra: string[] = []): { readySeconds: number } {
  // the release namespace enforces the restricted Pod Security Standard: the pods are admitted
  // only if the chart's defaults really meet it
  const ns = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: RELEASE.namespace, labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } } };
  execFileSync('kubectl', ['apply', '-f', '-'], { input: JSON.stringify(ns), env: { ...process.env, KUBECONFIG: kubeconfigPath }, stdio: ['pipe', 'ignore', 'pipe'] });
  const started = Date.now();
  helm(kubeconfigPath, 'upgrade', '--install', RELEASE.name, join(ROOT, 'charts', 'token-operator'), '--namespace', RELEASE.namespace, '--create-namespace', ...operatorValues(image), ...extra, '--wait', '--timeout', '5m');
  return { readySeconds: Number(((Date.now() - started) / 1000).toFixed(1)) };
}

export interface Pod extends KubeObject {
  spec: { containers: Array<{ image: string }>; nodeName?: string };
  status: { phase: string; podIP?: string; conditions?: Array<{ type: string; status: string }>; containerStatuses?: Array<{ restartCount: number; containerID?: string; ready: boolean }> };
}

export async function operatorPods(client: KubeClient): Promise<Pod[]> {
  const list = await client.list<Pod>(`/api/v1/namespaces/${RELEASE.namespace}/pods`, { labelSelector: SELECTOR });
  return list.items.filter((p) => !p.metadata?.deletionTimestamp);
}

export const podReady = (p: Pod) => p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

/** the pod holding the leader Lease (its identity is `<pod name>-<pid>`) */
export async function leaderPod(client: KubeClient): Promise<string | undefined> {
  const lease = await client.find<KubeObject & { spec?: { holderIdentity?: string | null } }>(`/apis/coordination.k8s.io/v1/namespaces/${RELEASE.namespace}/leases/${FULLNAME}`);
  return lease?.spec?.holderIdentity?.replace(/-\d+$/, '') || undefined;
}
