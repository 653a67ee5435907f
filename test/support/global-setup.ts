import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startControlPlane, stopByPidFile, type ControlPlane } from '../cluster/control-plane.js';
import { BASIC_CONTROLLERS, startControllerManager, type ControllerManager } from '../cluster/controller-manager.js';
import { keycloakTeardownForRun } from './keycloak.js';

/**
 * Starts one real kube-apiserver for the whole integration run and installs the CRDs.
 * Each test file works in namespaces of its own, so files never see each other's objects.
 */
let cp: ControlPlane | undefined;
let cm: ControllerManager | undefined;

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const root = join(import.meta.dirname, '..', '..');
  // Test files start Keycloak lazily (once per run); stop it at the end if this run started it.
  const stopKeycloak = keycloakTeardownForRun();
  execFileSync('bash', [join(root, 'scripts', 'build-apiserver.sh')], { stdio: 'inherit' });
  const dir = mkdtempSync(join(tmpdir(), 'token-operator-cp-'));
  const started = Date.now();
  cp = await startControlPlane({ dir, binary: join(root, '.cache', 'bin', 'apiserver') });
  console.log(`[global-setup] kube-apiserver ready in ${((Date.now() - started) / 1000).toFixed(1)}s at ${cp.url}`);
  execFileSync('kubectl', ['apply', '--server-side', '-f', join(root, 'crds')], {
    env: { ...process.env, KUBECONFIG: cp.kubeconfigPath },
    stdio: 'inherit',
  });
  execFileSync('kubectl', ['wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all'], {
    env: { ...process.env, KUBECONFIG: cp.kubeconfigPath },
    stdio: 'inherit',
  });
  // The basic set of kube-controller-manager controllers (garbage collector, namespace, service
  // accounts) runs beside the API server, so owner references and namespace deletion behave as
  // in a real cluster. TOKEN_OPERATOR_TEST_CONTROLLERS=0 turns it off; a comma-separated list of
  // controller names runs those instead.
  const controllers = process.env.TOKEN_OPERATOR_TEST_CONTROLLERS ?? '1';
  if (controllers !== '0') {
    execFileSync('bash', [join(root, 'scripts', 'build-kube.sh'), 'kube-controller-manager'], { stdio: 'inherit' });
    cm = await startControllerManager({
      cp,
      binary: join(root, '.cache', 'bin', 'kube-controller-manager'),
      controllers: controllers === '1' ? BASIC_CONTROLLERS : controllers.split(','),
    });
    console.log(`[global-setup] kube-controller-manager running ${cm.controllers.join(',')}`);
  }
  project.provide('kubeconfigPath', cp.kubeconfigPath);
  project.provide('controlPlaneDir', dir);
  project.provide('controlPlanePort', cp.port);
  project.provide('controlPlaneBinary', join(root, '.cache', 'bin', 'apiserver'));
  project.provide('kubeControllers', cm?.controllers ?? []);
  return async () => {
    await cm?.stop();
    await cp?.stop();
    await stopByPidFile(dir);
    await stopKeycloak();
    rmSync(dir, { recursive: true, force: true });
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    kubeconfigPath: string;
    controlPlaneDir: string;
    controlPlanePort: number;
    controlPlaneBinary: string;
    /** the kube-controller-manager controllers running beside the API server (empty: none) */
    kubeControllers: string[];
  }
}
