/**
 * openStore: PostgreSQL when a database URL is given (DATABASE_URL), else embedded PGlite in
 * `dataDir`. Validates the encryption key, runs migrations under a lock, and checks the key against
 * the store before anything else uses it.
 */
import { GatewayError } from '../errors.js';
import type { Logger } from '../log.js';
import { createSecretBox, parseEncryptionKey } from './crypto.js';
import { migrate } from './migrate.js';
import type { ListenerOptions } from './listener.js';
import type { Sql } from './sql.js';
import { SqlStore } from './sql-store.js';
import type { Store } from './types.js';

export interface OpenStoreOptions {
  /** PostgreSQL connection URL (DATABASE_URL); when absent the embedded engine is used. */
  databaseUrl?: string;
  /** Directory of the embedded PGlite database (`server.dataDir`). */
  dataDir: string;
  /** `server.encryptionKey`: 32 bytes as base64 or 64 hex digits. */
  encryptionKey: string;
  /** Schema holding the tables (test isolation); created if missing. Default 'public'. */
  schema?: string;
  now?: () => number;
  logger?: Logger;
  /** PostgreSQL: how the LISTEN connection is re-opened after a loss (backoff, ping; tests shorten them). */
  listen?: ListenerOptions;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export async function openStore(opts: OpenStoreOptions): Promise<Store> {
  const box = createSecretBox(parseEncryptionKey(opts.encryptionKey));
  const schema = opts.schema ?? 'public';
  if (!SCHEMA_NAME.test(schema)) {
    throw new GatewayError('config_invalid', `store schema name "${schema}" must match ${SCHEMA_NAME.source}`);
  }
  const where = describeStoreLocation(opts);
  let sql: Sql | undefined;
  try {
    // Each engine is imported only when used: a process on PostgreSQL never loads PGlite, nor the
    // embedded one pg (docs/fleet.md "Memory").
    sql = opts.databaseUrl
      ? (await import('./postgres.js')).openPostgres(opts.databaseUrl, schema, opts.logger, opts.listen)
      : await (await import('./pglite.js')).openPglite(opts.dataDir, schema);
    await migrate(sql, schema, undefined, opts.now);
    const store = new SqlStore(sql, box, opts.now);
    await store.checkKey();
    return store;
  } catch (err) {
    await sql?.close().catch(() => undefined);
    if (err instanceof GatewayError) throw err;
    const reason = err instanceof Error ? err.message : String(err);
    throw new GatewayError('store_unavailable', `cannot open the ${where}: ${reason}`, { cause: err });
  }
}

/** "PostgreSQL at host:port/database" (never the password), or "embedded store in <dir>". */
export function describeStoreLocation(opts: Pick<OpenStoreOptions, 'databaseUrl' | 'dataDir' | 'schema'>): string {
  if (!opts.databaseUrl) return `embedded store in ${opts.dataDir}`;
  return `PostgreSQL at ${describeUrl(opts.databaseUrl)}${opts.schema && opts.schema !== 'public' ? ` (schema ${opts.schema})` : ''}`;
}

/** host:port/database, never the password. */
function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}${u.port ? ':' + u.port : ''}${u.pathname}`;
  } catch {
    return '(unparseable DATABASE_URL)';
  }
}
