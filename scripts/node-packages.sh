#!/usr/bin/env bash
# The Debian packages the test node needs (test/cluster/node.ts): containerd, runc and the CNI
# plugins run the pods, iptables and conntrack serve kube-proxy, gcc builds the pause image.
# Installs what is missing when run as root; otherwise says what to install and fails.
# (scripts/image.sh installs podman for the operator's image.)
set -euo pipefail
missing=()
have() { command -v "$1" >/dev/null 2>&1; }
have containerd || missing+=(containerd)
have runc || missing+=(runc)
[ -x /usr/lib/cni/bridge ] && [ -x /usr/lib/cni/host-local ] && [ -x /usr/lib/cni/portmap ] || missing+=(containernetworking-plugins)
have iptables || missing+=(iptables)
have conntrack || missing+=(conntrack)
have ip || missing+=(iproute2)
have gcc || missing+=(gcc)
[ -f /usr/lib/x86_64-linux-gnu/libc.a ] || [ -n "$(ls /usr/lib/*/libc.a 2>/dev/null)" ] || missing+=(libc6-dev)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "the test node needs: apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "node-packages.sh: installing ${missing[*]}" >&2
apt-get update -qq
# --reinstall: a package can be registered as installed with its files gone (seen: the CNI plugins)
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends --reinstall "${missing[@]}" >/dev/null
