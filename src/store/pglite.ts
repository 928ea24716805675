/**
 * Embedded engine: PGlite (PostgreSQL compiled to WASM, no native addon) persisted in a directory,
 * so a restart of a single gateway keeps everyone signed in. One process per directory: PGlite is
 * a single-connection database and its queries and transactions are serialized by its own mutex.
 */
import { mkdir } from 'node:fs/promises';
import { PGlite } from '@electric-sql/pglite';
import type { Queryable, QueryResult, Sql } from './sql.js';

type PgliteLike = Pick<PGlite, 'query'>;

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
  const db = await PGlite.create(dataDir);
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
