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
 *   cluster;
 * - PostgreSQL's WebAssembly runs as V8's baseline compiler (Liftoff) made it, never tiered up to
 *   TurboFan (pgliteModule below).
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cp, mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import v8 from 'node:v8';
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
  const db = await PGlite.create(dataDir, { startParams: [...PGlite.defaultStartParams, ...PGLITE_SETTINGS], pgliteWasmModule: pgliteModule() });
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

/** V8's flag for compiling WebAssembly with its baseline compiler only (also given to the initdb child). */
const LIFTOFF_ONLY = '--liftoff-only';
let compiled: WebAssembly.Module | undefined;

/**
 * PGlite's WebAssembly (PostgreSQL, 9 MB), compiled once per process by V8's baseline compiler only.
 * By default V8 compiles it with Liftoff and then recompiles every function that PostgreSQL's start and
 * the first queries make hot with TurboFan, on background threads. The gateway keeps its store off the
 * warm call path (sessions, revocations and switches are held in memory), so that optimized code would
 * rarely pay for itself, while it costs at every start. Measured here (Node 20, 2 cores), a serve on a
 * fresh copy of a cluster, at the moment it is ready: 3.4-4.1 against 2.6-2.8 s of CPU, and 266-274
 * against 183-187 MiB of peak RSS (175 MiB resident after); 2,000 small queries after the open cost
 * 2.4-2.7 against 1.1-1.3 s of CPU. TurboFan's code runs a query about 30% faster once compiled: the
 * two break even after some 60,000 queries, a rate the store does not see.
 *
 * The flag is V8's and process-wide, so it is on only for this synchronous compile (no other JavaScript
 * runs in between, so no other module, such as fetch's HTTP parser, is compiled under it), unless the
 * process was started with it. The compiled module is shared by every PGlite instance of the process.
 */
function pgliteModule(): WebAssembly.Module {
  if (compiled) return compiled;
  // The package exports its .wasm file (package.json "./pglite.wasm").
  const bytes = readFileSync(createRequire(import.meta.url).resolve('@electric-sql/pglite/pglite.wasm'));
  const keep = process.execArgv.includes(LIFTOFF_ONLY);
  v8.setFlagsFromString(LIFTOFF_ONLY);
  try {
    compiled = new WebAssembly.Module(bytes);
  } finally {
    if (!keep) v8.setFlagsFromString('--no-liftoff-only');
  }
  return compiled;
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
  // --liftoff-only (see pgliteModule): the child runs initdb and one start, 6.5 instead of 9 s of CPU here.
  const child = spawn(process.execPath, [LIFTOFF_ONLY, '--input-type=module', '-e', INIT_SCRIPT, dataDir, ...PGLITE_SETTINGS], {
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
