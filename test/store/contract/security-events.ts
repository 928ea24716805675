/** Security events, claimed once (src/store/security-events.ts). */
import { describe, expect, it } from 'vitest';
import { MIN, T0, rid, type StoreFixture } from './fixture.js';

export function securityEventsContract(fx: StoreFixture): void {
  const { raw, reopen } = fx;
  describe('security events: each (iss, jti) claimed once, across restarts and instances', () => {
    const ISS = 'https://idp.example';
    const LEASE = 2 * MIN;
    const EXP = T0 + 60 * MIN;
    const row = async (jti: string, iss = ISS) =>
      (
        await raw<{ claimed_at: unknown; acted_at: unknown; expires_at: unknown }>(
          'SELECT claimed_at, acted_at, expires_at FROM security_events WHERE iss = $1 AND jti = $2',
          [iss, jti],
        )
      ).map((r) => ({
        claimedAt: Number(r.claimed_at),
        actedAt: r.acted_at === null ? null : Number(r.acted_at),
        expiresAt: Number(r.expires_at),
      }));

    it('a table of claims: first, in progress, acted, released, abandoned, expired, another transmitter', async () => {
      const jti = rid('jti');
      const steps: Array<[string, () => Promise<unknown>, unknown]> = [
        ['first claim', () => fx.store.claimSecurityEvent(ISS, jti, EXP, T0, LEASE), 'claimed'],
        ['again while in progress', () => fx.store.claimSecurityEvent(ISS, jti, EXP, T0 + 1000, LEASE), 'pending'],
        ['the same jti from another transmitter is another event', () => fx.store.claimSecurityEvent('https://other.example', jti, EXP, T0, LEASE), 'claimed'],
        ['a release with another claim time leaves the claim', () => fx.store.releaseSecurityEvent(ISS, jti, T0 + 1), undefined],
        ['so it is still in progress', () => fx.store.claimSecurityEvent(ISS, jti, EXP, T0 + 2000, LEASE), 'pending'],
        ['release by its claimer', () => fx.store.releaseSecurityEvent(ISS, jti, T0), undefined],
        ['claimed again after the release', () => fx.store.claimSecurityEvent(ISS, jti, EXP, T0 + 3000, LEASE), 'claimed'],
        ['completed', () => fx.store.completeSecurityEvent(ISS, jti, T0 + 4000), undefined],
        ['then acted, also long after the lease', () => fx.store.claimSecurityEvent(ISS, jti, EXP, T0 + 30 * MIN, LEASE), 'acted'],
        ['a release after completion changes nothing', () => fx.store.releaseSecurityEvent(ISS, jti, T0 + 3000), undefined],
        ['still acted', () => fx.store.claimSecurityEvent(ISS, jti, EXP, T0 + 5000, LEASE), 'acted'],
        ['past its expiry the row counts as absent', () => fx.store.claimSecurityEvent(ISS, jti, EXP + 60 * MIN, EXP, LEASE), 'claimed'],
      ];
      const results = [];
      for (const [, step] of steps) results.push(await step());
      expect(results).toEqual(steps.map(([, , want]) => want));
      expect(await row(jti)).toEqual([{ claimedAt: EXP, actedAt: null, expiresAt: EXP + 60 * MIN }]);
    });

    it('a claim never completed is taken over after its lease; the old claimer can no longer release it', async () => {
      const jti = rid('jti');
      expect(await fx.store.claimSecurityEvent(ISS, jti, EXP, T0, LEASE)).toBe('claimed');
      expect(await fx.store.claimSecurityEvent(ISS, jti, EXP, T0 + LEASE - 1, LEASE)).toBe('pending');
      expect(await fx.store.claimSecurityEvent(ISS, jti, EXP, T0 + LEASE, LEASE)).toBe('claimed');
      await fx.store.releaseSecurityEvent(ISS, jti, T0);
      expect(await row(jti)).toEqual([{ claimedAt: T0 + LEASE, actedAt: null, expiresAt: EXP }]);
      await fx.store.completeSecurityEvent(ISS, jti, T0 + LEASE + 1);
      expect(await row(jti)).toEqual([{ claimedAt: T0 + LEASE, actedAt: T0 + LEASE + 1, expiresAt: EXP }]);
    });

    it('concurrent claims: exactly one wins', async () => {
      const jti = rid('jti');
      const results = await Promise.all([1, 2, 3, 4, 5].map(() => fx.store.claimSecurityEvent(ISS, jti, EXP, T0, LEASE)));
      expect(results.filter((r) => r === 'claimed')).toHaveLength(1);
      expect(results.filter((r) => r === 'pending')).toHaveLength(4);
    });

    it('survive a restart', async () => {
      const jti = rid('jti');
      expect(await fx.store.claimSecurityEvent(ISS, jti, EXP, T0, LEASE)).toBe('claimed');
      await fx.store.completeSecurityEvent(ISS, jti, T0);
      await reopen();
      expect(await fx.store.claimSecurityEvent(ISS, jti, EXP, T0 + 1000, LEASE)).toBe('acted');
    });
  });
}
