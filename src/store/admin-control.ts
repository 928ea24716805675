/**
 * Admin control over users' sessions and the agents in them: the grants at a glance (refresh-token
 * families), and bulk revocation across user_sessions, refresh_tokens and authorization_codes in
 * one transaction, announced on the auth change feed.
 */
import type { AuthFeed } from './auth-feed.js';
import { num, parsed } from './rows.js';
import type { Queryable, Sql } from './sql.js';

/** One agent's standing grant within a user session: a refresh-token family (OAuth 2.1 §4.3.1). */
export interface RefreshFamily {
  familyId: string;
  sessionId: string;
  clientId: string;
  /** Scopes of the newest token of the family. */
  scopes: string[];
  /** When the family began (the code was redeemed) and when its newest token was issued. Epoch ms. */
  createdAt: number;
  lastIssuedAt: number;
  expiresAt: number;
  /** Every token of the family is revoked. */
  revoked: boolean;
}

/** What revoking sessions in bulk did (kill switches, security events). */
export interface SessionRevocation {
  /** Ids of the user sessions that were revoked now. */
  sessionIds: string[];
  refreshTokens: number;
}

/** Admin control: sessions and agents at a glance, bulk revocation. */
export interface AdminControlStore {
  listRefreshFamilies(filter?: { sessionId?: string; clientId?: string; activeOnly?: boolean }): Promise<RefreshFamily[]>;
  /**
   * Revokes, in one transaction, the active user sessions of a user, or those an agent signed in
   * with (it holds a refresh token or an unredeemed code from them), with all their refresh tokens;
   * for an agent also its refresh tokens in any other session.
   */
  revokeSessionsOf(filter: { user: { iss: string; sub: string } } | { clientId: string }, at: number): Promise<SessionRevocation>;
}

export async function listRefreshFamilies(
  q: Queryable,
  now: () => number,
  filter: { sessionId?: string; clientId?: string; activeOnly?: boolean } = {},
): Promise<RefreshFamily[]> {
  // The newest token of each family carries its current scopes; a family is live while any token is.
  const { rows } = await q.query(
    `SELECT family_id, session_id, client_id,
            (ARRAY_AGG(scopes ORDER BY created_at DESC))[1] AS scopes,
            MIN(created_at) AS created_at, MAX(created_at) AS last_issued_at, MAX(expires_at) AS expires_at,
            BOOL_AND(revoked_at IS NOT NULL) AS revoked
     FROM refresh_tokens
     WHERE ($1::text IS NULL OR session_id = $1) AND ($2::text IS NULL OR client_id = $2)
     GROUP BY family_id, session_id, client_id
     HAVING NOT $3::boolean OR (BOOL_OR(revoked_at IS NULL AND rotated_at IS NULL) AND MAX(expires_at) > $4)
     ORDER BY MIN(created_at), family_id`,
    [filter.sessionId ?? null, filter.clientId ?? null, filter.activeOnly ?? false, now()],
  );
  return rows.map((r) => ({
    familyId: String(r.family_id),
    sessionId: String(r.session_id),
    clientId: String(r.client_id),
    scopes: parsed<string[]>(r.scopes),
    createdAt: num(r.created_at),
    lastIssuedAt: num(r.last_issued_at),
    expiresAt: num(r.expires_at),
    revoked: Boolean(r.revoked),
  }));
}

export async function revokeSessionsOf(
  sql: Sql,
  feed: AuthFeed,
  filter: { user: { iss: string; sub: string } } | { clientId: string },
  at: number,
): Promise<SessionRevocation> {
  const out = await sql.transaction(async (tx): Promise<SessionRevocation> => {
    let sessions;
    let refresh = 0;
    if ('user' in filter) {
      sessions = await tx.query<{ id: string }>(
        'UPDATE user_sessions SET revoked_at = $3, updated_at = $3 WHERE iss = $1 AND sub = $2 AND revoked_at IS NULL RETURNING id',
        [filter.user.iss, filter.user.sub, at],
      );
    } else {
      sessions = await tx.query<{ id: string }>(
        `UPDATE user_sessions SET revoked_at = $2, updated_at = $2
         WHERE revoked_at IS NULL AND id IN (SELECT session_id FROM refresh_tokens WHERE client_id = $1
                                             UNION SELECT session_id FROM authorization_codes WHERE client_id = $1)
         RETURNING id`,
        [filter.clientId, at],
      );
      refresh += (await tx.query('UPDATE refresh_tokens SET revoked_at = $2 WHERE client_id = $1 AND revoked_at IS NULL', [filter.clientId, at])).rowCount;
      await tx.query('DELETE FROM authorization_codes WHERE client_id = $1', [filter.clientId]);
    }
    const ids = sessions.rows.map((r) => String(r.id));
    if (ids.length) {
      refresh += (await tx.query('UPDATE refresh_tokens SET revoked_at = $2 WHERE session_id = ANY($1::text[]) AND revoked_at IS NULL', [ids, at])).rowCount;
      await tx.query('DELETE FROM authorization_codes WHERE session_id = ANY($1::text[])', [ids]);
      await feed.append(
        tx,
        ids.map((key) => ({ kind: 'session', key })),
      );
    }
    return { sessionIds: ids, refreshTokens: refresh };
  });
  feed.announce(out.sessionIds.map((key) => ({ kind: 'session', key })));
  return out;
}
