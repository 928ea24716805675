/**
 * ID-JAGs redeemed at the gateway's authorization server (table redeemed_assertions): each
 * (issuer, jti) once, across restarts and instances, until the assertion expires
 * (draft-parecki-oauth-identity-assertion-gateways §4: a gateway SHOULD reject an ID-JAG it has
 * already redeemed, so the client presents a fresh one).
 */
import type { Queryable } from './sql.js';

export interface RedeemedAssertionStore {
  /**
   * Records (iss, jti) as redeemed at `now`, atomically: true for the first redemption, false when it
   * was redeemed before and has not expired. `expiresAt` (epoch ms) is the last moment the assertion
   * could be accepted (its `exp` plus the clock skew the verifier allows): past it the row counts as
   * absent, since the assertion is refused as expired anyway.
   */
  redeemAssertion(iss: string, jti: string, expiresAt: number, now: number): Promise<boolean>;
}

/** One statement: concurrent redemptions on any engine serialize on the primary key, one wins. */
export async function redeemAssertion(q: Queryable, iss: string, jti: string, expiresAt: number, now: number): Promise<boolean> {
  const res = await q.query(
    `INSERT INTO redeemed_assertions (iss, jti, expires_at) VALUES ($1, $2, $3)
     ON CONFLICT (iss, jti) DO UPDATE SET expires_at = EXCLUDED.expires_at WHERE redeemed_assertions.expires_at <= $4
     RETURNING jti`,
    [iss, jti, expiresAt, now],
  );
  return res.rowCount > 0;
}
