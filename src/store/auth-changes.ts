/**
 * The auth change feed (migration 7): entries appended in the transaction of a change that can end
 * a credential's validity, NOTIFYed at its commit. Readers: src/store/auth-state.ts.
 */
import type { Queryable } from './sql.js';
import type { AuthChange } from './types.js';

/** NOTIFY channel of auth changes: per schema, like the tables (identifier, ≤ 63 bytes). */
export const authChannel = (schema: string) => `xaa_auth_${schema}`.slice(0, 63);

/** Entries are kept this long: an instance that has not read the feed for longer drops its whole cache instead. */
export const AUTH_CHANGES_KEPT_MS = 60 * 60_000;

/** Appends `changes` (in the caller's transaction) and, with `channel`, NOTIFYs at commit. */
export async function appendAuthChanges(tx: Queryable, changes: readonly AuthChange[], at: number, channel?: string): Promise<void> {
  if (changes.length === 0) return;
  await tx.query(
    `INSERT INTO auth_changes (kind, key, expires_at, at)
     SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[]) AS c(kind, key, expires_at), (SELECT $4::bigint) AS t(at)`,
    [changes.map((c) => c.kind), changes.map((c) => c.key), changes.map((c) => c.expiresAt ?? null), at],
  );
  if (channel) await tx.query('SELECT pg_notify($1, $2)', [channel, '']);
}

export async function authChangesSince(q: Queryable, seq: number, limit: number): Promise<{ changes: AuthChange[]; head: number }> {
  const { rows } = await q.query<{ seq: string; kind: string; key: string; expires_at: string | null }>(
    'SELECT seq, kind, key, expires_at FROM auth_changes WHERE seq > $1 ORDER BY seq LIMIT $2',
    [seq, limit],
  );
  const changes = rows.map((r): AuthChange => ({
    seq: Number(r.seq),
    kind: r.kind === 'jti' ? 'jti' : 'session',
    key: String(r.key),
    ...(r.expires_at === null || r.expires_at === undefined ? {} : { expiresAt: Number(r.expires_at) }),
  }));
  if (changes.length > 0) return { changes, head: changes[changes.length - 1]!.seq! };
  // Nothing newer: the head is the sequence's last value (not MAX(seq): purged rows would lower it),
  // lower than `seq` only when the feed restarted (a restored or recreated database).
  const { rows: h } = await q.query<{ last_value: string; is_called: boolean }>('SELECT last_value, is_called FROM auth_changes_seq_seq');
  return { changes, head: h[0]?.is_called ? Number(h[0].last_value) : 0 };
}

export async function purgeAuthChanges(tx: Queryable, now: number): Promise<void> {
  await tx.query('DELETE FROM auth_changes WHERE at <= $1', [now - AUTH_CHANGES_KEPT_MS]);
}
