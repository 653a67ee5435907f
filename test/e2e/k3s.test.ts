import { execFileSync } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { K3sContainer, type StartedK3sContainer } from '@testcontainers/k3s';
import { GenericContainer, getContainerRuntimeClient, type ContainerRuntimeClient } from 'testcontainers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helmBinary } from '../../scripts/chart.js';
import { startDdsSimulator, type DdsSimulator } from '../simulators/dds/server.js';
import { startPrivicoreSimulator } from '../simulators/privicore/server.js';

/**
 * End to end on k3s: build the image from the Dockerfile, load it into k3s, `helm install`
 * the chart, apply the samples (pointed at simulators on this host) and wait for Ready.
 * Needs a container runtime (Docker or Podman's Docker API). Without one it skips with a
 * one-line reason, unless REQUIRE_CONTAINER_TESTS=1, where that is a failure.
 */

const ROOT = join(import.meta.dirname, '..', '..');
const K3S_IMAGE = process.env.K3S_IMAGE ?? 'rancher/k3s:v1.33.5-k3s1';
const IMAGE = 'docker.io/library/token-operator:e2e';
const required = process.env.REQUIRE_CONTAINER_TESTS === '1';

async function runtime(): Promise<{ client?: ContainerRuntimeClient; reason?: string }> {
  try {
    return { client: await getContainerRuntimeClient() };
  } catch (e) {
    return { reason: `no container runtime (${(e as Error).message.split('\n')[0]})` };
  }
}

/** a TCP forwarder on all interfaces to a 127.0.0.1 port */
function forward(port: number): Promise<Server> {
  const server = createServer((c) => {
    const upstream = connect(port, '127.0.0.1');
    c.pipe(upstream).pipe(c);
    const end = () => (c.destroy(), upstream.destroy());
    c.on('error', end);
    upstream.on('error', end);
  });
  return new Promise((resolve) => server.listen(0, '0.0.0.0', () => resolve(server)));
}

const found = await runtime();
if (!found.client) {
  if (required) throw new Error(`REQUIRE_CONTAINER_TESTS=1 but ${found.reason}`);
  console.warn(`[e2e] skipped: ${found.reason}; set REQUIRE_CONTAINER_TESTS=1 to fail instead`);
}

describe.skipIf(!found.client)('token-operator on k3s (image + chart + samples)', () => {
  let k3s: StartedK3sContainer;
  let dir: string;
  let kubeconfig: string;
  let dds: DdsSimulator;
  let privicore: Awaited<ReturnType<typeof startPrivicoreSimulator>>;
  let privicoreProxy: Server;
  let gateway: string;
  const env = () => ({ ...process.env, KUBECONFIG: kubeconfig });
  const kubectl = (args: string[], input?: string) => execFileSync('kubectl', args, { env: env(), encoding: 'utf8', input });
  const helm = (...args: string[]) => execFileSync(helmBinary(ROOT), args, { env: env(), encoding: 'utf8' });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'token-operator-e2e-'));
    await GenericContainer.fromDockerfile(ROOT).build(IMAGE, { deleteOnExit: false });
    k3s = await new K3sContainer(K3S_IMAGE).start();
    kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(kubeconfig, k3s.getKubeConfig());
    // Pods reach this host through the k3s node's default gateway.
    gateway = (await k3s.exec(['sh', '-c', "ip route | awk '/default/ {print $3; exit}'"])).output.trim();
    dds = await startDdsSimulator({ host: '0.0.0.0' });
    dds.state.baseUrl = `http://${gateway}:${new URL(dds.url).port}`; // activation links pods can follow
    privicore = await startPrivicoreSimulator();
    privicore.addProfile('demo', 'demo-password');
    privicoreProxy = await forward(Number(new URL(privicore.url).port)); // it listens on 127.0.0.1 only

    // side-load the image into k3s's containerd (no registry)
    const tar = join(dir, 'image.tar');
    await pipeline(await found.client!.container.dockerode.getImage(IMAGE).get(), createWriteStream(tar));
    await k3s.copyFilesToContainer([{ source: tar, target: '/tmp/image.tar' }]);
    const imported = await k3s.exec(['ctr', '-n', 'k8s.io', 'images', 'import', '/tmp/image.tar']);
    expect(imported.exitCode, imported.output).toBe(0);
  });

  afterAll(async () => {
    await k3s?.stop();
    await dds?.close();
    await privicore?.close();
    privicoreProxy?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('installs the chart and the operator pod becomes Ready', () => {
    helm(
      'install', 'token-operator', join(ROOT, 'charts', 'token-operator'),
      '--namespace', 'token-operator', '--create-namespace',
      '--set', 'image.repository=docker.io/library/token-operator', '--set', 'image.tag=e2e', '--set', 'image.pullPolicy=Never',
      '--set', 'allowInsecureHttp=true',
      '--wait', '--timeout', '5m',
    );
    expect(kubectl(['-n', 'token-operator', 'get', 'deploy', 'token-operator', '-o', 'jsonpath={.status.readyReplicas}'])).toBe('1');
  });

  it('reconciles the samples to Ready against the simulators on the host', async () => {
    const rewrite = (file: string) =>
      readFileSync(join(ROOT, 'deploy', 'samples', file), 'utf8')
        .replaceAll('http://127.0.0.1:18081', `http://${gateway}:${new URL(dds.url).port}`)
        .replaceAll('http://127.0.0.1:18084', `http://${gateway}:${(privicoreProxy.address() as AddressInfo).port}`);
    kubectl(['apply', '-f', '-'], rewrite('00-namespace.yaml'));
    kubectl(['apply', '-f', '-'], rewrite('deltasharetoken.yaml'));
    kubectl(['apply', '-f', '-'], rewrite('datatoken.yaml'));
    for (const r of ['deltasharetoken/zalando-dds', 'datatoken/report-key']) {
      kubectl(['-n', 'token-demo', 'wait', '--for=condition=Ready', '--timeout=180s', r]);
    }
    const secret = JSON.parse(kubectl(['-n', 'token-demo', 'get', 'secret', 'zalando-dds-share', '-o', 'json'])) as { data: Record<string, string> };
    expect(Object.keys(secret.data).sort()).toEqual(['bearerToken', 'config.share', 'endpoint', 'expirationTime']);
  });
});
