#!/usr/bin/env bash
# Builds the test control plane (embedded etcd + real kube-apiserver) into .cache/bin/apiserver;
# see scripts/build-kube.sh, which also builds the node's components.
set -euo pipefail
exec bash "$(dirname "$0")/build-kube.sh" apiserver
