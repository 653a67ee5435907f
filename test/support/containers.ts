/**
 * testcontainers without a Docker engine: podman's Docker-compatible API, started by the test
 * run on a socket of its own, with images built locally by scripts/image.sh (nothing is pulled).
 *
 * - `containersUnavailable()` at collection time: a one-line skip reason, or undefined; with
 *   REQUIRE_CONTAINER_TESTS=1 an unavailable runtime throws instead, so CI cannot skip silently.
 * - `startPodman()` in beforeAll: `podman system service` on .cache/containers/podman.sock and the
 *   environment testcontainers needs (below). Its `stop()` removes every container this run's
 *   testcontainers session made, checks none is left, and stops the service.
 * - `buildImage()`: scripts/image.sh build | simulators | keycloak (cached layers: seconds when warm).
 *
 * What this machine needs (measured with testcontainers 12 and Debian's podman 4.3):
 * - a containers.conf with low ulimits (without them every container fails "error setting rlimit
 *   type 7 (NOFILE)") and runc, passed to the service as CONTAINERS_CONF;
 * - slirp4netns as the network (`projectContainer()` sets it: the Docker API's default, podman's
 *   CNI bridge, would leave a bridge link, iptables chains and ip_forward=1 behind; the API
 *   ignores containers.conf's netns): port mappings with nothing left on the host afterwards;
 * - TESTCONTAINERS_RYUK_DISABLED (the reaper image cannot be pulled; `stop()` cleans up by the
 *   session label instead) and TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1 (the VM has /.dockerenv,
 *   so testcontainers would otherwise guess a bridge gateway as the containers' host);
 * - `PullPolicy.neverPull()` on every container; an explicit wait strategy that runs nothing in
 *   the container (HTTP or a log line: no `Wait.forHealthCheck()`, which testcontainers picks
 *   for an image with a HEALTHCHECK and which needs systemd here, and no `exec`, whose conmon
 *   lingers five minutes after the container is gone); never a negative oom_score_adj.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chownSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { GenericContainer, getContainerRuntimeClient, getReaper, LABEL_TESTCONTAINERS_SESSION_ID, PullPolicy } from 'testcontainers';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..', '..');
const DIR = join(ROOT, '.cache', 'containers');
const SOCKET = join(DIR, 'podman.sock');
const CONF = join(DIR, 'containers.conf');

// Tags of this checkout's own (rootful podman's images are the machine's: another checkout's
// build of the same tag must not replace an image under running containers); layers are shared.
const checkout = createHash('sha256').update(ROOT).digest('hex').slice(0, 8);
export const IMAGES = {
  operator: process.env.CONTAINER_TEST_IMAGE ?? `localhost/token-operator:test-${checkout}`,
  simulators: process.env.SIMULATORS_IMAGE ?? `localhost/token-operator-simulators:test-${checkout}`,
  keycloak: process.env.KEYCLOAK_IMAGE ?? `localhost/token-operator-keycloak:${process.env.KEYCLOAK_VERSION ?? '26.5.6'}-test-${checkout}`,
} as const;

async function missing(command: string): Promise<boolean> {
  try {
    await run('sh', ['-c', `command -v ${command}`]);
    return false;
  } catch {
    return true;
  }
}

let availability: Promise<string | undefined> | undefined;

export async function containersUnavailable(): Promise<string | undefined> {
  availability ??= (async () => {
    const absent: string[] = [];
    for (const c of ['podman', 'runc', 'slirp4netns', 'debootstrap']) if (await missing(c)) absent.push(c);
    if (absent.length) return `${absent.join(', ')} not installed (apt-get install podman runc slirp4netns debootstrap uidmap)`;
    if (process.getuid?.() !== 0) return 'the container tests use rootful podman: run them as root';
    return undefined;
  })();
  const reason = await availability;
  if (reason && process.env.REQUIRE_CONTAINER_TESTS === '1') {
    throw new Error(`container tests are required (REQUIRE_CONTAINER_TESTS=1) but cannot run: ${reason}`);
  }
  return reason;
}

export interface Podman {
  /** removes this session's containers (and checks none is left), then stops the service */
  stop(): Promise<void>;
}

const ENV_KEYS = ['DOCKER_HOST', 'TESTCONTAINERS_RYUK_DISABLED', 'TESTCONTAINERS_HOST_OVERRIDE'];
const podmanEnv = () => ({ ...process.env, CONTAINERS_CONF: CONF });

async function listContainers(label: string): Promise<string[]> {
  const { stdout } = await run('podman', ['ps', '-a', '--filter', `label=${label}`, '--format', '{{.ID}}'], { env: podmanEnv() });
  return stdout.split('\n').filter(Boolean);
}

export async function startPodman(): Promise<Podman> {
  mkdirSync(DIR, { recursive: true });
  writeFileSync(
    CONF,
    [
      '[containers]',
      'default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]',
      '[engine]',
      'runtime = "runc"',
      '',
    ].join('\n'),
  );
  rmSync(SOCKET, { force: true });
  const service: ChildProcess = spawn('podman', ['system', 'service', '--time=0', `unix://${SOCKET}`], {
    env: podmanEnv(),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  service.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => service.once('exit', () => resolve()));
  const deadline = Date.now() + 30_000;
  while (!existsSync(SOCKET)) {
    if (service.exitCode !== null) throw new Error(`podman system service exited: ${stderr.trim().split('\n').pop()}`);
    if (Date.now() > deadline) throw new Error('podman system service did not create its socket in 30 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  const saved = Object.fromEntries(ENV_KEYS.map((k) => [k, process.env[k]]));
  Object.assign(process.env, {
    DOCKER_HOST: `unix://${SOCKET}`,
    TESTCONTAINERS_RYUK_DISABLED: 'true',
    TESTCONTAINERS_HOST_OVERRIDE: '127.0.0.1',
  });
  const stopService = async () => {
    service.kill('SIGTERM');
    const killer = setTimeout(() => service.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(killer);
    rmSync(SOCKET, { force: true });
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
  let label: string;
  try {
    const client = await getContainerRuntimeClient();
    label = `${LABEL_TESTCONTAINERS_SESSION_ID}=${(await getReaper(client)).sessionId}`;
  } catch (e) {
    await stopService();
    throw e;
  }
  return {
    stop: async () => {
      try {
        const left = await listContainers(label);
        if (left.length) await run('podman', ['rm', '-f', '-t', '5', ...left], { env: podmanEnv() });
        const still = await listContainers(label);
        if (still.length) throw new Error(`containers left after teardown: ${still.join(', ')}`);
      } finally {
        await stopService();
      }
    },
  };
}

/** Builds one of the project's images offline (scripts/image.sh), returns its tag. */
export async function buildImage(which: keyof typeof IMAGES): Promise<string> {
  const mode = which === 'operator' ? 'build' : which;
  const env = { ...process.env, IMAGE: IMAGES.operator, SIMULATORS_IMAGE: IMAGES.simulators, KEYCLOAK_IMAGE: IMAGES.keycloak };
  const started = Date.now();
  try {
    await run('bash', [join(ROOT, 'scripts', 'image.sh'), mode], { env, timeout: 900_000, maxBuffer: 16 * 1024 * 1024 });
  } catch (e) {
    const out = e as { stderr?: string; message?: string };
    throw new Error(`scripts/image.sh ${mode} failed: ${(out.stderr ?? out.message ?? '').trim().split('\n').slice(-5).join(' | ')}`);
  }
  console.log(`[containers] ${IMAGES[which]} built in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  return IMAGES[which];
}

/** A container of a locally built image, never pulled, on slirp4netns (see above). */
export function projectContainer(image: string): GenericContainer {
  return new GenericContainer(image).withPullPolicy(PullPolicy.neverPull()).withNetworkMode('slirp4netns');
}

/** The host PID of a running container's first process: its /proc shows what the kernel enforces. */
export async function containerPid(id: string): Promise<number> {
  const { stdout } = await run('podman', ['inspect', '--format', '{{.State.Pid}}', id], { env: podmanEnv() });
  return Number(stdout.trim());
}

/** Where the Keycloak container keeps its class-data-sharing archive between runs (writable by its uid 1000). */
export function keycloakCdsDir(): string {
  const dir = join(DIR, 'keycloak-cds');
  mkdirSync(dir, { recursive: true });
  chownSync(dir, 1000, 1000);
  return dir;
}
