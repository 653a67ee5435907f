#!/usr/bin/env bash
# The Debian packages the image builds and the container tests need: podman (with buildah's
# build engine), runc, debootstrap for the stand-in base image, uidmap, and slirp4netns, the
# containers' network (test/support/containers.ts says why not podman's bridge).
# Installs what is missing when run as root; otherwise says what to install and fails.
set -euo pipefail
missing=()
have() { command -v "$1" >/dev/null 2>&1; }
have podman || missing+=(podman buildah)
have runc || missing+=(runc)
have debootstrap || missing+=(debootstrap)
have newuidmap || missing+=(uidmap)
have slirp4netns || missing+=(slirp4netns)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "podman-packages.sh: needs apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "podman-packages.sh: installing ${missing[*]}" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
