import { afterAll, vi } from 'vitest';

/**
 * vitest setupFiles: runs before every test file. Workers are reused between files (isolate: false in
 * vitest.config.ts), so a file leaves the worker as it found it: fake timers off. Environment variables
 * a test sets are named for its suite (XAA_FLEET_TEST_SECRET...) or restored by the file that set them;
 * helper modules set theirs once, when first imported, and later files of the worker rely on them.
 */
afterAll(() => {
  vi.useRealTimers();
});
