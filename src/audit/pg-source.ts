import type pg from 'pg';
import { GatewayError } from '../errors.js';
import { describePgError } from './pg-log.js';
import { auditSchemaName, describeDatabase, openAuditPool, type PgAuditTarget } from './pg-schema.js';
import type { AuditJwks } from './signing-key.js';
import type { AuditSource, ChainCursor, SourceLine } from './source.js';

/** Rows fetched per query while streaming a chain: bounded memory for any table size. */
const PAGE = 1000;
/** Where a record is, in verify's and export's messages: `audit_records:<seq>`. */
const TABLE = 'audit_records';

/**
 * The fleet's audit table as a source for verify, query, tail, export and the console: every instance's
 * chain, read in seq order by key ranges (the primary key), a page at a time. Reads only: a role with
 * SELECT on the table is enough.
 */
export class PgAuditSource implements AuditSource {
  readonly where: string;
  readonly #pool: pg.Pool;

  constructor(target: PgAuditTarget, opts: { queryTimeoutMs?: number } = {}) {
    const schema = auditSchemaName(target);
    this.where = `table ${TABLE} in ${describeDatabase(target.databaseUrl)}${schema === 'public' ? '' : ` (schema ${schema})`}`;
    this.#pool = openAuditPool(target, { max: 2, queryTimeoutMs: opts.queryTimeoutMs ?? 30_000 });
  }

  async #query<R extends pg.QueryResultRow>(text: string, params: unknown[]): Promise<R[]> {
    try {
      return (await this.#pool.query<R>(text, params)).rows;
    } catch (e) {
      if ((e as { code?: string }).code === '42P01') return []; // no audit table yet: nothing was written
      throw new GatewayError('audit_unavailable', `cannot read the audit ${this.where}: ${describePgError(e)}`, { cause: e });
    }
  }

  async chains(): Promise<string[]> {
    // Distinct instances by skipping along the primary key (a loose index scan), not reading every row.
    const rows = await this.#query<{ i: string }>(
      `WITH RECURSIVE t(i) AS (
         SELECT min(instance) FROM ${TABLE}
         UNION ALL SELECT (SELECT min(instance) FROM ${TABLE} WHERE instance > t.i) FROM t WHERE t.i IS NOT NULL
       ) SELECT i FROM t WHERE i IS NOT NULL`,
      [],
    );
    // A chain whose records are all gone still has its checkpoints: verify reports the cut.
    const signed = await this.#query<{ instance: string }>('SELECT DISTINCT instance FROM audit_checkpoints', []);
    return [...new Set([...rows.map((r) => r.i), ...signed.map((r) => r.instance)])].sort();
  }

  /** Every instance's published audit public keys (as trustworthy as the database). */
  async keys(): Promise<AuditJwks> {
    const rows = await this.#query<{ jwk: string }>('SELECT jwk FROM audit_keys ORDER BY created_at DESC', []);
    return { keys: rows.map((r) => JSON.parse(r.jwk) as AuditJwks['keys'][number]) };
  }

  async checkpoints(instance: string): Promise<{ where: string; list: string[] }> {
    const rows = await this.#query<{ checkpoint: string }>('SELECT checkpoint FROM audit_checkpoints WHERE instance = $1 ORDER BY n', [instance]);
    return { where: 'audit_checkpoints', list: rows.map((r) => r.checkpoint) };
  }

  async *lines(instance: string, window: { since?: Date; until?: Date } = {}): AsyncGenerator<SourceLine> {
    let after = 0;
    for (;;) {
      const rows = await this.#query<{ seq: string; record: string }>(
        `SELECT seq, record FROM ${TABLE} WHERE instance = $1 AND seq > $2
           AND ($3::timestamptz IS NULL OR time >= $3) AND ($4::timestamptz IS NULL OR time < $4)
         ORDER BY seq LIMIT ${PAGE}`,
        [instance, after, window.since ?? null, window.until ?? null],
      );
      for (const r of rows) yield this.#line(r);
      if (rows.length < PAGE) return;
      after = Number(rows.at(-1)!.seq);
    }
  }

  async lastLines(instance: string, n: number): Promise<SourceLine[]> {
    if (n <= 0) return [];
    const rows = await this.#query<{ seq: string; record: string }>(`SELECT seq, record FROM ${TABLE} WHERE instance = $1 ORDER BY seq DESC LIMIT $2`, [
      instance,
      n,
    ]);
    return rows.reverse().map((r) => this.#line(r));
  }

  async end(instance: string): Promise<ChainCursor> {
    const rows = await this.#query<{ seq: string | null }>(`SELECT max(seq) AS seq FROM ${TABLE} WHERE instance = $1`, [instance]);
    return { seq: Number(rows[0]?.seq ?? 0) };
  }

  async after(instance: string, cursor: ChainCursor = { seq: 0 }): Promise<{ lines: SourceLine[]; cursor: ChainCursor }> {
    if (!('seq' in cursor)) throw new Error('a database chain cursor has a seq');
    const rows = await this.#query<{ seq: string; record: string }>(
      `SELECT seq, record FROM ${TABLE} WHERE instance = $1 AND seq > $2 ORDER BY seq LIMIT ${PAGE}`,
      [instance, cursor.seq],
    );
    return { lines: rows.map((r) => this.#line(r)), cursor: { seq: rows.length ? Number(rows.at(-1)!.seq) : cursor.seq } };
  }

  #line(r: { seq: string; record: string }): SourceLine {
    return { file: TABLE, line: Number(r.seq), bytes: Buffer.from(r.record, 'utf8'), terminated: true };
  }

  async close(): Promise<void> {
    await this.#pool.end().catch(() => {});
  }
}
