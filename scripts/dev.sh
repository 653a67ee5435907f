#!/usr/bin/env bash
# The README's "run it" command: set-up (Node 24, npm packages, control plane build), then the
# local control plane + provider simulators + operator with one sample of each kind.
#   npm run dev [-- --in-cluster]     npm run dev:down
set -euo pipefail
cd "$(dirname "$0")/.."
SKIP_KEYCLOAK=1 bash scripts/setup.sh
source scripts/env.sh
if [[ " $* " == *" --in-cluster "* ]]; then bash scripts/node-packages.sh; fi
exec tsx scripts/quickstart.ts "${@:-up}"
