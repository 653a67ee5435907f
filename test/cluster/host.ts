import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * What a test node changes on the machine, and how to put it back. The kubelet, containerd,
 * the CNI plugins and kube-proxy touch host state outside their own directories: sysctls,
 * network links and namespaces, iptables chains, mounts, cgroups and a few fixed paths. A
 * snapshot taken before the node starts is what the teardown restores and what
 * hostLeftovers() compares against, so a test can assert the machine is as it was.
 */

/** The node's network: a bridge carrying the node's IP, and the CNI bridge the pods plug into. */
export const NODE_BRIDGE = 'tokop-node';
export const POD_BRIDGE = 'tokop-pods';
/** the CNI network name; the bridge plugin writes it into the comments of its iptables rules */
export const CNI_NETWORK = 'token-operator-node';

/**
 * Sysctls the parts change: the kubelet sets the first six (container_manager_linux.go, "kernel
 * tunables"), the bridge plugin sets ip_forward, kube-proxy may set route_localnet and conntrack
 * limits (its config asks it not to).
 */
export const SYSCTLS = [
  'kernel.panic',
  'kernel.panic_on_oops',
  'vm.overcommit_memory',
  'vm.panic_on_oom',
  'kernel.keys.root_maxkeys',
  'kernel.keys.root_maxbytes',
  'net.ipv4.ip_forward',
  'net.ipv4.conf.all.route_localnet',
  'net.bridge.bridge-nf-call-iptables',
  'net.bridge.bridge-nf-call-ip6tables',
  'net.netfilter.nf_conntrack_max',
  'net.netfilter.nf_conntrack_tcp_timeout_established',
  'net.netfilter.nf_conntrack_tcp_timeout_close_wait',
];

/**
 * Paths the kubelet and containerd 1.6 use whatever their flags say (device plugins, container
 * log links, shim sockets, containerd's opt plugin): why only one node can run on a machine at
 * a time. (Network namespaces go under containerd's state directory: netns_mounts_under_state_dir.)
 */
export const FIXED_PATHS = ['/var/lib/kubelet', '/var/log/containers', '/var/log/pods', '/run/containerd', '/opt/containerd'];
/**
 * libcni's result cache, shared with podman's CNI networks: only entries named after our
 * network (`<network>-<container id>-<interface>`) are ours.
 */
export const CNI_CACHE = '/var/lib/cni';
const CNI_RESULTS = join(CNI_CACHE, 'results');
const ourCniResults = () => (existsSync(CNI_RESULTS) ? readdirSync(CNI_RESULTS).filter((e) => e.startsWith(`${CNI_NETWORK}-`)) : []);

const TABLES = ['filter', 'nat', 'mangle', 'raw'];
const IPTABLES = ['iptables', 'ip6tables'];
/**
 * chains the kubelet (KUBE-FIREWALL, KUBE-KUBELET-CANARY, …) and kube-proxy add. The CNI
 * plugins add none for this node (no masquerading, no host ports); CNI-* chains on this machine
 * are podman's.
 */
const OUR_CHAIN = /^KUBE-/;

export interface HostSnapshot {
  sysctls: Record<string, string>;
  links: string[];
  /** "iptables nat KUBE-SERVICES": chains that match OUR_CHAIN before the node started */
  chains: string[];
  mounts: string[];
  /** path → entries (or null: absent) */
  paths: Record<string, string[] | null>;
  /** whether /var/lib/cni existed */
  cniCache: boolean;
}

const sysctlPath = (name: string) => join('/proc/sys', name.replaceAll('.', '/'));

function readSysctl(name: string): string | undefined {
  try {
    return readFileSync(sysctlPath(name), 'utf8').trim();
  } catch {
    return undefined;
  }
}

function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function tryRun(cmd: string, args: string[]): boolean {
  try {
    run(cmd, args);
    return true;
  } catch {
    return false;
  }
}

export function links(): string[] {
  return (JSON.parse(run('ip', ['-j', 'link', 'show'])) as Array<{ ifname: string }>).map((l) => l.ifname);
}

/**
 * ip_forward is one switch for the whole machine: when another bridge came up while the node
 * ran (podman's CNI network, for a container test running at the same time), it needs
 * forwarding too, and turning it off would cut that test's containers off. Then it stays on.
 */
function sharedSysctlInUse(name: string, before: HostSnapshot): boolean {
  if (name !== 'net.ipv4.ip_forward') return false;
  const all = JSON.parse(run('ip', ['-j', '-d', 'link', 'show'])) as Array<{ ifname: string; linkinfo?: { info_kind?: string } }>;
  return all.some((l) => l.linkinfo?.info_kind === 'bridge' && !l.ifname.startsWith('tokop-') && !before.links.includes(l.ifname));
}

/** every OUR_CHAIN chain, as "<binary> <table> <chain>" */
function chains(): string[] {
  const out: string[] = [];
  for (const bin of IPTABLES) {
    for (const table of TABLES) {
      let rules: string;
      try {
        rules = run(bin, ['-w', '-t', table, '-S']);
      } catch {
        continue; // no such table (or no IPv6 support)
      }
      for (const m of rules.matchAll(/^-N (\S+)$/gm)) if (OUR_CHAIN.test(m[1]!)) out.push(`${bin} ${table} ${m[1]}`);
    }
  }
  return out;
}

export function mounts(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' ')[4]!.replace(/\\040/g, ' '));
}

function entries(path: string): string[] | null {
  if (!existsSync(path)) return null;
  return statSync(path).isDirectory() ? readdirSync(path).sort() : [];
}

export function snapshotHost(): HostSnapshot {
  return {
    sysctls: Object.fromEntries(SYSCTLS.flatMap((s) => {
      const v = readSysctl(s);
      return v === undefined ? [] : [[s, v]];
    })),
    links: links(),
    chains: chains(),
    mounts: mounts(),
    paths: Object.fromEntries(FIXED_PATHS.map((p) => [p, entries(p)])),
    cniCache: existsSync(CNI_CACHE),
  };
}

export function saveSnapshot(file: string, s: HostSnapshot): void {
  writeFileSync(file, JSON.stringify(s, null, 2));
}

export function loadSnapshot(file: string): HostSnapshot {
  return JSON.parse(readFileSync(file, 'utf8')) as HostSnapshot;
}

/** pids of processes whose command line names `marker` (the node's directory: every part's flags do) */
export function processesNaming(marker: string): Array<{ pid: number; cmd: string }> {
  const out: Array<{ pid: number; cmd: string }> = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    let cmd: string;
    try {
      cmd = readFileSync(`/proc/${e}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
    } catch {
      continue;
    }
    if (cmd.includes(marker)) out.push({ pid: Number(e), cmd });
  }
  return out;
}

/** cgroup directories the kubelet made (cgroupfs driver: kubepods under every hierarchy) */
export function kubeCgroups(): string[] {
  const root = '/sys/fs/cgroup';
  if (!existsSync(root)) return [];
  const out: string[] = [];
  const candidates = existsSync(join(root, 'cgroup.controllers')) ? [root] : readdirSync(root).map((h) => join(root, h));
  for (const h of candidates) {
    for (const name of ['kubepods', 'kubepods.slice']) if (existsSync(join(h, name))) out.push(join(h, name));
  }
  return out;
}

/**
 * Everything the node left behind, compared with the snapshot taken before it started; empty
 * when the machine is clean. `dir` is the node's own directory (processes and mounts under it).
 */
export function hostLeftovers(before: HostSnapshot, dir: string): string[] {
  const problems: string[] = [];
  for (const p of processesNaming(dir)) problems.push(`process ${p.pid} still runs: ${p.cmd.slice(0, 160)}`);
  for (const [name, value] of Object.entries(before.sysctls)) {
    const now = readSysctl(name);
    if (now !== undefined && now !== value && !sharedSysctlInUse(name, before)) problems.push(`sysctl ${name} is ${now}, was ${value}`);
  }
  // (a pod's veth goes with its network namespace, which lives under `dir`: see the mounts)
  for (const l of links()) if (!before.links.includes(l) && l.startsWith('tokop-')) problems.push(`network link ${l} left behind`);
  for (const c of chains()) if (!before.chains.includes(c)) problems.push(`iptables chain left behind: ${c}`);
  const ours = (m: string) => m.startsWith(`${dir}/`) || m === dir || FIXED_PATHS.some((p) => m === p || m.startsWith(`${p}/`));
  for (const m of mounts()) if (ours(m) && !before.mounts.includes(m)) problems.push(`mount left behind: ${m}`);
  for (const c of kubeCgroups()) problems.push(`cgroup left behind: ${c}`);
  for (const [path, was] of Object.entries(before.paths)) {
    const now = entries(path);
    if (now === null) continue;
    if (was === null) problems.push(`${path} created and left behind`);
    else for (const e of now) if (!was.includes(e)) problems.push(`${join(path, e)} left behind`);
  }
  for (const e of ourCniResults()) problems.push(`${join(CNI_RESULTS, e)} left behind`);
  return problems;
}

// ---- putting things back (each step is safe to run when there is nothing to do) ----

export function restoreSysctls(before: HostSnapshot): void {
  for (const [name, value] of Object.entries(before.sysctls)) {
    if (readSysctl(name) !== undefined && readSysctl(name) !== value && !sharedSysctlInUse(name, before)) {
      try {
        writeFileSync(sysctlPath(name), value);
      } catch {
        /* reported by hostLeftovers */
      }
    }
  }
}

/** Unmounts every mount under the given prefixes that was not there before, deepest first. */
export function unmountNew(before: HostSnapshot, prefixes: string[]): void {
  const under = (m: string) => prefixes.some((p) => m === p || m.startsWith(`${p}/`));
  // a path may be mounted over more than once: repeat until nothing new is left
  for (let round = 0; round < 5; round++) {
    const todo = [...new Set(mounts().filter((m) => under(m) && !before.mounts.includes(m)))].sort((a, b) => b.length - a.length);
    if (todo.length === 0) return;
    for (const m of todo) if (!tryRun('umount', [m])) tryRun('umount', ['-l', m]);
  }
}

export function deleteLinks(names: string[]): void {
  const existing = links();
  for (const n of names) if (existing.includes(n)) tryRun('ip', ['link', 'delete', n]);
}

/** Removes the KUBE-* and CNI-* chains that were not there before, and every jump to them. */
export function removeChains(before: HostSnapshot): void {
  const added = chains().filter((c) => !before.chains.includes(c));
  const byTable = new Map<string, string[]>();
  for (const c of added) {
    const [bin, table, chain] = c.split(' ') as [string, string, string];
    byTable.set(`${bin} ${table}`, [...(byTable.get(`${bin} ${table}`) ?? []), chain]);
  }
  for (const [key, names] of byTable) {
    const [bin, table] = key.split(' ') as [string, string];
    const rules = run(bin, ['-w', '-t', table, '-S']).split('\n');
    // first the jumps into them from chains that stay (built-in ones: INPUT, POSTROUTING, …)
    for (const rule of rules) {
      const m = /^-A (\S+) (.*)$/.exec(rule);
      if (!m || names.includes(m[1]!)) continue;
      const target = /(?:^| )-[jg] (\S+)/.exec(m[2]!)?.[1];
      if (target && names.includes(target)) tryRun('sh', ['-c', `${bin} -w -t ${table} -D ${m[1]} ${m[2]}`]);
    }
    for (const n of names) tryRun(bin, ['-w', '-t', table, '-F', n]);
    for (const n of names) tryRun(bin, ['-w', '-t', table, '-X', n]);
  }
}

/** Removes the kubelet's cgroup trees (their processes must be gone), leaves first. */
export function removeKubeCgroups(): void {
  const rm = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) rm(join(d, e.name));
    try {
      rmdirSync(d);
    } catch {
      /* reported by hostLeftovers */
    }
  };
  for (const c of kubeCgroups()) rm(c);
}

/** Removes the fixed paths the node created, or the entries it added to ones that existed. */
export function removeFixedPaths(before: HostSnapshot): void {
  for (const [path, was] of Object.entries(before.paths)) {
    const now = entries(path);
    if (now === null) continue;
    if (was === null) rmSync(path, { recursive: true, force: true });
    else for (const e of now) if (!was.includes(e)) rmSync(join(path, e), { recursive: true, force: true });
  }
  for (const e of ourCniResults()) rmSync(join(CNI_RESULTS, e), { force: true });
  // the cache directory itself, if we made it and nobody else put anything in it since
  if (!before.cniCache && existsSync(CNI_CACHE) && readdirSync(CNI_CACHE).every((e) => e === 'results') && (!existsSync(CNI_RESULTS) || readdirSync(CNI_RESULTS).length === 0)) {
    rmSync(CNI_CACHE, { recursive: true, force: true });
  }
}
