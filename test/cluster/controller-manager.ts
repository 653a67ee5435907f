import { join } from 'node:path';
import type { ControlPlane } from './control-plane.js';
import { freePort, httpsOk } from './control-plane.js';
import { startComponent, waitUntil, type Component } from './process.js';

/**
 * The real kube-controller-manager (built by scripts/build-kube.sh from the same module as the
 * API server) against a test control plane. What it adds to an API server alone:
 * - garbage-collector-controller: deletes objects whose owners are gone (ownerReferences);
 * - namespace-controller: empties a deleted namespace and removes it (without it a namespace
 *   stays Terminating forever);
 * - serviceaccount-controller, serviceaccount-token-controller and
 *   root-ca-certificate-publisher-controller: each namespace's `default` ServiceAccount and
 *   `kube-root-ca.crt`, which every pod's token volume needs.
 * A node runs every default controller ('*'): Deployments, ReplicaSets, endpoints, …
 */
export const BASIC_CONTROLLERS = [
  'garbage-collector-controller',
  'namespace-controller',
  'serviceaccount-controller',
  'serviceaccount-token-controller',
  'root-ca-certificate-publisher-controller',
];

export interface ControllerManagerOptions {
  cp: Pick<ControlPlane, 'dir' | 'kubeconfigPath' | 'caPath' | 'serviceAccountKeyPath'>;
  binary: string;
  /** controller names (kube-controller-manager --controllers); default BASIC_CONTROLLERS */
  controllers?: string[];
  /** where its log and pid file go; default <control plane dir>/controller-manager */
  dir?: string;
  detached?: boolean;
  /** the node's pod CIDR (a node cluster: node-ipam-controller allocates from it) */
  clusterCidr?: string;
  readyTimeoutMs?: number;
}

export interface ControllerManager extends Component {
  controllers: string[];
}

export async function startControllerManager(o: ControllerManagerOptions): Promise<ControllerManager> {
  const dir = o.dir ?? join(o.cp.dir, 'controller-manager');
  const controllers = o.controllers ?? BASIC_CONTROLLERS;
  const port = await freePort();
  const args = [
    `--kubeconfig=${o.cp.kubeconfigPath}`,
    `--controllers=${controllers.join(',')}`,
    '--leader-elect=false',
    // one identity for every controller (the admin token): the test cluster has no per-controller RBAC to prove
    '--use-service-account-credentials=false',
    `--service-account-private-key-file=${o.cp.serviceAccountKeyPath}`,
    `--root-ca-file=${o.cp.caPath}`,
    // its health endpoint, for start-up only: no client certificates, /healthz is always allowed
    '--bind-address=127.0.0.1',
    `--secure-port=${port}`,
    `--cert-dir=${join(dir, 'serving')}`,
    // the default /usr/libexec/kubernetes/… is not ours to create
    `--flex-volume-plugin-dir=${join(dir, 'flexvolume')}`,
    ...(o.clusterCidr ? ['--allocate-node-cidrs=true', `--cluster-cidr=${o.clusterCidr}`, '--node-cidr-mask-size=24'] : []),
    '--profiling=false',
    '--v=1',
  ];
  const c = startComponent({ name: 'controller-manager', binary: o.binary, args, dir, detached: o.detached });
  try {
    await waitUntil('kube-controller-manager /healthz', async () => {
      if (c.exited()) throw new Error(`kube-controller-manager exited during start-up; see ${c.logPath}`);
      // its certificate is self-signed: only the status matters
      return httpsOk(`https://127.0.0.1:${port}/healthz`, { rejectUnauthorized: false });
    }, o.readyTimeoutMs ?? 60_000, c.logPath);
  } catch (e) {
    await c.stop(2000);
    throw e;
  }
  return { ...c, controllers };
}
