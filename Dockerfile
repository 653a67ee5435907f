# syntax=docker/dockerfile:1
# token-operator image: build with the full toolchain, run with production dependencies only.
# Offline/local builds (no registry): scripts/image.sh makes a stand-in for the base image.
ARG NODE_IMAGE=node:24-bookworm-slim

# --legacy-peer-deps: the lock file was made that way (a devDependency, the helm/kubectl
# layer package, has aws-cdk-lib as an unmet peer); npm ci refuses it otherwise.
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --legacy-peer-deps --ignore-scripts --no-audit --no-fund --loglevel=error
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# tsc directly: the npm scripts go through scripts/with-node.sh, which is not in the build context
RUN npx --no-install tsc -p tsconfig.build.json

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --legacy-peer-deps --ignore-scripts --no-audit --no-fund --loglevel=error \
 && npm cache clean --force

FROM ${NODE_IMAGE}
LABEL org.opencontainers.image.title="token-operator" \
      org.opencontainers.image.description="Keeps short-lived credentials from external token APIs alive in Kubernetes Secrets" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/token-operator/token-operator"
ENV NODE_ENV=production
# Same as the chart's nodeOptions and mallocArenaMax defaults: a small young generation and few
# malloc arenas (bench/README.md, memory). The heap-growth limit is set by the operator itself.
ENV NODE_OPTIONS="--max-semi-space-size=2" MALLOC_ARENA_MAX=2
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
# The chart runs it as 65532 with a read-only root filesystem; nothing here needs to write.
USER 65532:65532
EXPOSE 8080
# Node itself, no curl: /healthz on the health port (TOKEN_OPERATOR_HEALTH_PORT, default 8080).
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.TOKEN_OPERATOR_HEALTH_PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "dist/main.js"]
