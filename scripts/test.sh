#!/usr/bin/env bash
# The README's test command: every test (unit, integration against the real API server,
# Keycloak and the provider simulators, and end to end on a real one-node cluster where the
# machine allows one), after checking generated files are fresh.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
npm run --silent typecheck
npm run --silent generate >/dev/null
if ! git diff --exit-code --stat -- crds charts deploy; then
  echo "generated files are stale: run 'npm run generate' and commit the result" >&2
  exit 1
fi
# setup.sh installed prometheus/promtool: the alert rule and Prometheus tests must run, not skip
export REQUIRE_PROMETHEUS_TESTS="${REQUIRE_PROMETHEUS_TESTS:-1}"
npx vitest run --project unit
REQUIRE_KEYCLOAK_TESTS="${REQUIRE_KEYCLOAK_TESTS:-1}" npx vitest run --project integration
# A real node needs root and a few Debian packages (installed here when root); elsewhere every
# e2e test skips with a one-line reason, and REQUIRE_NODE_TESTS=1 makes that a failure.
REQUIRE_KEYCLOAK_TESTS="${REQUIRE_KEYCLOAK_TESTS:-1}" npx vitest run --config vitest.e2e.config.ts
