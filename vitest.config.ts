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
    // Two shared cores: integration tests start real servers; keep parallelism modest. On a quiet
    // machine XAA_TEST_WORKERS=3 fills the cores better (a warm tree: 126 s instead of 156 s), but a
    // fresh-clone CI run is CPU-bound already (188 s with three, 185 s with two, lint beside it), and a
    // loaded machine runs three workers' servers slower still.
    maxWorkers: Number(process.env.XAA_TEST_WORKERS) || 2,
    // One worker process serves many test files: the product and its dependencies are imported once per
    // worker, not once per file (about 45 s of a 190 s run). A file leaves the process as it found
    // it (tools/testkit/per-file.ts turns fake timers off; a file restores the environment it changed);
    // the product keeps no module state a test depends on: every test makes its own stores, gateways and
    // servers on new ports. Checked with shuffled file orders (--sequence.shuffle.files).
    isolate: false,
    setupFiles: ['tools/testkit/per-file.ts'],
  },
});
