#!/usr/bin/env bash
# Installs prometheus and promtool from Debian's `prometheus` package into .cache/ (unpacked
# with dpkg-deb, not installed: no system service is started, nothing outside .cache/ changes).
# The alert rule tests (promtool test rules), the Prometheus-in-the-loop integration test and
# `npm run dev -- --prometheus` use them. Idempotent and quiet once installed.
#
#   scripts/prometheus.sh install   unpack into .cache/prometheus-<version>/, link into .cache/bin/
#   scripts/prometheus.sh check     print why it cannot be installed (exit 1), or nothing
#
# Environment: PROMETHEUS_DEB_VERSION (default: whatever apt offers; Debian 12 has 2.42.0).
set -euo pipefail
source "$(dirname "$0")/env.sh"

BIN="$TOKEN_OPERATOR_ROOT/.cache/bin"

installed() { [ -x "$BIN/promtool" ] && [ -x "$BIN/prometheus" ] && "$BIN/promtool" --version >/dev/null 2>&1; }

cmd_check() {
  installed && return 0
  command -v apt-get >/dev/null || { echo "apt-get not found: prometheus comes from Debian's prometheus package"; return 1; }
  command -v dpkg-deb >/dev/null || { echo "dpkg-deb not found"; return 1; }
}

# `apt-get download` needs the package lists; on a fresh machine they are empty until `apt-get update`.
download() {
  local spec="prometheus${PROMETHEUS_DEB_VERSION:+=$PROMETHEUS_DEB_VERSION}"
  if ! apt-get download -qq "$spec" >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
      apt-get update -qq >/dev/null
    else
      echo "prometheus: 'apt-get download' failed and only root can run 'apt-get update'" >&2
      return 1
    fi
    apt-get download -qq "$spec" >/dev/null 2>&1 || { apt-get download "$spec" >&2; return 1; }
  fi
}

cmd_install() {
  installed && return 0
  cmd_check >&2 || return 1
  local started=$SECONDS tmp
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' RETURN
  # apt-get download writes into the current directory; as root it warns that _apt cannot read it
  chmod 755 "$tmp"
  (cd "$tmp" && download)
  local deb version dest
  deb=$(ls "$tmp"/prometheus_*.deb)
  version=$(dpkg-deb -f "$deb" Version)
  dest="$TOKEN_OPERATOR_ROOT/.cache/prometheus-${version//[^A-Za-z0-9.+-]/_}"
  dpkg-deb -x "$deb" "$tmp/x"
  mkdir -p "$dest" "$BIN"
  install -m 0755 "$tmp/x/usr/bin/prometheus" "$tmp/x/usr/bin/promtool" "$dest/"
  ln -sf "$dest/prometheus" "$BIN/prometheus"
  ln -sf "$dest/promtool" "$BIN/promtool"
  echo "prometheus $version (Debian package) unpacked in $((SECONDS - started))s: $dest"
}

case "${1:-}" in
  install) cmd_install ;;
  check) cmd_check ;;
  *)
    echo "usage: $0 install|check" >&2
    exit 2
    ;;
esac
