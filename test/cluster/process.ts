import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A long-running component of the test cluster (controller-manager, kubelet, containerd, …):
 * started with its output in `<dir>/<name>.log` and its pid in `<dir>/<name>.pid`, so any
 * process (a test's teardown, `npm run cluster:down`) can stop it later by pid.
 */
export interface Component {
  name: string;
  pid: number;
  logPath: string;
  /** true once the process has exited (only known to the process that started it) */
  exited(): boolean;
  stop(graceMs?: number): Promise<void>;
}

export interface ComponentOptions {
  name: string;
  binary: string;
  args: string[];
  dir: string;
  env?: NodeJS.ProcessEnv;
  /** detach so the process outlives this one (cluster:up) */
  detached?: boolean;
}

export function startComponent(o: ComponentOptions): Component {
  mkdirSync(o.dir, { recursive: true });
  const logPath = join(o.dir, `${o.name}.log`);
  const log = openSync(logPath, 'a');
  // always its own process group: stopping it never signals the test runner, and a component
  // that forks (containerd's shims are not children we stop this way) keeps them apart
  const child = spawn(o.binary, o.args, { detached: true, stdio: ['ignore', log, log], env: o.env ?? process.env });
  if (o.detached) child.unref();
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${o.name}: could not start ${o.binary}`);
  writeFileSync(pidFile(o.dir, o.name), String(pid));
  let exited = false;
  child.once('exit', () => (exited = true));
  return {
    name: o.name,
    pid,
    logPath,
    exited: () => exited,
    stop: (graceMs) => stopComponent(o.dir, o.name, graceMs),
  };
}

const pidFile = (dir: string, name: string) => join(dir, `${name}.pid`);

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // a zombie (exited, not yet reaped by a parent that is still alive) counts as gone
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

/**
 * Stops a component by the pid in its pid file: SIGTERM, then SIGKILL after `graceMs`
 * (an API server with open watches once took a minute to stop on SIGTERM), and waits
 * until the process is really gone, so a successor can bind the same ports and files.
 */
export async function stopComponent(dir: string, name: string, graceMs = 10_000): Promise<void> {
  const file = pidFile(dir, name);
  if (!existsSync(file)) return;
  const pid = Number(readFileSync(file, 'utf8'));
  // a pid file left by a run that died may name a pid the system has since given to another
  // process: only one whose command line names this component's directory is ours to signal
  if (!alive(pid) || commandLine(pid).includes(dir)) await stopPid(pid, graceMs);
  rmSync(file, { force: true });
}

/** the process's command line, arguments joined by spaces ('' when unreadable) */
function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return '';
  }
}

export async function stopPid(pid: number, graceMs = 10_000): Promise<void> {
  if (!Number.isInteger(pid) || pid <= 1 || !alive(pid)) return;
  signal(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (alive(pid) && Date.now() < deadline) await sleep(100);
  if (alive(pid)) signal(pid, 'SIGKILL');
  for (let i = 0; i < 100 && alive(pid); i++) await sleep(100);
  if (alive(pid)) throw new Error(`process ${pid} did not exit after SIGKILL`);
}

/** the pid of a running component, from its pid file */
export function componentPid(dir: string, name: string): number | undefined {
  const file = pidFile(dir, name);
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8'));
  return alive(pid) ? pid : undefined;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `ok` until it holds; on timeout names what it waited for and the log to read. */
export async function waitUntil(what: string, ok: () => boolean | Promise<boolean>, timeoutMs: number, log?: string, intervalMs = 250): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await ok()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}${log ? `; see ${log}` : ''}`);
    await sleep(intervalMs);
  }
}
