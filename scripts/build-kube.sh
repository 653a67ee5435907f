#!/usr/bin/env bash
# Builds Kubernetes components for the test cluster into .cache/bin, all from the one Go module
# in test/cluster/apiserver (so every part is the same k8s.io/kubernetes release):
#
#   bash scripts/build-kube.sh [component ...]     default: apiserver
#
# components: apiserver (our wrapper: embedded etcd + kube-apiserver), kube-controller-manager,
# kube-scheduler, kubelet, kube-proxy, and cri-reset (ours: removes every pod a CRI runtime holds).
# Each binary is keyed by the hash of the module's sources and of the flags below, so a warm
# machine skips the build entirely; Go's own build cache (GOCACHE) makes a rebuild after a
# change take seconds to a minute per binary (mostly linking).
#
# The version is stamped in (-X …/version.gitVersion, from go.mod's k8s.io/kubernetes line):
# without it every component reports v0.0.0-master and kubectl/helm version checks misread it.
set -euo pipefail
source "$(dirname "$0")/env.sh"
src="$TOKEN_OPERATOR_ROOT/test/cluster/apiserver"
out="$TOKEN_OPERATOR_ROOT/.cache/bin"
[ $# -gt 0 ] || set -- apiserver

version=$(awk '$1 == "k8s.io/kubernetes" { print $2 }' "$src/go.mod")
[[ "$version" =~ ^v([0-9]+)\.([0-9]+)\.[0-9]+$ ]] || { echo "build-kube.sh: no k8s.io/kubernetes version in go.mod" >&2; exit 1; }
pkg=k8s.io/component-base/version
ldflags="-s -w -X $pkg.gitVersion=$version -X $pkg.gitMajor=${BASH_REMATCH[1]} -X $pkg.gitMinor=${BASH_REMATCH[2]} -X $pkg.gitTreeState=clean"
hash=$( (cat "$src/go.mod" "$src/go.sum" "$src"/*.go "$src"/*/*.go; echo "$ldflags") | sha256sum | cut -c1-16)

declare -A package=(
  [apiserver]=.
  [kube-controller-manager]=k8s.io/kubernetes/cmd/kube-controller-manager
  [kube-scheduler]=k8s.io/kubernetes/cmd/kube-scheduler
  [kubelet]=k8s.io/kubernetes/cmd/kubelet
  [kube-proxy]=k8s.io/kubernetes/cmd/kube-proxy
  [cri-reset]=./cri-reset
)
mkdir -p "$out"
missing=()
for name in "$@"; do
  [ -n "${package[$name]:-}" ] || { echo "build-kube.sh: unknown component '$name' (${!package[*]})" >&2; exit 2; }
  [ -x "$out/$name-$hash" ] || missing+=("$name")
done

# One at a time: each link takes most of a minute and a lot of memory; in one `go build`
# invocation they would share compiled packages anyway through GOCACHE.
for name in "${missing[@]}"; do
  echo "building $name $version ($hash); a cold build takes several minutes" >&2
  start=$(date +%s)
  (cd "$src" && go build -trimpath -ldflags="$ldflags" -o "$out/$name-$hash.tmp" "${package[$name]}")
  mv "$out/$name-$hash.tmp" "$out/$name-$hash"
  echo "built $name in $(($(date +%s) - start))s" >&2
done
for name in "$@"; do ln -sfn "$name-$hash" "$out/$name"; done
