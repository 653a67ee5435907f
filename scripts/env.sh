# Sourced by every project script: pins Node 24 LTS from .cache/ first on PATH.
# The machine's Node 20 is end-of-life; Node 24 comes from the npm registry.
TOKEN_OPERATOR_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export TOKEN_OPERATOR_ROOT
NODE_VERSION="${NODE_VERSION:-24.21.0}"
export NODE_HOME="$TOKEN_OPERATOR_ROOT/.cache/node-v$NODE_VERSION"
export PATH="$NODE_HOME/bin:$TOKEN_OPERATOR_ROOT/.cache/bin:$TOKEN_OPERATOR_ROOT/node_modules/.bin:$PATH"
export KUBECONFIG="${KUBECONFIG_OVERRIDE:-$TOKEN_OPERATOR_ROOT/.cache/kubeconfig}"
