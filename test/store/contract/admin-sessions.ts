/** Browser admin sessions (src/store/admin-sessions.ts). */
import { describe, expect, it } from 'vitest';
import { MIN, T0, rid, type StoreFixture } from './fixture.js';

export function adminSessionsContract(fx: StoreFixture): void {
  describe('admin sessions', () => {
    it('round trip; expired, revoked and unknown ones are not returned', async () => {
      const base = { iss: 'https://idp.example', sub: rid('admin'), csrf: 'csrf-1', createdAt: T0, expiresAt: T0 + 60 * MIN };
      const a = { ...base, idHash: rid('h'), email: 'ada@example.com', name: 'Ada' };
      const b = { ...base, idHash: rid('h') };
      await fx.store.createAdminSession(a);
      await fx.store.createAdminSession(b);
      expect(await fx.store.getAdminSession(a.idHash, T0)).toEqual(a);
      expect(await fx.store.getAdminSession(b.idHash, T0)).toEqual(b);
      expect(await fx.store.getAdminSession(a.idHash, T0 + 60 * MIN)).toBeUndefined();
      expect(await fx.store.revokeAdminSession(a.idHash, T0 + 1)).toBe(true);
      expect(await fx.store.revokeAdminSession(a.idHash, T0 + 2)).toBe(false);
      expect(await fx.store.getAdminSession(a.idHash, T0)).toBeUndefined();
      expect(await fx.store.revokeAdminSessionsOf({ iss: base.iss, sub: base.sub }, T0 + 3)).toBe(1);
      expect(await fx.store.getAdminSession(b.idHash, T0)).toBeUndefined();
      expect(await fx.store.getAdminSession('unknown', T0)).toBeUndefined();
    });
  });
}
