#!/usr/bin/env bash
# Builds the test control plane (embedded etcd + real kube-apiserver) into .cache/bin,
# keyed by the hash of its Go sources so a warm machine skips the build entirely.
# Go's own build cache (GOCACHE) makes a rebuild after a source change take about a minute.
set -euo pipefail
source "$(dirname "$0")/env.sh"
src="$TOKEN_OPERATOR_ROOT/test/cluster/apiserver"
hash=$(cat "$src/go.mod" "$src/go.sum" "$src/main.go" | sha256sum | cut -c1-16)
bin="$TOKEN_OPERATOR_ROOT/.cache/bin/apiserver-$hash"
mkdir -p "$TOKEN_OPERATOR_ROOT/.cache/bin"
if [ ! -x "$bin" ]; then
  echo "building kube-apiserver test control plane ($hash); a cold build takes several minutes" >&2
  start=$(date +%s)
  (cd "$src" && GOFLAGS=-mod=mod go build -trimpath -ldflags='-s -w' -o "$bin.tmp" .)
  mv "$bin.tmp" "$bin"
  echo "built in $(( $(date +%s) - start ))s" >&2
fi
ln -sfn "$(basename "$bin")" "$TOKEN_OPERATOR_ROOT/.cache/bin/apiserver"
