import pg from 'pg';
import { GatewayError } from '../errors.js';

/**
 * The fleet's audit tables in PostgreSQL. `audit_records` holds each record exactly as it was hashed (the
 * JSON text, so verify recomputes the same bytes) keyed by (instance, seq): one hash chain per instance,
 * and the key makes a second writer of a chain fail instead of forking it. A trigger refuses UPDATE,
 * DELETE and TRUNCATE: records are only ever appended. (A database owner can drop the trigger: that is
 * what the signed checkpoints in `audit_checkpoints` are for, see checkpoint.ts.) `audit_keys` publishes
 * each instance's audit public keys for /.well-known/xaa-audit-keys: as trustworthy as the database, so
 * a verifier pins them (`audit keys`, kept elsewhere, then `audit verify --keys`).
 */
const DDL = (s: string) => [
  `CREATE TABLE IF NOT EXISTS "${s}".audit_records (
     instance TEXT NOT NULL,
     seq BIGINT NOT NULL,
     time TIMESTAMPTZ NOT NULL,
     record TEXT NOT NULL,
     hash TEXT NOT NULL,
     PRIMARY KEY (instance, seq)
   )`,
  // BRIN: records arrive in time order, so a block-range index finds a time window for a fraction of a
  // B-tree's upkeep on every insert.
  `CREATE INDEX IF NOT EXISTS audit_records_time ON "${s}".audit_records USING brin (time)`,
  `CREATE TABLE IF NOT EXISTS "${s}".audit_checkpoints (
     instance TEXT NOT NULL,
     n BIGINT NOT NULL,
     seq BIGINT NOT NULL,
     time TIMESTAMPTZ NOT NULL,
     checkpoint TEXT NOT NULL,
     PRIMARY KEY (instance, n)
   )`,
  `CREATE TABLE IF NOT EXISTS "${s}".audit_keys (
     kid TEXT PRIMARY KEY,
     instance TEXT NOT NULL,
     jwk TEXT NOT NULL,
     created_at TIMESTAMPTZ NOT NULL DEFAULT now()
   )`,
  `CREATE OR REPLACE FUNCTION "${s}".audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
   BEGIN
     RAISE EXCEPTION 'the audit tables are append-only (% on %)', TG_OP, TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
   END $$`,
  ...['audit_records', 'audit_checkpoints', 'audit_keys'].flatMap((t) => [
    `DROP TRIGGER IF EXISTS ${t}_append_only ON "${s}".${t}`,
    `CREATE TRIGGER ${t}_append_only BEFORE UPDATE OR DELETE ON "${s}".${t} FOR EACH ROW EXECUTE FUNCTION "${s}".audit_append_only()`,
    `DROP TRIGGER IF EXISTS ${t}_no_truncate ON "${s}".${t}`,
    `CREATE TRIGGER ${t}_no_truncate BEFORE TRUNCATE ON "${s}".${t} FOR EACH STATEMENT EXECUTE FUNCTION "${s}".audit_append_only()`,
  ]),
];

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** Where the audit tables are: the store's database and schema. */
export interface PgAuditTarget {
  databaseUrl: string;
  /** Default "public" (the store's schema). */
  schema?: string;
}

export function auditSchemaName(target: PgAuditTarget): string {
  const schema = target.schema ?? 'public';
  if (!SCHEMA_NAME.test(schema)) throw new GatewayError('config_invalid', `audit schema name "${schema}" must match ${SCHEMA_NAME.source}`);
  return schema;
}

/** "postgres://db.internal:5432/gateway" without credentials, for messages. */
export function describeDatabase(databaseUrl: string): string {
  try {
    const u = new URL(databaseUrl);
    return `${u.protocol}//${u.hostname}${u.port ? `:${u.port}` : ''}${u.pathname}`;
  } catch {
    return 'the database (DATABASE_URL is not a URL)';
  }
}

/** How the audit connects: its own application name, a bound on every statement, synchronous_commit pinned. */
export interface AuditConnectionOptions {
  queryTimeoutMs: number;
  /** The writing instance: named in the connection's application_name, so pg_stat_activity tells whose it is. */
  instance?: string;
  synchronousCommit?: boolean;
}

/**
 * The settings of every audit connection. `queryTimeoutMs` bounds the connect and every statement on the
 * client side (a database that stops answering fails the append: fail closed).
 */
export function auditClientConfig(target: PgAuditTarget, opts: AuditConnectionOptions): pg.ClientConfig {
  const schema = auditSchemaName(target);
  // synchronous_commit set either way, never left to the server's, database's or role's default: a
  // decision record's commit must wait for the WAL flush (off only for the outcome records' connection).
  const settings = [
    ...(schema === 'public' ? [] : [`-c search_path="${schema}"`]),
    ...(opts.synchronousCommit === undefined ? [] : [`-c synchronous_commit=${opts.synchronousCommit ? 'on' : 'off'}`]),
  ];
  return {
    connectionString: target.databaseUrl,
    // PostgreSQL keeps the first 63 bytes.
    application_name: opts.instance ? `xaa-gateway-audit ${opts.instance}` : 'xaa-gateway-audit',
    ...(settings.length ? { options: settings.join(' ') } : {}),
    connectionTimeoutMillis: opts.queryTimeoutMs,
    query_timeout: opts.queryTimeoutMs,
  };
}

/** A small pool of the audit's own: its queries never queue behind the store's. */
export function openAuditPool(target: PgAuditTarget, opts: AuditConnectionOptions & { max: number }): pg.Pool {
  const pool = new pg.Pool({ ...auditClientConfig(target, opts), max: opts.max });
  // An idle connection that fails must not crash the process; the next query reconnects.
  pool.on('error', () => {});
  return pool;
}

/** Create the audit tables and triggers if missing: once per schema at a time (advisory lock), idempotent. */
export async function ensureAuditSchema(pool: pg.Pool, schema: string): Promise<void> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`xaa-gateway:audit:${schema}`]);
    const exists = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
    if (exists.rowCount === 0) await client.query(`CREATE SCHEMA "${schema}"`);
    const ready = await client.query(
      `SELECT 1 FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = $1 AND t.tgname = 'audit_keys_no_truncate'`,
      [schema],
    );
    if (ready.rowCount === 0) for (const stmt of DDL(schema)) await client.query(stmt);
    await client.query('COMMIT');
  } catch (e) {
    await client.query('ROLLBACK').catch((err: Error) => (broken = err));
    throw e;
  } finally {
    client.release(broken);
  }
}
