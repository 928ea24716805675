/**
 * Applies MIGRATIONS once each, in order, recorded in `schema_migrations`. Everything happens in one
 * transaction under a transaction-scoped advisory lock, so two gateway instances starting together
 * against the same PostgreSQL serialize here (the second sees the first's rows and applies nothing),
 * and a failed migration leaves no half-applied schema (PostgreSQL DDL is transactional).
 */
import { GatewayError } from '../errors.js';
import { MIGRATIONS, type Migration } from './schema.js';
import type { Sql } from './sql.js';

export async function migrate(sql: Sql, schema: string, migrations: readonly Migration[] = MIGRATIONS, now = Date.now): Promise<number[]> {
  return sql.transaction(async (tx) => {
    // One lock per schema: test schemas side by side don't wait on each other.
    await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`xaa-gateway:store:${schema}`]);
    // Only create a missing schema: CREATE SCHEMA checks the database CREATE privilege even when the
    // schema exists, which a least-privilege PostgreSQL role owning only its tables does not have.
    const exists = await tx.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
    if (exists.rowCount === 0) await tx.query(`CREATE SCHEMA "${schema}"`);
    await tx.query(`CREATE TABLE IF NOT EXISTS "${schema}".schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`);
    const { rows } = await tx.query<{ version: number }>(`SELECT version FROM "${schema}".schema_migrations`);
    const done = new Set(rows.map((r) => Number(r.version)));
    const newest = Math.max(0, ...done);
    const known = Math.max(0, ...migrations.map((m) => m.version));
    if (newest > known) {
      throw new GatewayError(
        'store_unavailable',
        `store schema "${schema}" is at version ${newest}, newer than this gateway knows (${known}): upgrade the gateway`,
      );
    }
    const applied: number[] = [];
    for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
      if (done.has(m.version)) continue;
      await tx.query(`SET LOCAL search_path TO "${schema}"`);
      // Statements one by one: the extended protocol (used for parameters) takes one statement at a time.
      for (const stmt of splitStatements(m.sql)) await tx.query(stmt);
      await tx.query(`INSERT INTO "${schema}".schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`, [m.version, m.name, now()]);
      applied.push(m.version);
    }
    return applied;
  });
}

/** Splits on `;` at line ends; migrations contain no functions or quoted semicolons. */
function splitStatements(sqlText: string): string[] {
  return sqlText
    .split(/;\s*(?:\n|$)/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}
