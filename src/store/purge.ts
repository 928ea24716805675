import { purgeAuthChanges } from './auth-changes.js';
import type { Sql } from './sql.js';

/**
 * Deletes what can no longer be used: expired authorization requests and codes, expired refresh
 * tokens, revoked-jti rows past their token's expiry, retired signing keys past `verifyUntil`, expired
 * admin sessions, security event claims past the age at which their SET is refused anyway, redeemed
 * ID-JAG jtis past their assertion's expiry (a replay is refused by `exp` from then on), and the auth
 * change feed's old entries. Sessions, clients and consents are kept. One transaction: a purge either
 * happens whole or not at all.
 */
export async function purgeExpired(sql: Sql, now: number): Promise<void> {
  await sql.transaction(async (tx) => {
    await tx.query('DELETE FROM authorization_requests WHERE expires_at <= $1', [now]);
    await tx.query('DELETE FROM authorization_codes WHERE expires_at <= $1', [now]);
    await tx.query('DELETE FROM refresh_tokens WHERE expires_at <= $1', [now]);
    await tx.query('DELETE FROM revoked_access_tokens WHERE expires_at <= $1', [now]);
    await tx.query('DELETE FROM signing_keys WHERE retired_at IS NOT NULL AND verify_until <= $1', [now]);
    await tx.query('DELETE FROM admin_sessions WHERE expires_at <= $1', [now]);
    await tx.query('DELETE FROM security_events WHERE expires_at <= $1', [now]);
    await tx.query('DELETE FROM redeemed_assertions WHERE expires_at <= $1', [now]);
    await purgeAuthChanges(tx, now);
  });
}
