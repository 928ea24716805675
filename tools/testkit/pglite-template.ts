import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';

/**
 * vitest globalSetup: one pristine PGlite cluster per PGlite version, made once (initdb, about 3 s of
 * CPU) and copied by every fresh embedded store the run opens (src/store/pglite.ts, XAA_PGLITE_TEMPLATE;
 * the variable reaches the workers and the gateways they spawn). Some 40 test files open a fresh store;
 * each used to run initdb in a child process of its own. test/store/pglite-init.test.ts unsets the
 * variable to keep the initdb path tested.
 */

const ROOT = join(import.meta.dirname, '../..');

export default function setup(): void {
  if (process.env.XAA_PGLITE_TEMPLATE) return;
  // Its package.json is not among its exports: read from where npm put it.
  const { version } = JSON.parse(readFileSync(join(ROOT, 'node_modules/@electric-sql/pglite/package.json'), 'utf8')) as { version: string };
  const template = join(ROOT, 'node_modules/.cache/xaa-pglite-template', version);
  if (!existsSync(join(template, 'PG_VERSION'))) {
    // Made beside and renamed into place: a run that stops halfway leaves no half cluster, and two runs
    // making it at once both succeed (the second rename finds the directory and drops its own copy).
    const building = `${template}.${process.pid}`;
    rmSync(building, { recursive: true, force: true });
    mkdirSync(building, { recursive: true });
    const script = `const { openPglite } = await import(${JSON.stringify(join(ROOT, 'dist/store/pglite.js'))}); const s = await openPglite(process.argv[1], 'public'); await s.close();`;
    const made = spawnSync(process.execPath, ['--input-type=module', '-e', script, building], {
      encoding: 'utf8',
      env: { ...process.env, XAA_PGLITE_TEMPLATE: '' },
    });
    if (made.status !== 0 || !existsSync(join(building, 'PG_VERSION'))) {
      rmSync(building, { recursive: true, force: true });
      throw new Error(`making the PGlite template cluster failed (exit ${made.status}): ${made.stderr.trim().split('\n').slice(-5).join(' | ')}`);
    }
    try {
      renameSync(building, template);
    } catch (e) {
      rmSync(building, { recursive: true, force: true });
      if (!existsSync(join(template, 'PG_VERSION'))) throw e;
    }
  }
  process.env.XAA_PGLITE_TEMPLATE = template;
}
