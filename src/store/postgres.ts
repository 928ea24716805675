/**
 * Shared engine: PostgreSQL (DATABASE_URL), for several gateway instances behind a load balancer.
 */
import pg from 'pg';
import type { Logger } from '../log.js';
import type { Queryable, QueryResult, Sql } from './sql.js';

function wrap(client: pg.Pool | pg.PoolClient): Queryable {
  return {
    async query<R>(text: string, params: readonly unknown[] = []): Promise<QueryResult<R>> {
      const res = await client.query(text, params as unknown[]);
      return { rows: res.rows as R[], rowCount: res.rowCount ?? res.rows.length };
    },
  };
}

export function openPostgres(databaseUrl: string, schema: string, logger?: Logger): Sql {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    // Every pooled connection resolves the store's tables in its schema (validated identifier).
    ...(schema === 'public' ? {} : { options: `-c search_path="${schema}"` }),
    max: 10,
    connectionTimeoutMillis: 10_000,
  });
  // An idle client losing its connection must not crash the process; the next query reconnects.
  pool.on('error', (err) => logger?.warn('store: idle PostgreSQL connection failed', { error: err }));
  const q = wrap(pool);
  const listeners = new Set<pg.Client>();
  return {
    engine: 'postgres',
    schema,
    query: q.query,
    async listen(channel, onNotify) {
      // A dedicated connection: a pooled one would be handed to other queries and lose the LISTEN.
      const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 10_000 });
      client.on('error', (err) => logger?.warn('store: LISTEN connection failed; changes from other instances arrive by the poll', { channel, error: err }));
      client.on('notification', (msg) => {
        if (msg.channel === channel) onNotify();
      });
      await client.connect();
      await client.query(`LISTEN "${channel}"`);
      listeners.add(client);
      return async () => {
        listeners.delete(client);
        await client.end().catch(() => undefined);
      };
    },
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
      await Promise.all([...listeners].map((c) => c.end().catch(() => undefined)));
      listeners.clear();
      await pool.end();
    },
  };
}
