/** Revoked access tokens (src/store/access-tokens.ts). */
import { describe, expect, it } from 'vitest';
import { MIN, T0, rid, type StoreFixture } from './fixture.js';

export function accessTokensContract(fx: StoreFixture): void {
  describe('revoked access tokens', () => {
    it('remembers a revoked jti', async () => {
      const jti = rid('jti');
      expect(await fx.store.isAccessTokenRevoked(jti)).toBe(false);
      await fx.store.revokeAccessToken(jti, T0 + MIN);
      await fx.store.revokeAccessToken(jti, T0 + MIN); // idempotent
      expect(await fx.store.isAccessTokenRevoked(jti)).toBe(true);
    });
  });
}
