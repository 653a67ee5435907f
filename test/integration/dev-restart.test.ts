/**
 * The README's `npm run dev`, run as a new user would, again and again (issue 19): every run must
 * end with each sample Ready AND its credential accepted by the simulator that issued it,
 * checked by presenting it (scripts/dev-check.ts), never assumed from Ready.
 *
 * - twice in a row: the second run keeps the running simulators (their state is in memory only),
 *   so the cluster's credentials stay good;
 * - `dev:down` then `dev`: the cluster's data is discarded with the simulators' (and it says so);
 * - the simulators alone restarted empty under a cluster that kept its data (what a crash or a
 *   reboot of one of them does): Ready=True would be a lie until the samples' one-minute liveness
 *   check finds the dead credentials (CredentialRevoked) and replaces them; `npm run dev` waits
 *   for that.
 *
 * It runs in a scratch copy of this checkout (node_modules and the built binaries linked, not
 * copied) on free ports, so a developer's own `npm run dev` here, or another one on the machine,
 * is never touched.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkAll, type CredentialCheck, type TokenObject } from '../../scripts/dev-check.js';
import { freePort } from '../cluster/control-plane.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
let copy = '';
let env: NodeJS.ProcessEnv = {};

/** `npm run dev` (or dev:down) in the copy: its exit code and output */
function dev(cmd: 'up' | 'down', timeoutMs = 600_000): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['scripts/dev.sh', cmd], { cwd: copy, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

const kubectl = (...args: string[]) => execFileSync('kubectl', args, { env: { ...env, KUBECONFIG: join(copy, '.cache', 'kubeconfig') }, encoding: 'utf8' });

/** the test's own look: every sample's credential presented to its simulator */
async function checks(): Promise<CredentialCheck[]> {
  const readSecret = (ns: string, name: string) => {
    const s = JSON.parse(kubectl('get', 'secret', '-n', ns, name, '-o', 'json')) as { data?: Record<string, string> };
    return Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
  };
  const items = (JSON.parse(kubectl('get', 'deltasharetokens,accesstokens,datatokens', '-A', '-o', 'json')) as { items: TokenObject[] }).items;
  return checkAll(items, readSecret);
}

/** every token resource in deploy/samples (the plain ones and the templated ones), as Kind/namespace/name */
const SAMPLE_TOKENS = [
  'AccessToken/token-demo/ilp-outgoing',
  'DataToken/token-demo/report-key',
  'DataToken/token-demo/report-key-env',
  'DeltaShareToken/token-demo/zalando-dds',
  'DeltaShareToken/token-demo/zalando-dds-files',
];

function expectAllAccepted(cs: CredentialCheck[]): void {
  expect(cs.map((c) => c.resource).sort()).toEqual(SAMPLE_TOKENS);
  for (const c of cs) expect({ resource: c.resource, ready: c.ready, accepted: c.accepted, detail: c.detail }).toMatchObject({ ready: true, accepted: true });
}

const bearer = () => (JSON.parse(Buffer.from(JSON.parse(kubectl('get', 'secret', '-n', 'token-demo', 'zalando-dds-share', '-o', 'json')).data['config.share'], 'base64').toString()) as { bearerToken: string }).bearerToken;

beforeAll(async () => {
  // The copy shares this checkout's node_modules (a link): its set-up must never reinstall them
  // (npm ci would empty the shared directory). They must be current, and the copy's lock file is
  // dated before their install.
  const installed = join(ROOT, 'node_modules', '.package-lock.json');
  if (!existsSync(installed) || statSync(join(ROOT, 'package-lock.json')).mtimeMs > statSync(installed).mtimeMs) {
    throw new Error('node_modules is older than package-lock.json: run npm ci first (the npm run dev copy shares node_modules)');
  }
  copy = mkdtempSync(join(tmpdir(), 'token-operator-dev-'));
  // the checkout as it is (tracked files and new ones, with their times, so npm sees no newer lock file)
  execFileSync('bash', ['-c', `git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do case "$f" in node_modules|node_modules/*|.cache|.cache/*) continue;; esac; [ -e "$f" ] && printf '%s\\0' "$f"; done | tar --null -T - -cf - | tar -xf - -C "${copy}"`], { cwd: ROOT });
  symlinkSync(join(ROOT, 'node_modules'), join(copy, 'node_modules'));
  const before = new Date(statSync(installed).mtimeMs - 1000);
  utimesSync(join(copy, 'package-lock.json'), before, before);
  mkdirSync(join(copy, '.cache'));
  for (const entry of readdirSync(join(ROOT, '.cache'))) {
    if (entry === 'bin' || entry.startsWith('node-v') || entry.startsWith('prometheus-')) symlinkSync(join(ROOT, '.cache', entry), join(copy, '.cache', entry));
  }
  const [cluster, dds, gnap, privicore, health] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
  env = { ...process.env, CLUSTER_PORT: String(cluster), DDS_SIM_PORT: String(dds), GNAP_SIM_PORT: String(gnap), PRIVICORE_SIM_PORT: String(privicore), DEV_HEALTH_PORT: String(health) };
  delete env.KUBECONFIG;
}, 120_000);

afterAll(async () => {
  if (copy) {
    await dev('down', 120_000);
    rmSync(copy, { recursive: true, force: true });
  }
});

describe('npm run dev, again and again', () => {
  it('twice in a row: the second run keeps the simulators, every credential is accepted', async () => {
    const first = await dev('up');
    expect(first.code, first.out.slice(-3000)).toBe(0);
    expectAllAccepted(await checks());
    const token = bearer();

    const second = await dev('up');
    expect(second.code, second.out.slice(-3000)).toBe(0);
    expect(second.out).toContain('simulators already running: kept');
    expect(second.out).toContain("every sample's credential presented to its simulator");
    expectAllAccepted(await checks());
    expect(bearer()).toBe(token); // nothing needed replacing
  }, 900_000);

  it('dev:down discards the cluster with the simulators (and says so); the next run starts from scratch', async () => {
    const down = await dev('down');
    expect(down.code, down.out.slice(-3000)).toBe(0);
    expect(down.out).toContain('is discarded with the simulators');
    expect(existsSync(join(copy, '.cache', 'cluster'))).toBe(false);

    const up = await dev('up');
    expect(up.code, up.out.slice(-3000)).toBe(0);
    expectAllAccepted(await checks());
  }, 900_000);

  it('simulators restarted empty under a cluster that kept its data: the liveness checks replace every dead credential', async () => {
    const before = bearer();
    const pid = Number(readFileSync(join(copy, '.cache', 'quickstart', 'simulators.pid'), 'utf8'));
    process.kill(-pid, 'SIGTERM');
    await new Promise((r) => setTimeout(r, 1000));

    const up = await dev('up');
    expect(up.code, up.out.slice(-3000)).toBe(0);
    expect(up.out).not.toContain('simulators already running');
    expectAllAccepted(await checks());
    expect(bearer()).not.toBe(before);
    const events = JSON.parse(kubectl('get', 'events', '-n', 'token-demo', '-o', 'json')) as { items: Array<{ reason: string; involvedObject: { name: string } }> };
    const revoked = new Set(events.items.filter((e) => e.reason === 'CredentialRevoked').map((e) => e.involvedObject.name));
    expect([...revoked].sort()).toEqual(SAMPLE_TOKENS.map((t) => t.split('/')[2]).sort());
  }, 900_000);
});
