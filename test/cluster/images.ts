import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Images for the test node. Nothing can be pulled here, so every image a pod uses is made on
 * this machine and imported into containerd (`ctr images import`), and the kubelet's image GC
 * is off (an image it removed could not come back).
 */

/** The pod sandbox image: Kubernetes' own pause.c, from the same module as the binaries. */
export const PAUSE_IMAGE = 'localhost/kubernetes/pause:3.10.1';

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/**
 * Writes a single-layer image in `docker save` format from a directory tree (what
 * `ctr images import` reads), without any container engine.
 */
export function dockerArchive(o: { rootfs: string; tag: string; entrypoint: string[]; out: string }): void {
  const work = `${o.out}.d`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  // fixed owner and time: the same tree gives the same layer digest
  execFileSync('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '-C', o.rootfs, '-cf', join(work, 'layer.tar'), '.']);
  const diffId = sha256(readFileSync(join(work, 'layer.tar')));
  const config = JSON.stringify({
    // the binary inside is this machine's (compiled here): the OCI name of its architecture
    architecture: process.arch === 'x64' ? 'amd64' : process.arch,
    os: 'linux',
    config: { Entrypoint: o.entrypoint, User: '65535:65535' },
    rootfs: { type: 'layers', diff_ids: [`sha256:${diffId}`] },
    history: [{ created_by: 'test/cluster/images.ts' }],
  });
  const configName = `${sha256(config)}.json`;
  writeFileSync(join(work, configName), config);
  writeFileSync(join(work, 'manifest.json'), JSON.stringify([{ Config: configName, RepoTags: [o.tag], Layers: ['layer.tar'] }]));
  execFileSync('tar', ['-C', work, '-cf', o.out, 'manifest.json', configName, 'layer.tar']);
  rmSync(work, { recursive: true, force: true });
}

/** The Kubernetes module's source directory (the pause source lives in it). */
function kubernetesSource(root: string): string {
  return execFileSync('go', ['list', '-m', '-f', '{{.Dir}}', 'k8s.io/kubernetes'], { cwd: join(root, 'test', 'cluster', 'apiserver'), encoding: 'utf8' }).trim();
}

/** Builds (once, cached in .cache/images) the pause image archive: `gcc -static` of pause.c, as its Makefile does. */
export function pauseArchive(root: string): string {
  const dir = join(root, '.cache', 'images');
  const out = join(dir, 'pause-3.10.1.tar');
  if (existsSync(out)) return out;
  mkdirSync(dir, { recursive: true });
  const rootfs = join(dir, 'pause-rootfs');
  mkdirSync(rootfs, { recursive: true });
  const src = join(kubernetesSource(root), 'build', 'pause', 'linux', 'pause.c');
  execFileSync('gcc', ['-Os', '-Wall', '-Werror', '-static', '-DVERSION=v3.10.1-local', '-o', join(rootfs, 'pause'), src]);
  dockerArchive({ rootfs, tag: PAUSE_IMAGE, entrypoint: ['/pause'], out: `${out}.tmp` });
  execFileSync('mv', [`${out}.tmp`, out]);
  rmSync(rootfs, { recursive: true, force: true });
  return out;
}

/**
 * `podman save` of a locally built image (scripts/image.sh builds the operator's), kept in
 * .cache/images per name and image id: a warm start only imports.
 */
export async function podmanArchive(root: string, image: string): Promise<string> {
  const dir = join(root, '.cache', 'images');
  mkdirSync(dir, { recursive: true });
  const env = podmanEnv(root);
  const { stdout } = await run('podman', ['image', 'inspect', '--format', '{{.Id}}', image], { env }).catch(() => {
    throw new Error(`no local image ${image}: build it first (IMAGE=${image} bash scripts/image.sh build)`);
  });
  const base = image.replace(/[^A-Za-z0-9_.-]+/g, '_');
  const out = join(dir, `${base}-${stdout.trim().slice(0, 12)}.tar`);
  if (existsSync(out)) return out;
  for (const old of readdirSync(dir)) if (old.startsWith(`${base}-`) && old.endsWith('.tar')) rmSync(join(dir, old), { force: true });
  await run('podman', ['save', '--format', 'docker-archive', '-o', `${out}.tmp`, image], { env });
  renameSync(`${out}.tmp`, out);
  return out;
}

const run = promisify(execFile);

/** the containers.conf scripts/image.sh writes: this VM needs runc, host networking and low ulimits */
export function podmanEnv(root: string): NodeJS.ProcessEnv {
  const conf = join(root, '.cache', 'image', 'containers.conf');
  return existsSync(conf) ? { ...process.env, CONTAINERS_CONF: conf } : process.env;
}

/** Imports image archives into containerd's `k8s.io` namespace (the CRI's), unpacked for the snapshotter. */
export async function importImages(socket: string, archives: string[]): Promise<void> {
  for (const a of archives) await run('ctr', ['--address', socket, '-n', 'k8s.io', 'images', 'import', a]);
}
