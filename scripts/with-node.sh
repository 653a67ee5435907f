#!/usr/bin/env bash
# Runs a command with the project's Node 24 (from .cache/, installed on first use) first on PATH:
# `npm run` itself may be started by an older system Node.
set -euo pipefail
source "$(dirname "$0")/env.sh"
[ -x "$NODE_HOME/bin/node" ] || bash "$(dirname "$0")/install-node.sh" >/dev/null
exec "$@"
