/** Refresh token rotation and revocation (src/store/refresh-tokens.ts). */
import { describe, expect, it } from 'vitest';
import type { RotateResult } from '../../../src/store/index.js';
import { MIN, T0, rid, type StoreFixture } from './fixture.js';

export function refreshTokensContract(fx: StoreFixture): void {
  const { raw, newSession, newRefresh, nextOf } = fx;
  describe('refresh token rotation (OAuth 2.1 §4.3.1, RFC 9700 §4.14.2)', () => {
    it('ok: marks the old one rotated and stores the next in the same family', async () => {
      const old = await newRefresh();
      const next = nextOf();
      const res = await fx.store.rotateRefreshToken(old.tokenHash, next, T0 + MIN);
      const expected = { ...next, familyId: old.familyId, sessionId: old.sessionId, clientId: old.clientId };
      expect(res).toEqual({ ok: true, record: expected });
      expect(await fx.store.getRefreshToken(next.tokenHash)).toEqual({ ...expected, rotatedAt: undefined, revokedAt: undefined });
      expect((await fx.store.getRefreshToken(old.tokenHash))?.rotatedAt).toBe(T0 + MIN);
    });

    it('a table of outcomes', async () => {
      const cases: Array<[string, () => Promise<string>, RotateResult]> = [
        ['unknown', async () => 'no-such-hash', { ok: false, reason: 'unknown' }],
        ['expired', async () => (await newRefresh({ expiresAt: T0 + MIN })).tokenHash, { ok: false, reason: 'expired' }],
        [
          'revoked',
          async () => {
            const r = await newRefresh();
            expect(await fx.store.revokeRefreshFamily(r.familyId, T0)).toBe(1);
            return r.tokenHash;
          },
          { ok: false, reason: 'revoked' },
        ],
        [
          'reused',
          async () => {
            const r = await newRefresh();
            expect((await fx.store.rotateRefreshToken(r.tokenHash, nextOf(), T0)).ok).toBe(true);
            return r.tokenHash;
          },
          { ok: false, reason: 'reused' },
        ],
      ];
      for (const [label, setup, expected] of cases) {
        const hash = await setup();
        expect(await fx.store.rotateRefreshToken(hash, nextOf(), T0 + MIN), label).toEqual(expected);
      }
    });

    it('reuse revokes the whole family: the legitimate newer token dies too', async () => {
      const a = await newRefresh();
      const b = nextOf();
      const c = nextOf();
      expect((await fx.store.rotateRefreshToken(a.tokenHash, b, T0 + 1)).ok).toBe(true);
      expect((await fx.store.rotateRefreshToken(b.tokenHash, c, T0 + 2)).ok).toBe(true);
      const unrelated = await newRefresh({ sessionId: a.sessionId });
      // An attacker replays `a`.
      expect(await fx.store.rotateRefreshToken(a.tokenHash, nextOf(), T0 + 3)).toEqual({ ok: false, reason: 'reused' });
      for (const h of [a.tokenHash, b.tokenHash, c.tokenHash]) expect((await fx.store.getRefreshToken(h))?.revokedAt, h).toBe(T0 + 3);
      expect(await fx.store.rotateRefreshToken(c.tokenHash, nextOf(), T0 + 4)).toEqual({ ok: false, reason: 'revoked' });
      expect((await fx.store.getRefreshToken(unrelated.tokenHash))?.revokedAt).toBeUndefined();
    });

    it('a rotated token replayed after its expiry is still reuse', async () => {
      const a = await newRefresh({ expiresAt: T0 + MIN });
      const b = nextOf();
      expect((await fx.store.rotateRefreshToken(a.tokenHash, b, T0)).ok).toBe(true);
      expect(await fx.store.rotateRefreshToken(a.tokenHash, nextOf(), T0 + 2 * MIN)).toEqual({ ok: false, reason: 'reused' });
      expect((await fx.store.getRefreshToken(b.tokenHash))?.revokedAt).toBe(T0 + 2 * MIN);
    });

    it('two concurrent rotations of one token: one ok, one reused, and the family is dead', async () => {
      for (let i = 0; i < 3; i++) {
        const a = await newRefresh();
        const results = await Promise.all([
          fx.store.rotateRefreshToken(a.tokenHash, nextOf(), T0 + 1),
          fx.store.rotateRefreshToken(a.tokenHash, nextOf(), T0 + 1),
        ]);
        const reasons = results.map((r) => (r.ok ? 'ok' : r.reason)).sort();
        expect(reasons).toEqual(['ok', 'reused']);
        const winner = results.find((r): r is Extract<RotateResult, { ok: true }> => r.ok);
        expect((await fx.store.getRefreshToken(winner!.record.tokenHash))?.revokedAt).toBe(T0 + 1);
        expect(await raw('SELECT 1 FROM refresh_tokens WHERE family_id = $1', [a.familyId])).toHaveLength(2);
      }
    });

    it('revokes by family, session and client; an empty filter is refused', async () => {
      const s = await newSession();
      const client = rid('agent');
      const r1 = await newRefresh({ sessionId: s.id, clientId: client });
      const r2 = await newRefresh({ sessionId: s.id });
      const r3 = await newRefresh({ clientId: client });
      expect(await fx.store.revokeRefreshTokensOf({ clientId: client }, T0 + 1)).toBe(2);
      expect(await fx.store.revokeRefreshTokensOf({ clientId: client }, T0 + 2)).toBe(0);
      expect(await fx.store.revokeRefreshTokensOf({ sessionId: s.id }, T0 + 3)).toBe(1);
      expect((await fx.store.getRefreshToken(r1.tokenHash))?.revokedAt).toBe(T0 + 1);
      expect((await fx.store.getRefreshToken(r2.tokenHash))?.revokedAt).toBe(T0 + 3);
      expect((await fx.store.getRefreshToken(r3.tokenHash))?.revokedAt).toBe(T0 + 1);
      await expect(fx.store.revokeRefreshTokensOf({}, T0)).rejects.toThrow(/sessionId or a clientId/);
      expect(await fx.store.getRefreshToken('nope')).toBeUndefined();
    });
  });
}
