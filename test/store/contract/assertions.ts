/** Enterprise-managed sign-ins (src/store/assertions.ts, user-sessions.ts): ID-JAGs redeemed once, kept no longer than they live. */
import { describe, expect, it } from 'vitest';
import { MIN, T0, rid, type StoreFixture } from './fixture.js';

export function assertionsContract(fx: StoreFixture): void {
  describe('redeemed ID-JAGs and enterprise-managed sessions', () => {
    it('an (issuer, jti) is redeemed once until it expires; another issuer has its own jtis', async () => {
      const jti = rid('jti');
      expect(await fx.store.redeemAssertion('https://idp.example', jti, T0 + 5 * MIN, T0)).toBe(true);
      expect(await fx.store.redeemAssertion('https://idp.example', jti, T0 + 5 * MIN, T0 + MIN)).toBe(false);
      expect(await fx.store.redeemAssertion('https://other-idp.example', jti, T0 + 5 * MIN, T0 + MIN)).toBe(true);
      // Past its expiry the row counts as absent (the assertion itself is refused as expired before this).
      expect(await fx.store.redeemAssertion('https://idp.example', jti, T0 + 15 * MIN, T0 + 6 * MIN)).toBe(true);
    });

    it('concurrent redemptions of one assertion: exactly one wins', async () => {
      const jti = rid('jti');
      const results = await Promise.all(Array.from({ length: 5 }, () => fx.store.redeemAssertion('https://idp.example', jti, T0 + 5 * MIN, T0)));
      expect(results.filter(Boolean)).toHaveLength(1);
    });

    it('a session keeps its ID-JAG, encrypted, until it expires; then it is wiped and the session ended', async () => {
      const s = await fx.store.createUserSession({
        iss: 'https://idp.example',
        sub: rid('u'),
        idToken: 'the-id-jag',
        idTokenExpiresAt: T0 + 5 * MIN,
        subjectTokenType: 'id-jag',
      });
      const [row] = await fx.raw<{ id_token_enc: string; subject_token_type: string }>(
        'SELECT id_token_enc, subject_token_type FROM user_sessions WHERE id = $1',
        [s.id],
      );
      expect(row?.subject_token_type).toBe('id-jag');
      expect(row?.id_token_enc).not.toContain('the-id-jag');
      expect(await fx.store.getUserSession(s.id)).toMatchObject({ idToken: 'the-id-jag', subjectTokenType: 'id-jag' });

      const browser = await fx.store.createUserSession({ iss: 'https://idp.example', sub: rid('u'), idToken: 'an-id-token', idTokenExpiresAt: T0 + MIN });
      expect(await fx.store.wipeExpiredAssertions(T0 + 4 * MIN)).toBe(0);
      expect(await fx.store.wipeExpiredAssertions(T0 + 5 * MIN)).toBe(1);
      expect(await fx.store.getUserSession(s.id)).toMatchObject({ idToken: '', revokedAt: T0 + 5 * MIN });
      // A browser sign-in's ID token is renewed with its refresh token, never wiped for its expiry.
      expect(await fx.store.getUserSession(browser.id)).toMatchObject({ idToken: 'an-id-token' });
      expect((await fx.store.getUserSession(browser.id))?.subjectTokenType).toBeUndefined();
      expect(await fx.store.wipeExpiredAssertions(T0 + 10 * MIN)).toBe(0);
    });
  });
}
