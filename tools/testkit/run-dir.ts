import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * vitest globalSetup: a scratch directory for the whole run (XAA_TEST_RUN_DIR), where test files share
 * what is costly to make and only read it afterwards (the packed and installed package,
 * tools/testkit/package.ts). Removed when the run ends.
 */
export default function setup(): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'xaa-test-run-'));
  process.env.XAA_TEST_RUN_DIR = dir;
  return () => rmSync(dir, { recursive: true, force: true });
}
