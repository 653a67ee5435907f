import { defineConfig } from 'vitest/config';

// `npm run test:e2e`: a real one-node cluster (test/cluster/node.ts) with the operator running
// as pods from its Helm chart (test/e2e/global-setup.ts). Where the node cannot run, every test
// skips with a one-line reason; REQUIRE_NODE_TESTS=1 turns that into a failure.
export default defineConfig({
  test: {
    include: ['test/e2e/**/*.test.ts'],
    globalSetup: ['test/e2e/global-setup.ts'],
    testTimeout: 600_000,
    hookTimeout: 900_000,
    fileParallelism: false,
  },
});
