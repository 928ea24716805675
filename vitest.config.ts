import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Tests spawn bin/xaa-gateway.js, which runs the compiled dist/ (what the package ships): rebuilt
    // from src/ first when a source changed.
    // Then PostgreSQL and Redis are probed: missing ones skip their suites loudly (mandatory under CI).
    globalSetup: ['tools/testkit/build.ts', 'tools/testkit/services.ts', 'tools/testkit/pglite-template.ts', 'tools/testkit/run-dir.ts'],
    // Hang guards, not budgets: tests wait on readiness (a log line, a health URL), never on a time
    // tuned to a quiet box. A 2-core machine running a second full suite can take minutes to pack and
    // install the package or start a fleet; only a hang should reach these.
    testTimeout: 300_000,
    hookTimeout: 300_000,
    // Two shared cores: integration tests start real servers; keep parallelism modest.
    maxWorkers: 2,
  },
});
