/**
 * The refresh tokens the gateway issues to agents (table refresh_tokens, stored only as SHA-256
 * hashes), grouped in families: rotated on each use, and reuse of a rotated one revokes its whole
 * family (OAuth 2.1 §4.3.1).
 */
import { GatewayError } from '../errors.js';
import { json, num, optNum, parsed, type Row } from './rows.js';
import type { Queryable, Sql } from './sql.js';

export interface RefreshTokenRecord {
  tokenHash: string;
  familyId: string;
  sessionId: string;
  clientId: string;
  scopes: string[];
  resource: string;
  createdAt: number;
  expiresAt: number;
  /** RFC 9449 §5: the DPoP key (`jkt`) a public client's refresh must prove; kept through rotation. */
  dpopJkt?: string;
  /** Set once exchanged for a new one; presenting it again is reuse. */
  rotatedAt?: number;
  revokedAt?: number;
}

/** What a rotation sets; the family, session, client and DPoP binding are the old token's. */
export type RotatedRefreshToken = Omit<RefreshTokenRecord, 'familyId' | 'sessionId' | 'clientId' | 'dpopJkt'>;

export type RotateResult = { ok: true; record: RefreshTokenRecord } | { ok: false; reason: 'unknown' | 'expired' | 'revoked' | 'reused' };

/** Refresh tokens, rotated; reuse of a rotated one revokes its whole family (OAuth 2.1 §4.3.1). */
export interface RefreshTokenStore {
  saveRefreshToken(r: RefreshTokenRecord): Promise<void>;
  /** Atomically marks `oldHash` rotated and stores `next` in the same family; on reuse revokes the family. */
  rotateRefreshToken(oldHash: string, next: RotatedRefreshToken, now: number): Promise<RotateResult>;
  getRefreshToken(tokenHash: string): Promise<RefreshTokenRecord | undefined>;
  revokeRefreshFamily(familyId: string, at: number): Promise<number>;
  revokeRefreshTokensOf(filter: { sessionId?: string; clientId?: string }, at: number): Promise<number>;
}

export async function saveRefreshToken(q: Queryable, r: RefreshTokenRecord): Promise<void> {
  await q.query(
    `INSERT INTO refresh_tokens (token_hash, family_id, session_id, client_id, scopes, resource, created_at, expires_at, rotated_at, revoked_at, dpop_jkt)
     VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9, $10, $11)`,
    [
      r.tokenHash,
      r.familyId,
      r.sessionId,
      r.clientId,
      json(r.scopes),
      r.resource,
      r.createdAt,
      r.expiresAt,
      r.rotatedAt ?? null,
      r.revokedAt ?? null,
      r.dpopJkt ?? null,
    ],
  );
}

/**
 * Refresh token rotation with reuse detection (OAuth 2.1 §4.3.1, RFC 9700 §4.14.2). The row lock
 * (FOR UPDATE) serializes concurrent presentations of one token: the first rotates it, the second
 * then sees it rotated and revokes the family. A rotated token presented again is reported as
 * reuse even when it has since expired: it is evidence of theft either way, and the family may
 * still hold a live token.
 */
export async function rotateRefreshToken(sql: Sql, oldHash: string, next: RotatedRefreshToken, now: number): Promise<RotateResult> {
  return sql.transaction(async (tx): Promise<RotateResult> => {
    const { rows } = await tx.query('SELECT * FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE', [oldHash]);
    const row = rows[0];
    if (!row) return { ok: false, reason: 'unknown' };
    const old = toRefresh(row);
    if (old.revokedAt !== undefined) return { ok: false, reason: 'revoked' };
    if (old.rotatedAt !== undefined) {
      await tx.query('UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL', [old.familyId, now]);
      return { ok: false, reason: 'reused' };
    }
    if (old.expiresAt <= now) return { ok: false, reason: 'expired' };
    await tx.query('UPDATE refresh_tokens SET rotated_at = $2 WHERE token_hash = $1', [oldHash, now]);
    const record: RefreshTokenRecord = {
      tokenHash: next.tokenHash,
      familyId: old.familyId,
      sessionId: old.sessionId,
      clientId: old.clientId,
      ...(old.dpopJkt !== undefined ? { dpopJkt: old.dpopJkt } : {}),
      scopes: next.scopes,
      resource: next.resource,
      createdAt: next.createdAt,
      expiresAt: next.expiresAt,
    };
    await saveRefreshToken(tx, record);
    return { ok: true, record };
  });
}

export async function getRefreshToken(q: Queryable, tokenHash: string): Promise<RefreshTokenRecord | undefined> {
  const { rows } = await q.query('SELECT * FROM refresh_tokens WHERE token_hash = $1', [tokenHash]);
  return rows[0] && toRefresh(rows[0]);
}

export async function revokeRefreshFamily(q: Queryable, familyId: string, at: number): Promise<number> {
  const res = await q.query('UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL', [familyId, at]);
  return res.rowCount;
}

export async function revokeRefreshTokensOf(q: Queryable, filter: { sessionId?: string; clientId?: string }, at: number): Promise<number> {
  if (filter.sessionId === undefined && filter.clientId === undefined) {
    // An empty filter would revoke every refresh token of every user: refuse rather than guess.
    throw new GatewayError('internal', 'revokeRefreshTokensOf needs a sessionId or a clientId');
  }
  const res = await q.query(
    `UPDATE refresh_tokens SET revoked_at = $3
     WHERE ($1::text IS NULL OR session_id = $1) AND ($2::text IS NULL OR client_id = $2) AND revoked_at IS NULL`,
    [filter.sessionId ?? null, filter.clientId ?? null, at],
  );
  return res.rowCount;
}

function toRefresh(r: Row): RefreshTokenRecord {
  return {
    tokenHash: String(r.token_hash),
    familyId: String(r.family_id),
    sessionId: String(r.session_id),
    clientId: String(r.client_id),
    scopes: parsed<string[]>(r.scopes),
    resource: String(r.resource),
    createdAt: num(r.created_at),
    expiresAt: num(r.expires_at),
    rotatedAt: optNum(r.rotated_at),
    revokedAt: optNum(r.revoked_at),
    ...(r.dpop_jkt == null ? {} : { dpopJkt: String(r.dpop_jkt) }),
  };
}
