/**
 * Security events received (table security_events, src/ssf): each SET, by (transmitter iss, jti),
 * is acted on once across restarts and instances, by whoever claims it first.
 */
import type { Queryable } from './sql.js';

/**
 * The outcome of claiming a security event (src/ssf): 'claimed' by this caller, who must act on it
 * and then complete or release the claim; 'acted' on already; 'pending': another claim is in
 * progress (another instance, or this one before a restart that is not yet past its lease).
 */
export type SecurityEventClaim = 'claimed' | 'acted' | 'pending';

/** Security events (src/ssf): each SET, by (transmitter iss, jti), is acted on once across restarts and instances. */
export interface SecurityEventStore {
  /**
   * Claims (iss, jti) at `now`, atomically: 'claimed' when nobody has, or when a claim made at least
   * `leaseMs` ago was never completed or released (its process died); else 'acted' or 'pending'.
   * The row is kept until `expiresAt` (when the SET would be refused as too old); past it, it counts as absent.
   */
  claimSecurityEvent(iss: string, jti: string, expiresAt: number, now: number, leaseMs: number): Promise<SecurityEventClaim>;
  /** The event was acted on: later claims answer 'acted'. */
  completeSecurityEvent(iss: string, jti: string, at: number): Promise<void>;
  /** Acting failed: drops the claim made at `claimedAt` (not one taken over since), so a redelivery claims it again. */
  releaseSecurityEvent(iss: string, jti: string, claimedAt: number): Promise<void>;
}

/**
 * One statement, so concurrent claims on any engine serialize on the row: the INSERT wins when
 * there is no row; the conflict UPDATE takes over only an expired row or an abandoned claim.
 */
export async function claimSecurityEvent(q: Queryable, iss: string, jti: string, expiresAt: number, now: number, leaseMs: number): Promise<SecurityEventClaim> {
  // A claim released between the two statements leaves no row: claim again (bounded, never expected twice).
  for (let attempt = 0; attempt < 3; attempt++) {
    const claimed = await q.query(
      `INSERT INTO security_events (iss, jti, claimed_at, acted_at, expires_at) VALUES ($1, $2, $3, NULL, $4)
       ON CONFLICT (iss, jti) DO UPDATE SET claimed_at = EXCLUDED.claimed_at, acted_at = NULL, expires_at = EXCLUDED.expires_at
       WHERE security_events.expires_at <= $3 OR (security_events.acted_at IS NULL AND security_events.claimed_at <= $5)
       RETURNING claimed_at`,
      [iss, jti, now, expiresAt, now - leaseMs],
    );
    if (claimed.rowCount > 0) return 'claimed';
    const { rows } = await q.query('SELECT acted_at FROM security_events WHERE iss = $1 AND jti = $2', [iss, jti]);
    if (rows[0]) return rows[0].acted_at === null || rows[0].acted_at === undefined ? 'pending' : 'acted';
  }
  return 'pending';
}

export async function completeSecurityEvent(q: Queryable, iss: string, jti: string, at: number): Promise<void> {
  await q.query('UPDATE security_events SET acted_at = $3 WHERE iss = $1 AND jti = $2 AND acted_at IS NULL', [iss, jti, at]);
}

export async function releaseSecurityEvent(q: Queryable, iss: string, jti: string, claimedAt: number): Promise<void> {
  await q.query('DELETE FROM security_events WHERE iss = $1 AND jti = $2 AND claimed_at = $3 AND acted_at IS NULL', [iss, jti, claimedAt]);
}
