import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Tests spawn bin/xaa-gateway.js, which runs the compiled dist/ (what the package ships): rebuilt
    // from src/ first when a source changed.
    // Then PostgreSQL and Redis are probed: missing ones skip their suites loudly (mandatory under CI).
    globalSetup: ['tools/testkit/build.ts', 'tools/testkit/services.ts'],
    // Hang guards, not budgets: tests wait on readiness (a log line, a health URL), and a loaded
    // 2-core machine can take 20 s and more to start a gateway with its embedded store.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Two shared cores: integration tests start real servers; keep parallelism modest.
    maxWorkers: 2,
  },
});
