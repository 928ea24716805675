import type pg from 'pg';
import type { AuditRecord } from './types.js';

/**
 * Rounds of up to this many records are sent as a VALUES list, larger ones as arrays. At one or two
 * clients a round is one or two records (a decision, and the outcome of the call before it), and each
 * value as a parameter of its own is cheaper on both sides than an array: the client escapes no array
 * literal, the server parses none. Measured on this project's machine, one record committed through
 * `unnest` took 100-130 µs longer than through VALUES, two records 50-60 µs. Larger rounds come under
 * load, where one statement of any size (and one plan) matters more than the parsing.
 */
export const VALUES_MAX = 4;

/** Linked only if the record a round follows is the chain's head in the table ($1 instance, then prev seq and hash). */
const linkedTo = (seq: string, hash: string) => `WHERE (${seq}::bigint = 0 AND NOT EXISTS (SELECT 1 FROM audit_records WHERE instance = $1))
     OR EXISTS (SELECT 1 FROM audit_records WHERE instance = $1 AND seq = ${seq} AND hash = ${hash})`;

const COLUMNS = 'INSERT INTO audit_records (instance, seq, time, record, hash)';

const ARRAYS = `${COLUMNS}
  SELECT $1, u.seq, u.time, u.record, u.hash FROM unnest($2::bigint[], $3::timestamptz[], $4::text[], $5::text[]) AS u(seq, time, record, hash)
  ${linkedTo('$6', '$7')}`;

/** The VALUES statement for rounds of `n` records: $1 instance, four parameters per record, then prev seq and hash. */
function valuesStatement(n: number): string {
  const rows = Array.from({ length: n }, (_, i) => {
    const p = 2 + 4 * i;
    return `($${p}::bigint, $${p + 1}::timestamptz, $${p + 2}::text, $${p + 3}::text)`;
  });
  return `${COLUMNS}
  SELECT $1, v.seq, v.time, v.record, v.hash FROM (VALUES ${rows.join(', ')}) AS v(seq, time, record, hash)
  ${linkedTo(`$${2 + 4 * n}`, `$${3 + 4 * n}`)}`;
}

const VALUES = Array.from({ length: VALUES_MAX + 1 }, (_, n) => (n ? valuesStatement(n) : ''));

/**
 * One round's INSERT: one statement, so one transaction and one WAL flush in autocommit. Named: each
 * form is parsed and planned once per connection, not on every round.
 */
export function roundInsert(instance: string, records: readonly AuditRecord[], prev: { seq: number; hash: string }): pg.QueryConfig {
  const n = records.length;
  if (n >= 1 && n <= VALUES_MAX) {
    return {
      name: `xaa-audit-append-${n}`,
      text: VALUES[n]!,
      values: [instance, ...records.flatMap((r) => [r.seq, r.time, JSON.stringify(r), r.hash]), prev.seq, prev.hash],
    };
  }
  return {
    name: 'xaa-audit-append',
    text: ARRAYS,
    values: [
      instance,
      records.map((r) => r.seq),
      records.map((r) => r.time),
      records.map((r) => JSON.stringify(r)),
      records.map((r) => r.hash),
      prev.seq,
      prev.hash,
    ],
  };
}
