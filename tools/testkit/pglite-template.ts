import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

/**
 * vitest globalSetup: one PGlite cluster with the store's schema and no data, made once per PGlite
 * version and migration set (initdb, about 3 s of CPU, and the migrations, about 1 s) and copied by
 * every fresh embedded store the run opens (src/store/pglite.ts, XAA_PGLITE_TEMPLATE; the variable
 * reaches the workers and the gateways they spawn). Some 40 test files open a fresh store;
 * each used to run initdb in a child process of its own. test/store/pglite-init.test.ts unsets the
 * variable to keep the initdb path tested.
 */

const ROOT = join(import.meta.dirname, '../..');

export default async function setup(): Promise<void> {
  if (process.env.XAA_PGLITE_TEMPLATE) return;
  // Its package.json is not among its exports: read from where npm put it.
  const { version } = JSON.parse(readFileSync(join(ROOT, 'node_modules/@electric-sql/pglite/package.json'), 'utf8')) as { version: string };
  // The store's migrations are applied too (about 1 s more per store otherwise), so the template is one
  // per PGlite version and migration set; the store key's check row is not (each test has its own key).
  const { MIGRATIONS } = (await import(pathToFileURL(join(ROOT, 'dist/store/schema.js')).href)) as typeof import('../../src/store/schema.js');
  const migrations = createHash('sha256').update(JSON.stringify(MIGRATIONS)).digest('hex').slice(0, 16);
  const cache = join(ROOT, 'node_modules/.cache/xaa-pglite-template');
  const name = `${version}-${migrations}`;
  const template = join(cache, name);
  if (!existsSync(join(template, 'PG_VERSION'))) {
    // Templates of other versions or migration sets go (some 40 MB each).
    for (const old of existsSync(cache) ? readdirSync(cache) : []) if (!old.startsWith(name)) rmSync(join(cache, old), { recursive: true, force: true });
    // Made beside and renamed into place: a run that stops halfway leaves no half cluster, and two runs
    // making it at once both succeed (the second rename finds the directory and drops its own copy).
    const building = `${template}.${process.pid}`;
    rmSync(building, { recursive: true, force: true });
    mkdirSync(building, { recursive: true });
    const dist = (file: string) => JSON.stringify(pathToFileURL(join(ROOT, 'dist/store', file)).href);
    const script = [
      `const { openPglite } = await import(${dist('pglite.js')});`,
      `const { migrate } = await import(${dist('migrate.js')});`,
      `const sql = await openPglite(process.argv[1], 'public');`,
      `try { await migrate(sql, 'public'); } finally { await sql.close(); }`,
    ].join('\n');
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
