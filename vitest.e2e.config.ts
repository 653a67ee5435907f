import { defineConfig } from 'vitest/config';

// `npm run test:e2e`: the chart and image on a real k3s (testcontainers). Needs a container
// runtime; skips without one unless REQUIRE_CONTAINER_TESTS=1, which turns the skip into a failure.
export default defineConfig({
  test: {
    include: ['test/e2e/**/*.test.ts'],
    testTimeout: 600_000,
    hookTimeout: 900_000,
    fileParallelism: false,
  },
});
