import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Tests spawn bin/xaa-gateway.js, which runs the compiled dist/ (what the package ships): rebuilt
    // from src/ first when a source changed.
    globalSetup: ['tools/testkit/build.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Two shared cores: integration tests start real servers; keep parallelism modest.
    maxWorkers: 2,
  },
});
