/**
 * Users' sign-ins at the enterprise IdP (table user_sessions). The ID token and the IdP refresh
 * token are encrypted at rest, bound to their row; every write that makes a cached copy stale goes
 * to the auth change feed in its transaction.
 */
import { randomBytes } from 'node:crypto';
import type { AuthChange, AuthFeed } from './auth-feed.js';
import type { SecretBox } from './crypto.js';
import { aad, num, optNum, optStr, type Row } from './rows.js';
import type { Queryable, Sql } from './sql.js';

/** A user's sign-in at the enterprise IdP, held by the gateway so it can request ID-JAGs for them. */
export interface UserSession {
  /** Gateway session id (random, opaque); carried as `sid` in gateway access tokens. */
  id: string;
  iss: string;
  sub: string;
  email?: string;
  name?: string;
  /**
   * The token-exchange subject token. Secret. The user's current IdP ID token for a browser sign-in;
   * for an enterprise-managed sign-in (`subjectTokenType: 'id-jag'`) the ID-JAG the client redeemed,
   * kept only until it expires or the session ends (then it is wiped: empty string).
   */
  idToken: string;
  /** Epoch ms: when `idToken` expires. */
  idTokenExpiresAt: number;
  /**
   * 'id-jag': an enterprise-managed sign-in (jwt-bearer grant with an ID-JAG, SEP-990); downstream
   * ID-JAGs come from the chained exchange (draft-parecki-oauth-identity-assertion-gateways §3) and
   * the session cannot be renewed. Absent: a browser sign-in holding the user's ID token.
   */
  subjectTokenType?: 'id-jag';
  /** The user's IdP refresh token, decrypted. Secret. */
  idpRefreshToken?: string;
  createdAt: number;
  updatedAt: number;
  /** Set when the user signed out or an admin / the IdP revoked the session. */
  revokedAt?: number;
}

/** Users' IdP sessions. */
export interface UserSessionStore {
  createUserSession(s: Omit<UserSession, 'id' | 'createdAt' | 'updatedAt' | 'revokedAt'>): Promise<UserSession>;
  getUserSession(id: string): Promise<UserSession | undefined>;
  updateUserSessionTokens(id: string, t: { idToken: string; idTokenExpiresAt: number; idpRefreshToken?: string }): Promise<void>;
  revokeUserSession(id: string, at: number): Promise<boolean>;
  /** Wipes the ID-JAG of every enterprise-managed session past its expiry and ends the session; returns how many. */
  wipeExpiredAssertions(now: number): Promise<number>;
  listUserSessions(filter?: { iss?: string; sub?: string; activeOnly?: boolean }): Promise<UserSession[]>;
}

export async function createUserSession(
  q: Queryable,
  box: SecretBox,
  now: () => number,
  s: Omit<UserSession, 'id' | 'createdAt' | 'updatedAt' | 'revokedAt'>,
): Promise<UserSession> {
  const id = randomBytes(18).toString('base64url');
  const at = now();
  await q.query(
    `INSERT INTO user_sessions (id, iss, sub, email, name, id_token_enc, id_token_expires_at, idp_refresh_token_enc, created_at, updated_at, subject_token_type)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10)`,
    [
      id,
      s.iss,
      s.sub,
      s.email ?? null,
      s.name ?? null,
      box.encrypt(s.idToken, aad.idToken(id)),
      s.idTokenExpiresAt,
      s.idpRefreshToken === undefined ? null : box.encrypt(s.idpRefreshToken, aad.idpRefreshToken(id)),
      at,
      s.subjectTokenType ?? null,
    ],
  );
  return { ...s, id, createdAt: at, updatedAt: at };
}

export async function getUserSession(q: Queryable, box: SecretBox, id: string): Promise<UserSession | undefined> {
  const { rows } = await q.query('SELECT * FROM user_sessions WHERE id = $1', [id]);
  return rows[0] && toSession(box, rows[0]);
}

export async function updateUserSessionTokens(
  sql: Sql,
  box: SecretBox,
  feed: AuthFeed,
  now: () => number,
  id: string,
  t: { idToken: string; idTokenExpiresAt: number; idpRefreshToken?: string },
): Promise<void> {
  const changes: AuthChange[] = [{ kind: 'session', key: id }];
  await sql.transaction(async (tx) => {
    // An IdP may answer a refresh without a new refresh token (RFC 6749 §6): keep the old one then.
    await tx.query(
      `UPDATE user_sessions SET id_token_enc = $2, id_token_expires_at = $3,
         idp_refresh_token_enc = COALESCE($4, idp_refresh_token_enc), updated_at = $5
       WHERE id = $1`,
      [
        id,
        box.encrypt(t.idToken, aad.idToken(id)),
        t.idTokenExpiresAt,
        t.idpRefreshToken === undefined ? null : box.encrypt(t.idpRefreshToken, aad.idpRefreshToken(id)),
        now(),
      ],
    );
    // Other instances' cached copies hold the old tokens (a rotated IdP refresh token is spent).
    await feed.append(tx, changes);
  });
  feed.announce(changes);
}

/**
 * Signs the session out and, in the same transaction, revokes its refresh tokens and drops its
 * unredeemed authorization codes: nothing minted from a signed-out session stays usable.
 * Returns false when the session is unknown or already revoked.
 */
export async function revokeUserSession(sql: Sql, feed: AuthFeed, id: string, at: number): Promise<boolean> {
  const revoked = await sql.transaction(async (tx) => {
    // An enterprise-managed session's ID-JAG goes with it (draft-parecki-oauth-identity-assertion-gateways §4).
    const res = await tx.query(
      `UPDATE user_sessions SET revoked_at = $2, updated_at = $2,
         id_token_enc = CASE WHEN subject_token_type = 'id-jag' THEN '' ELSE id_token_enc END
       WHERE id = $1 AND revoked_at IS NULL`,
      [id, at],
    );
    if (res.rowCount === 0) return false;
    await tx.query('UPDATE refresh_tokens SET revoked_at = $2 WHERE session_id = $1 AND revoked_at IS NULL', [id, at]);
    await tx.query('DELETE FROM authorization_codes WHERE session_id = $1', [id]);
    await feed.append(tx, [{ kind: 'session', key: id }]);
    return true;
  });
  if (revoked) feed.announce([{ kind: 'session', key: id }]);
  return revoked;
}

export async function listUserSessions(
  q: Queryable,
  box: SecretBox,
  filter: { iss?: string; sub?: string; activeOnly?: boolean } = {},
): Promise<UserSession[]> {
  const { rows } = await q.query(
    `SELECT * FROM user_sessions
     WHERE ($1::text IS NULL OR iss = $1) AND ($2::text IS NULL OR sub = $2) AND (NOT $3::boolean OR revoked_at IS NULL)
     ORDER BY created_at, id`,
    [filter.iss ?? null, filter.sub ?? null, filter.activeOnly ?? false],
  );
  return rows.map((r) => toSession(box, r));
}

function toSession(box: SecretBox, r: Row): UserSession {
  const id = String(r.id);
  return {
    id,
    iss: String(r.iss),
    sub: String(r.sub),
    email: optStr(r.email),
    name: optStr(r.name),
    // '' : an ID-JAG wiped at its expiry or at sign-out (wipeExpiredAssertions, revokeUserSession).
    idToken: r.id_token_enc === '' ? '' : box.decrypt(String(r.id_token_enc), aad.idToken(id)),
    idTokenExpiresAt: num(r.id_token_expires_at),
    idpRefreshToken: r.idp_refresh_token_enc == null ? undefined : box.decrypt(String(r.idp_refresh_token_enc), aad.idpRefreshToken(id)),
    createdAt: num(r.created_at),
    updatedAt: num(r.updated_at),
    revokedAt: optNum(r.revoked_at),
    ...(r.subject_token_type === 'id-jag' ? { subjectTokenType: 'id-jag' as const } : {}),
  };
}

/**
 * draft-parecki-oauth-identity-assertion-gateways §4: the gateway MUST NOT retain an ID-JAG beyond
 * the lifetime of the access tokens issued for it (which never outlive it). Wipes every expired one
 * and ends its session, in one statement; returns how many went.
 */
export async function wipeExpiredAssertions(sql: Sql, feed: AuthFeed, now: number): Promise<number> {
  const ended = await sql.transaction(async (tx) => {
    const { rows } = await tx.query(
      `UPDATE user_sessions SET id_token_enc = '', revoked_at = COALESCE(revoked_at, id_token_expires_at), updated_at = $1
       WHERE subject_token_type = 'id-jag' AND id_token_expires_at <= $1 AND id_token_enc <> ''
       RETURNING id`,
      [now],
    );
    const changes: AuthChange[] = rows.map((r) => ({ kind: 'session', key: String(r.id) }));
    if (changes.length) await feed.append(tx, changes);
    return changes;
  });
  if (ended.length) feed.announce(ended);
  return ended.length;
}
