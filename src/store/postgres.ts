/**
 * Shared engine: PostgreSQL (DATABASE_URL), for several gateway instances behind a load balancer.
 */
import pg from 'pg';
import type { Logger } from '../log.js';
import { PgListener, type ListenerOptions } from './listener.js';
import type { Queryable, QueryResult, Sql } from './sql.js';

function wrap(client: pg.Pool | pg.PoolClient): Queryable {
  return {
    async query<R>(text: string, params: readonly unknown[] = []): Promise<QueryResult<R>> {
      const res = await client.query(text, params as unknown[]);
      return { rows: res.rows as R[], rowCount: res.rowCount ?? res.rows.length };
    },
  };
}

export function openPostgres(databaseUrl: string, schema: string, logger?: Logger, listenOptions?: ListenerOptions): Sql {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    application_name: 'xaa-gateway',
    // Every pooled connection resolves the store's tables in its schema (validated identifier).
    ...(schema === 'public' ? {} : { options: `-c search_path="${schema}"` }),
    max: 10,
    connectionTimeoutMillis: 10_000,
  });
  // An idle client losing its connection must not crash the process; the next query reconnects.
  pool.on('error', (err) => logger?.warn('store: idle PostgreSQL connection failed', { error: err }));
  const q = wrap(pool);
  // One LISTEN connection for every channel, re-opened with backoff when PostgreSQL drops it.
  const listener = new PgListener(databaseUrl, logger, listenOptions);
  return {
    engine: 'postgres',
    schema,
    query: q.query,
    listen: (channel, onNotify) => listener.listen(channel, onNotify),
    listenStatus: () => listener.status(),
    async transaction(fn) {
      const client = await pool.connect();
      let broken: Error | undefined;
      try {
        await client.query('BEGIN');
        const out = await fn(wrap(client));
        await client.query('COMMIT');
        return out;
      } catch (err) {
        // A connection that cannot even roll back is destroyed, not returned to the pool.
        await client.query('ROLLBACK').catch((e: Error) => (broken = e));
        throw err;
      } finally {
        client.release(broken);
      }
    },
    close: async () => {
      await listener.close();
      await pool.end();
    },
  };
}
