/** Encryption at rest (src/store/crypto.ts, key-check.ts). */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../../src/errors.js';
import { KEY, OTHER_KEY, T0, rid, type StoreFixture } from './fixture.js';

export function encryptionContract(fx: StoreFixture): void {
  const { raw, newSession } = fx;
  describe('encryption at rest', () => {
    it('keeps no plaintext secret in the rows', async () => {
      const s = await newSession({ idpRefreshToken: 'plain-idp-refresh-token-XYZ' });
      const [row] = await raw('SELECT * FROM user_sessions WHERE id = $1', [s.id]);
      const text = JSON.stringify(row);
      expect(text).not.toContain('plain-idp-refresh-token-XYZ');
      expect(text).not.toContain(s.idToken);
      expect(row?.idp_refresh_token_enc).toMatch(/^v1:[A-Za-z0-9_-]{16}:[A-Za-z0-9_-]+$/);
      const kid = rid('kid');
      await fx.store.addSigningKey({ kid, alg: 'ES256', privateJwk: { kty: 'EC', d: 'very-private-d' }, publicJwk: { kty: 'EC' }, createdAt: T0 });
      const [keyRow] = await raw('SELECT * FROM signing_keys WHERE kid = $1', [kid]);
      expect(JSON.stringify(keyRow)).not.toContain('very-private-d');
    });

    it('a ciphertext moved to another row fails instead of decrypting', async () => {
      const victim = await newSession({ idpRefreshToken: 'victim-rt' });
      const attacker = await newSession({ idpRefreshToken: 'attacker-rt' });
      await raw('UPDATE user_sessions SET idp_refresh_token_enc = (SELECT idp_refresh_token_enc FROM user_sessions WHERE id = $1) WHERE id = $2', [
        victim.id,
        attacker.id,
      ]);
      const err = await fx.store.getUserSession(attacker.id).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(GatewayError);
      expect((err as GatewayError).code).toBe('store_unavailable');
      expect((err as GatewayError).message).not.toContain('victim-rt');
      await raw('DELETE FROM user_sessions WHERE id = $1', [attacker.id]);
    });

    it('reopening with another key fails clearly; the right key still works', async () => {
      const s = await newSession();
      await fx.store.close();
      const err = await fx.open({ encryptionKey: OTHER_KEY, now: fx.now }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(GatewayError);
      expect((err as GatewayError).code).toBe('config_invalid');
      expect((err as Error).message).toMatch(/server\.encryptionKey does not match/);
      fx.store = await fx.open({ encryptionKey: KEY, now: fx.now });
      expect((await fx.store.getUserSession(s.id))?.idToken).toBe(s.idToken);
    });

    it('refuses a malformed key, naming the setting and how to make one', async () => {
      for (const bad of ['', 'short', randomBytes(16).toString('base64'), 'z'.repeat(64)]) {
        await expect(fx.open({ encryptionKey: bad, now: fx.now }), bad).rejects.toThrow(/server\.encryptionKey.*openssl rand -base64 32/);
      }
    });
  });
}
