import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CNI_NETWORK, POD_BRIDGE } from './host.js';
import { PAUSE_IMAGE } from './images.js';
import { startComponent, waitUntil, type Component } from './process.js';

/**
 * containerd (Debian's package, 1.6) for the test node, without systemd: its own root, state,
 * socket and runc root under the node's directory, and the CRI plugin set for a machine where
 * nothing can be pulled.
 */
export const POD_CIDR = '10.244.0.0/24';
/** the cluster's whole pod range (kube-proxy's clusterCIDR); this single node uses POD_CIDR of it */
export const CLUSTER_CIDR = '10.244.0.0/16';
const CNI_BIN = '/usr/lib/cni';

export interface Containerd extends Component {
  socket: string;
  endpoint: string;
  ctr(args: string[]): string;
}

export function containerdConfig(dir: string): string {
  const q = JSON.stringify;
  return `version = 2
root = ${q(join(dir, 'root'))}
state = ${q(join(dir, 'state'))}
# not the packaged /etc/containerd/config.toml defaults: nothing outside this directory
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = ${q(join(dir, 'containerd.sock'))}

[ttrpc]
  address = ${q(join(dir, 'containerd.sock.ttrpc'))}

[plugins."io.containerd.internal.v1.opt"]
  path = ${q(join(dir, 'opt'))}

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = ${q(PAUSE_IMAGE)}
  # The VM's capability bounding set lacks CAP_SYS_RESOURCE: runc cannot lower a process's
  # oom_score_adj ("can't get final child's PID from pipe: EOF" for every sandbox) unless the
  # CRI keeps adjustments at or above containerd's own. Guaranteed pods get 0 instead of -997.
  restrict_oom_score_adj = true
  enable_selinux = false
  # pods' network namespaces under our state directory, not /run/netns (podman's are there)
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = ${q(join(dir, 'runc'))}
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = ${q(CNI_BIN)}
    conf_dir = ${q(join(dir, 'net.d'))}
`;
}

/**
 * The pods' network: Debian's bridge + host-local IPAM (addresses kept under our directory)
 * + portmap. No masquerading: pods only talk to this machine (the API server and the test's
 * simulators on the node's IP), never beyond it.
 */
export function cniConfig(dir: string): string {
  return JSON.stringify(
    {
      cniVersion: '0.4.0',
      name: CNI_NETWORK,
      plugins: [
        {
          type: 'bridge',
          bridge: POD_BRIDGE,
          isGateway: true,
          ipMasq: false,
          hairpinMode: true,
          ipam: { type: 'host-local', ranges: [[{ subnet: POD_CIDR }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: join(dir, 'ipam') },
        },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    },
    null,
    2,
  );
}

export async function startContainerd(dir: string, o: { detached?: boolean } = {}): Promise<Containerd> {
  for (const bin of ['containerd', 'ctr', 'runc', join(CNI_BIN, 'bridge'), join(CNI_BIN, 'host-local'), join(CNI_BIN, 'portmap')]) {
    if (!bin.startsWith('/') ? !commandExists(bin) : !existsSync(bin)) throw new Error(`the test node needs ${bin} (apt-get install containerd runc containernetworking-plugins)`);
  }
  mkdirSync(join(dir, 'net.d'), { recursive: true });
  writeFileSync(join(dir, 'config.toml'), containerdConfig(dir));
  writeFileSync(join(dir, 'net.d', '10-token-operator.conflist'), cniConfig(dir));
  const socket = join(dir, 'containerd.sock');
  const c = startComponent({ name: 'containerd', binary: 'containerd', args: ['--config', join(dir, 'config.toml')], dir, detached: o.detached });
  const ctr = (args: string[]) => execFileSync('ctr', ['--address', socket, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  await waitUntil('containerd', () => {
    if (c.exited()) throw new Error(`containerd exited during start-up; see ${c.logPath}`);
    if (!existsSync(socket)) return false;
    try {
      ctr(['version']);
      return true;
    } catch {
      return false;
    }
  }, 30_000, c.logPath, 100);
  return { ...c, socket, endpoint: `unix://${socket}`, ctr };
}

function commandExists(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
