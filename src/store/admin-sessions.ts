/**
 * Browser admin sessions (table admin_sessions, src/admin): made at an admin's sign-in, found by
 * the hash of their cookie, ended by sign-out, revocation or expiry.
 */
import { num } from './rows.js';
import type { Queryable } from './sql.js';

/** A browser admin session (src/admin). The cookie value itself is never stored: only its SHA-256. */
export interface AdminSession {
  idHash: string;
  iss: string;
  sub: string;
  email?: string;
  name?: string;
  /** SHA-256 (hex) of the CSRF token the browser must echo on unsafe requests (the token is derived from the cookie, src/admin/auth.ts). */
  csrf: string;
  createdAt: number;
  expiresAt: number;
  revokedAt?: number;
}

/** Browser admin sessions (src/admin). */
export interface AdminSessionStore {
  createAdminSession(s: AdminSession): Promise<void>;
  /** Unexpired and not revoked, else undefined. */
  getAdminSession(idHash: string, now: number): Promise<AdminSession | undefined>;
  revokeAdminSession(idHash: string, at: number): Promise<boolean>;
  revokeAdminSessionsOf(user: { iss: string; sub: string }, at: number): Promise<number>;
}

export async function createAdminSession(q: Queryable, s: AdminSession): Promise<void> {
  await q.query(
    `INSERT INTO admin_sessions (id_hash, iss, sub, email, name, csrf, created_at, expires_at, revoked_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
    [s.idHash, s.iss, s.sub, s.email ?? null, s.name ?? null, s.csrf, s.createdAt, s.expiresAt, s.revokedAt ?? null],
  );
}

export async function getAdminSession(q: Queryable, idHash: string, now: number): Promise<AdminSession | undefined> {
  const { rows } = await q.query('SELECT * FROM admin_sessions WHERE id_hash = $1 AND expires_at > $2 AND revoked_at IS NULL', [idHash, now]);
  const r = rows[0];
  if (!r) return undefined;
  return {
    idHash: String(r.id_hash),
    iss: String(r.iss),
    sub: String(r.sub),
    ...(r.email == null ? {} : { email: String(r.email) }),
    ...(r.name == null ? {} : { name: String(r.name) }),
    csrf: String(r.csrf),
    createdAt: num(r.created_at),
    expiresAt: num(r.expires_at),
  };
}

export async function revokeAdminSession(q: Queryable, idHash: string, at: number): Promise<boolean> {
  const res = await q.query('UPDATE admin_sessions SET revoked_at = $2 WHERE id_hash = $1 AND revoked_at IS NULL', [idHash, at]);
  return res.rowCount > 0;
}

export async function revokeAdminSessionsOf(q: Queryable, user: { iss: string; sub: string }, at: number): Promise<number> {
  const res = await q.query('UPDATE admin_sessions SET revoked_at = $3 WHERE iss = $1 AND sub = $2 AND revoked_at IS NULL', [user.iss, user.sub, at]);
  return res.rowCount;
}
