# syntax=docker/dockerfile:1
# token-operator image: bundle with the full toolchain, run the bundle alone on the Node base.
# Build it yourself: `docker build -t REGISTRY/token-operator:TAG .` (or `podman build`); the
# README's "Installing it in a cluster" says how to push it and point the chart at it.
# Offline/local builds (no registry): scripts/image.sh makes a stand-in for the base image.
ARG NODE_IMAGE=node:24-bookworm-slim

# --legacy-peer-deps: the lock file was made that way (a devDependency, the helm/kubectl
# layer package, has aws-cdk-lib as an unmet peer); npm ci refuses it otherwise.
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --legacy-peer-deps --ignore-scripts --no-audit --no-fund --loglevel=error
COPY scripts/bundle.mjs ./scripts/
COPY src ./src
# esbuild: src/main.ts and the production code it imports, in dist/bundle/ (scripts/bundle.mjs)
RUN npm run bundle

# For the container tests only (test/integration/containers.test.ts): the provider simulators,
# bundled the same way. A plain build skips these two stages; `--target simulators` builds them.
FROM build AS simulators-build
COPY test/simulators ./test/simulators
RUN npm run bundle -- simulators

FROM ${NODE_IMAGE} AS simulators
WORKDIR /app
COPY --from=simulators-build /src/dist/simulators ./
USER 65532:65532
ENV SIM_HOST=0.0.0.0
EXPOSE 18081 18083 18084
ENTRYPOINT ["node", "main.mjs"]

# No node_modules, no package manager files: the bundle is the whole application (~8 MB).
# The CLI is not in the image: it runs where kubectl runs, with the user's own credentials.
FROM ${NODE_IMAGE}
LABEL org.opencontainers.image.title="token-operator" \
      org.opencontainers.image.description="Keeps short-lived credentials from external token APIs alive in Kubernetes Secrets" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/token-operator/token-operator"
ENV NODE_ENV=production
# Same as the chart's nodeOptions and mallocArenaMax defaults: a small young generation and few
# malloc arenas (bench/README.md, memory). The heap-growth limit is set by the operator itself.
ENV NODE_OPTIONS="--max-semi-space-size=2 --max-old-space-size-percentage=50" MALLOC_ARENA_MAX=2
WORKDIR /app
COPY --from=build /src/dist/bundle ./
# The chart runs it as 65532 with a read-only root filesystem; nothing here needs to write.
USER 65532:65532
EXPOSE 8080
# Node itself, no curl: /healthz on the health port (TOKEN_OPERATOR_HEALTH_PORT, default 8080).
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.TOKEN_OPERATOR_HEALTH_PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "main.mjs"]
