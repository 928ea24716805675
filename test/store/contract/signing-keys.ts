/** Signing keys and their rotation (src/store/signing-keys.ts). */
import { describe, expect, it } from 'vitest';
import { MIN, T0, rid, type StoreFixture } from './fixture.js';

export function signingKeysContract(fx: StoreFixture): void {
  describe('signing keys', () => {
    it('rotation keeps the retired key listed with verifyUntil', async () => {
      const before = (await fx.store.listSigningKeys()).length;
      const oldKey = {
        kid: rid('kid-old'),
        alg: 'ES256' as const,
        privateJwk: { kty: 'EC', crv: 'P-256', x: 'x1', y: 'y1', d: 'secret-d-1' },
        publicJwk: { kty: 'EC', crv: 'P-256', x: 'x1', y: 'y1' },
        createdAt: T0 + 100,
      };
      const newKey = { ...oldKey, kid: rid('kid-new'), privateJwk: { ...oldKey.privateJwk, d: 'secret-d-2' }, createdAt: T0 + 200 };
      await fx.store.addSigningKey(oldKey);
      await fx.store.addSigningKey(newKey);
      await fx.store.retireSigningKey(oldKey.kid, T0 + 200, T0 + 215 * MIN);
      const keys = await fx.store.listSigningKeys();
      expect(keys).toHaveLength(before + 2);
      expect(keys.find((k) => k.kid === newKey.kid)).toEqual({ ...newKey, retiredAt: undefined, verifyUntil: undefined });
      expect(keys.find((k) => k.kid === oldKey.kid)).toEqual({ ...oldKey, retiredAt: T0 + 200, verifyUntil: T0 + 215 * MIN });
      expect(keys.findIndex((k) => k.kid === newKey.kid)).toBeLessThan(keys.findIndex((k) => k.kid === oldKey.kid));
      await expect(fx.store.retireSigningKey('no-such-kid', T0, T0)).rejects.toThrow(/no signing key/);
      await expect(fx.store.addSigningKey(newKey)).rejects.toThrow();
    });
  });
}
