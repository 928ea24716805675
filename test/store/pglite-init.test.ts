import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { MIGRATIONS, openStore } from '../../src/store/index.js';
import { openPglite } from '../../src/store/pglite.js';

/**
 * How a fresh embedded store comes to be: initdb in a child process (what a gateway does), or a copy of
 * XAA_PGLITE_TEMPLATE (what the test suite's globalSetup arranges for every other test).
 */

const base = await mkdtemp(join(tmpdir(), 'xaa-pglite-init-'));
const template = process.env.XAA_PGLITE_TEMPLATE;
afterEach(() => {
  if (template === undefined) delete process.env.XAA_PGLITE_TEMPLATE;
  else process.env.XAA_PGLITE_TEMPLATE = template;
});
afterAll(() => rm(base, { recursive: true, force: true }));

async function roundTrip(dir: string): Promise<unknown[]> {
  const sql = await openPglite(dir, 'public');
  try {
    await sql.query('CREATE TABLE t (n int)');
    await sql.query('INSERT INTO t VALUES ($1)', [7]);
    return (await sql.query<{ n: number }>('SELECT n FROM t')).rows;
  } finally {
    await sql.close();
  }
}

describe('a fresh embedded store', () => {
  it('without a template: initdb runs in a child process, and a store on the new cluster applies every migration in order', async () => {
    delete process.env.XAA_PGLITE_TEMPLATE;
    const dir = join(base, 'initdb');
    const store = await openStore({ dataDir: dir, encryptionKey: 'ab'.repeat(32) });
    await store.close();
    expect(existsSync(join(dir, 'PG_VERSION'))).toBe(true);
    const sql = await openPglite(dir, 'public');
    try {
      const rows = (await sql.query<{ version: number; name: string }>('SELECT version, name FROM schema_migrations ORDER BY version')).rows;
      expect(rows.map((r) => [Number(r.version), r.name])).toEqual(MIGRATIONS.map((m) => [m.version, m.name]));
    } finally {
      await sql.close();
    }
    expect(await roundTrip(dir)).toEqual([{ n: 7 }]);
  });

  it.runIf(template)('with XAA_PGLITE_TEMPLATE: the template is copied, and left as it was', async () => {
    const dir = join(base, 'copied');
    expect(await roundTrip(dir)).toEqual([{ n: 7 }]);
    // The table went to the copy: a second store from the template starts empty.
    const again = await openPglite(join(base, 'copied-again'), 'public');
    try {
      expect((await again.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 't'")).rows).toEqual([{ n: 0 }]);
    } finally {
      await again.close();
    }
  });

  it('a template that is no cluster is refused, naming the variable', async () => {
    const bogus = join(base, 'bogus-template');
    await rm(bogus, { recursive: true, force: true });
    await mkdir(bogus);
    await writeFile(join(bogus, 'README'), 'not a cluster');
    process.env.XAA_PGLITE_TEMPLATE = bogus;
    await expect(openPglite(join(base, 'from-bogus'), 'public')).rejects.toThrow(
      /XAA_PGLITE_TEMPLATE .*bogus-template is not an initialized PGlite cluster \(no PG_VERSION\)/,
    );
  });
});
