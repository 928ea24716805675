/**
 * Revoked gateway access tokens, by jti (table revoked_access_tokens), kept until they would have
 * expired anyway. A revocation goes to the auth change feed in its transaction, so every
 * instance's in-memory set (auth-state.ts) learns it.
 */
import type { AuthChange, AuthFeed } from './auth-feed.js';
import { num } from './rows.js';
import type { Queryable, Sql } from './sql.js';

/** Revoked access tokens (by jti) until they would have expired anyway. */
export interface AccessTokenStore {
  revokeAccessToken(jti: string, expiresAt: number): Promise<void>;
  isAccessTokenRevoked(jti: string): Promise<boolean>;
  /** Revoked jtis that have not expired at `now`, with their expiry (the in-memory set's initial load). */
  listRevokedAccessTokens(now: number): Promise<Array<{ jti: string; expiresAt: number }>>;
}

export async function revokeAccessToken(sql: Sql, feed: AuthFeed, jti: string, expiresAt: number): Promise<void> {
  const changes: AuthChange[] = [{ kind: 'jti', key: jti, expiresAt }];
  await sql.transaction(async (tx) => {
    await tx.query(
      `INSERT INTO revoked_access_tokens (jti, expires_at) VALUES ($1, $2)
       ON CONFLICT (jti) DO UPDATE SET expires_at = GREATEST(revoked_access_tokens.expires_at, EXCLUDED.expires_at)`,
      [jti, expiresAt],
    );
    await feed.append(tx, changes);
  });
  feed.announce(changes);
}

export async function isAccessTokenRevoked(q: Queryable, jti: string): Promise<boolean> {
  const { rows } = await q.query('SELECT 1 AS one FROM revoked_access_tokens WHERE jti = $1', [jti]);
  return rows.length > 0;
}

export async function listRevokedAccessTokens(q: Queryable, now: number): Promise<Array<{ jti: string; expiresAt: number }>> {
  const { rows } = await q.query('SELECT jti, expires_at FROM revoked_access_tokens WHERE expires_at > $1', [now]);
  return rows.map((r) => ({ jti: String(r.jti), expiresAt: num(r.expires_at) }));
}
