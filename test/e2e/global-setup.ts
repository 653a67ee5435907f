import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { nodeLeftovers, runningNode, startNode, stopNode, type TestNode } from '../cluster/node.js';
import { keycloakTeardownForRun } from '../support/keycloak.js';
import { installOperator, OPERATOR_IMAGE, ROOT } from './operator.js';

/**
 * `npm run test:e2e`: a real one-node cluster for the whole run (test/cluster/node.ts) with the
 * operator's image built offline (scripts/image.sh) and imported, and the operator installed
 * from its Helm chart. Test files share the operator and work in namespaces of their own.
 *
 * Where the node cannot run (not root, no containerd/runc/CNI packages, another node running)
 * every test skips with a one-line reason; REQUIRE_NODE_TESTS=1 (CI) turns that into a failure.
 * The teardown stops the node and fails the run if anything is left on the machine.
 */
let node: TestNode | undefined;

function skipReason(): string | undefined {
  if (process.platform !== 'linux') return 'the test node needs Linux';
  if (process.getuid?.() !== 0) return 'the test node needs root (kubelet, containerd, network, cgroups)';
  try {
    execFileSync('bash', [join(ROOT, 'scripts', 'node-packages.sh')], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    return String((e as { stderr?: Buffer }).stderr ?? e).trim().split('\n').pop();
  }
  try {
    execFileSync('sh', ['-c', 'command -v go'], { stdio: 'ignore' });
  } catch {
    return 'the test node needs go (it builds the Kubernetes components)';
  }
  const other = runningNode();
  if (other) return `a test node is already running on this machine (${other.dir}); only one can run at a time`;
  return undefined;
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const reason = skipReason();
  if (reason) {
    if (process.env.REQUIRE_NODE_TESTS === '1') throw new Error(`REQUIRE_NODE_TESTS=1, but the test node cannot run here: ${reason}`);
    console.warn(`[e2e] every test skipped: ${reason} (REQUIRE_NODE_TESTS=1 makes this a failure)`);
    project.provide('e2eSkip', reason);
    return async () => undefined;
  }
  const stopKeycloak = keycloakTeardownForRun();
  const started = Date.now();
  execFileSync('bash', [join(ROOT, 'scripts', 'image.sh'), 'build'], { stdio: 'inherit', env: { ...process.env, IMAGE: OPERATOR_IMAGE } });
  const imageSeconds = (Date.now() - started) / 1000;
  const dir = mkdtempSync(join(tmpdir(), 'token-operator-node-'));
  const log = (l: string) => console.log(`[e2e node] ${l}`);
  node = await startNode({ root: ROOT, dir, images: [OPERATOR_IMAGE], syncFrequency: '5s', log });
  const teardown = async () => {
    const t = Date.now();
    await stopNode(dir);
    const left = nodeLeftovers(dir);
    console.log(`[e2e node] stopped in ${((Date.now() - t) / 1000).toFixed(1)}s; leftovers: ${left.length === 0 ? 'none' : left.join('; ')}`);
    await stopKeycloak();
    if (left.length > 0) throw new Error(`the test node left this on the machine (logs kept in ${dir}):\n  ${left.join('\n  ')}`);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const installed = installOperator(node.kubeconfigPath);
    const figures = { imageBuildSeconds: imageSeconds, ...node.timings, operatorReadySeconds: installed.readySeconds };
    console.log(`[e2e] figures: ${JSON.stringify(figures)}`);
    writeFileSync(join(dir, 'figures.json'), JSON.stringify(figures));
  } catch (e) {
    await teardown().catch(() => undefined);
    throw e;
  }
  project.provide('e2eSkip', '');
  project.provide('kubeconfigPath', node.kubeconfigPath);
  project.provide('nodeDir', dir);
  return teardown;
}

declare module 'vitest' {
  export interface ProvidedContext {
    /** why the e2e suite cannot run here ('' when it can) */
    e2eSkip: string;
    nodeDir: string;
  }
}
