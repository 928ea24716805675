/**
 * Embedded engine: PGlite (PostgreSQL compiled to WASM, no native addon) persisted in a directory,
 * so a restart of a single gateway keeps everyone signed in. One process per directory: PGlite is
 * a single-connection database and its queries and transactions are serialized by its own mutex.
 *
 * Memory (docs/fleet.md "Memory"): a WASM instance's linear memory only grows, never shrinks, so
 * whatever PGlite touches once stays resident for the life of the process. Hence:
 * - shared_buffers is 16 MB rather than PostgreSQL's 128 MB: PGlite initializes its whole buffer
 *   pool at start (about 100 MiB of RSS), while the gateway's tables are a few MiB and NODEFS reads
 *   go through the OS page cache anyway;
 * - a fresh directory is initialized (initdb) in a short-lived child process: PGlite runs initdb
 *   in two extra WASM instances and copies the new cluster through tarballs, which held the serving
 *   process at 800-900 MiB for good. The child exits, and this process only ever opens an existing
 *   cluster.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PGlite } from '@electric-sql/pglite';
import type { Queryable, QueryResult, Sql } from './sql.js';

type PgliteLike = Pick<PGlite, 'query'>;

/** Server settings on top of PGlite's own start parameters (also used by the initdb child). */
export const PGLITE_SETTINGS: readonly string[] = ['-c', 'shared_buffers=16MB'];

function wrap(db: PgliteLike): Queryable {
  return {
    async query<R>(text: string, params: readonly unknown[] = []): Promise<QueryResult<R>> {
      const res = await db.query<R>(text, params as unknown[]);
      return { rows: res.rows, rowCount: res.rowCount ?? res.affectedRows ?? res.rows.length };
    },
  };
}

export async function openPglite(dataDir: string, schema: string): Promise<Sql> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    const template = process.env.XAA_PGLITE_TEMPLATE;
    if (template) await copyTemplate(template, dataDir);
    else await initializeInChild(resolve(dataDir));
  }
  // Imported here, not at the top: a gateway on PostgreSQL never loads PGlite.
  const { PGlite } = await import('@electric-sql/pglite');
  const db = await PGlite.create(dataDir, { startParams: [...PGlite.defaultStartParams, ...PGLITE_SETTINGS] });
  const q = wrap(db);
  if (schema !== 'public') {
    // The schema name was validated as a plain identifier by openStore; identifiers cannot be parameters.
    await db.exec(`SET search_path TO "${schema}"`);
  }
  return {
    engine: 'pglite',
    schema,
    query: q.query,
    transaction: (fn) => db.transaction((tx) => fn(wrap(tx))),
    close: () => db.close(),
  };
}

/**
 * XAA_PGLITE_TEMPLATE (a development knob, docs/development.md): a directory holding a cluster that
 * this PGlite version initialized, closed cleanly, with no store key in it (its tables may exist: the
 * migrations apply what is missing). A fresh store copies it (under a second) instead of running initdb
 * in a child (about 3 s of CPU): the test suite makes one per run and opens some 40 fresh stores. Only
 * a directory without a cluster is filled.
 */
async function copyTemplate(template: string, dataDir: string): Promise<void> {
  if (!existsSync(join(template, 'PG_VERSION'))) {
    throw new Error(`XAA_PGLITE_TEMPLATE ${template} is not an initialized PGlite cluster (no PG_VERSION); unset it or point it at one`);
  }
  await cp(template, dataDir, { recursive: true });
}

const INIT_SCRIPT = `
const [dataDir, ...settings] = process.argv.slice(1);
const { PGlite } = await import('@electric-sql/pglite');
const db = await PGlite.create(dataDir, { startParams: [...PGlite.defaultStartParams, ...settings] });
await db.close();
`;

/**
 * Opens (so creates) the PGlite cluster in `dataDir` in a child Node.js process and closes it. The
 * child's working directory is this module's, so it resolves @electric-sql/pglite exactly as this
 * module does (from the repository, or from wherever the package is installed).
 */
async function initializeInChild(dataDir: string): Promise<void> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', INIT_SCRIPT, dataDir, ...PGLITE_SETTINGS], {
    cwd: dirname(fileURLToPath(import.meta.url)),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-4000)));
  const code = await new Promise<number | null>((done, fail) => {
    child.once('error', fail);
    child.once('close', (c, signal) => done(c ?? (signal ? 128 : null)));
  });
  if (code !== 0 || !existsSync(join(dataDir, 'PG_VERSION'))) {
    throw new Error(
      `initializing the embedded store in ${dataDir} failed (child process exit ${code}): ${stderr.trim().split('\n').slice(-5).join(' | ') || 'no output'}`,
    );
  }
}
