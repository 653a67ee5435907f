#!/usr/bin/env bash
# The README's "run it" command: set-up (Node 24, npm packages, control plane build), then the
# local control plane + provider simulators + operator with one sample of each kind.
#   npm run dev [-- --in-cluster | --prometheus]     npm run dev:down
set -euo pipefail
cd "$(dirname "$0")/.."
SKIP_KEYCLOAK=1 bash scripts/setup.sh
source scripts/env.sh
# `npm run dev -- --in-cluster`: a real one-node cluster, the operator as pods from its chart (quickstart.ts)
if [[ " ${*:2} " == *" --in-cluster "* ]]; then bash scripts/node-packages.sh; fi
tsx scripts/quickstart.ts "${1:-up}" "${@:2}"
# `npm run dev -- --prometheus`: also a local Prometheus with the chart's alert rules (dev-prometheus.ts)
if [ "${1:-up}" = down ] || [[ " ${*:2} " == *" --prometheus "* ]]; then tsx scripts/dev-prometheus.ts "${1:-up}"; fi
