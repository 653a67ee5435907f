/**
 * The operator as the image runs it: the esbuild bundle (`npm run bundle`, scripts/bundle.mjs),
 * copied away from the checkout's node_modules and started with plain node, against the real API
 * server, the simulators and (where it runs) Keycloak. Covers what bundling can break: code that
 * loads dependencies at run time (@kubernetes/client-node's chunk, loaded only for a kubeconfig
 * with a credential plugin), openid-client, the GNAP signer, pino's output. Runs without podman;
 * containers.test.ts runs the image itself where podman is.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { KubeClient } from '../../src/runtime/kube-client.js';
import { freePort } from '../cluster/control-plane.js';
import { startDdsSimulator, type DdsSimulator } from '../simulators/dds/server.js';
import { startGnapSimulator, type GnapSimulator } from '../simulators/gnap/server.js';
import { startPrivicoreSimulator, type PrivicoreSimulator } from '../simulators/privicore/server.js';
import { createEveryKind, expectCleanJsonLogs, expectEveryKindWorks, writeExecKubeconfig } from '../support/every-kind.js';
import { adminClient, createNamespace, waitFor } from '../support/harness.js';
import { keycloakAvailable, provisionRealm, type KeycloakRealm } from '../support/keycloak.js';

const ROOT = join(import.meta.dirname, '..', '..');
const noKeycloak = await keycloakAvailable();

interface Metafile {
  outputs: Record<string, { entryPoint?: string; inputs: Record<string, unknown>; imports: Array<{ path: string; kind: string }> }>;
}

describe('the bundled operator (dist/bundle, what the image runs)', () => {
  let dir: string;
  let meta: Metafile;
  let client: KubeClient;
  let ns: string;
  let dds: DdsSimulator;
  let gnap: GnapSimulator;
  let privicore: PrivicoreSimulator;
  let realm: KeycloakRealm | undefined;
  let op: ChildProcess | undefined;
  let logs = '';
  let healthPort: number;

  beforeAll(async () => {
    // outside the checkout: nothing can be resolved from its node_modules
    dir = mkdtempSync(join(tmpdir(), 'token-operator-bundle-'));
    await promisify(execFile)(process.execPath, [join(ROOT, 'scripts', 'bundle.mjs'), `--outdir=${join(dir, 'app')}`, '--metafile'], { cwd: ROOT });
    meta = JSON.parse(readFileSync(join(dir, 'app', 'meta.json'), 'utf8')) as Metafile;
    client = adminClient();
    ns = await createNamespace(client, 'bundle');
    dds = await startDdsSimulator();
    gnap = await startGnapSimulator();
    privicore = await startPrivicoreSimulator();
    privicore.addProfile('demo', 'demo-password');
    if (!noKeycloak) realm = await provisionRealm();
    else console.warn(`the bundle test runs without an OIDC AccessToken: ${noKeycloak}`);
    mkdirSync(join(dir, 'kube'));
    writeExecKubeconfig(inject('kubeconfigPath'), join(dir, 'kube'));
    healthPort = await freePort();
    op = spawn(process.execPath, [join(dir, 'app', 'main.mjs'), `--health-port=${healthPort}`, '--health-host=127.0.0.1', '--leader-elect=false', `--lease-namespace=${ns}`, `--watch-namespaces=${ns}`, '--allow-insecure-http', '--allow-loopback-egress'], {
      cwd: dir,
      env: { PATH: process.env.PATH, KUBECONFIG: join(dir, 'kube', 'config') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    op.stdout!.on('data', (d: Buffer) => (logs += d.toString()));
    op.stderr!.on('data', (d: Buffer) => (logs += d.toString()));
  }, 420_000);

  afterAll(async () => {
    if (op && op.exitCode === null) {
      const exited = new Promise((r) => op!.once('exit', r));
      op.kill('SIGTERM');
      await exited;
    }
    await Promise.all([dds?.close(), gnap?.close(), privicore?.close()]);
    await realm?.delete();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('keeps @kubernetes/client-node out of the entry: a separate chunk, imported only dynamically', () => {
    const outputs = Object.entries(meta.outputs);
    const fromClientNode = (inputs: Record<string, unknown>) => Object.keys(inputs).some((i) => i.includes('node_modules/@kubernetes/client-node/'));
    const [entryPath, entry] = outputs.find(([, o]) => o.entryPoint === 'src/main.ts')!;
    const chunk = outputs.find(([, o]) => fromClientNode(o.inputs));
    expect(chunk, 'no output holds client-node').toBeDefined();
    expect(fromClientNode(entry.inputs)).toBe(false);
    // what the entry loads at start: itself and its static imports, none of them the client-node chunk
    const staticImports = entry.imports.filter((i) => i.kind === 'import-statement').map((i) => i.path);
    expect(staticImports).not.toContain(chunk![0]);
    expect(entry.imports).toContainEqual({ path: chunk![0], kind: 'dynamic-import' });
    expect(entryPath.endsWith('main.mjs')).toBe(true);
  });

  it('starts with plain node and reaches the API server through an exec credential plugin (client-node)', async () => {
    await waitFor('/readyz 200', async () => (await fetch(`http://127.0.0.1:${healthPort}/readyz`).catch(() => undefined))?.ok, 60_000);
    expect(await (await fetch(`http://127.0.0.1:${healthPort}/metrics`)).text()).toContain('token_operator_');
  });

  it(`reconciles every kind to Ready${noKeycloak ? ' (no OIDC: Keycloak unavailable)' : ''}; logs are JSON lines without credentials`, async () => {
    const urls = { dds: dds.url, gnap: gnap.url, privicore: privicore.url };
    const secrets = await expectEveryKindWorks(client, ns, await createEveryKind(client, ns, urls, realm), realm);
    expectCleanJsonLogs(logs, secrets);
  }, 300_000);
});
