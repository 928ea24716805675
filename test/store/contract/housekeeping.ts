/** purgeExpired: what can no longer be used is deleted, nothing else. */
import { describe, expect, it } from 'vitest';
import { MIN, T0, rid, type StoreFixture } from './fixture.js';

export function housekeepingContract(fx: StoreFixture): void {
  const { raw, newSession, newRefresh } = fx;
  describe('purgeExpired', () => {
    it('deletes exactly what can no longer be used', async () => {
      const at = T0 + 1000 * MIN;
      const s = await newSession();
      const reqGone = rid('req');
      const reqKept = rid('req');
      const base = {
        clientId: 'a',
        redirectUri: 'r',
        codeChallenge: 'c',
        scopes: [],
        resource: 'r',
        idpState: 's',
        idpNonce: 'n',
        idpCodeVerifier: 'v',
        csrf: 'x',
        createdAt: T0,
      };
      await fx.store.saveAuthorizationRequest({ ...base, id: reqGone, expiresAt: at });
      await fx.store.saveAuthorizationRequest({ ...base, id: reqKept, expiresAt: at + 1 });
      const codeBase = { clientId: 'a', redirectUri: 'r', codeChallenge: 'c', sessionId: s.id, scopes: [], resource: 'r' };
      const codeGone = rid('code');
      const codeKept = rid('code');
      await fx.store.saveAuthorizationCode({ ...codeBase, codeHash: codeGone, expiresAt: at - 1 });
      await fx.store.saveAuthorizationCode({ ...codeBase, codeHash: codeKept, expiresAt: at + 1 });
      const rtGone = await newRefresh({ sessionId: s.id, expiresAt: at });
      const rtKept = await newRefresh({ sessionId: s.id, expiresAt: at + 1 });
      const jtiGone = rid('jti');
      const jtiKept = rid('jti');
      await fx.store.revokeAccessToken(jtiGone, at);
      await fx.store.revokeAccessToken(jtiKept, at + 1);
      const key = (kid: string) => ({ kid, alg: 'ES256' as const, privateJwk: {}, publicJwk: {}, createdAt: T0 });
      const kGone = rid('kid');
      const kRetiredKept = rid('kid');
      const kActive = rid('kid');
      for (const k of [kGone, kRetiredKept, kActive]) await fx.store.addSigningKey(key(k));
      await fx.store.retireSigningKey(kGone, T0, at);
      await fx.store.retireSigningKey(kRetiredKept, T0, at + 1);
      const setGone = rid('jti');
      const setKept = rid('jti');
      await fx.store.claimSecurityEvent('https://idp.example', setGone, at, T0, MIN);
      await fx.store.claimSecurityEvent('https://idp.example', setKept, at + 1, T0, MIN);
      await fx.store.completeSecurityEvent('https://idp.example', setKept, T0);

      await fx.store.purgeExpired(at);

      fx.clock = T0;
      expect(await fx.store.getAuthorizationRequest(reqGone)).toBeUndefined();
      expect(await fx.store.getAuthorizationRequest(reqKept)).toBeDefined();
      expect(await raw('SELECT code_hash FROM authorization_codes WHERE code_hash IN ($1, $2)', [codeGone, codeKept])).toEqual([{ code_hash: codeKept }]);
      expect(await fx.store.getRefreshToken(rtGone.tokenHash)).toBeUndefined();
      expect(await fx.store.getRefreshToken(rtKept.tokenHash)).toBeDefined();
      expect(await fx.store.isAccessTokenRevoked(jtiGone)).toBe(false);
      expect(await fx.store.isAccessTokenRevoked(jtiKept)).toBe(true);
      const kids = (await fx.store.listSigningKeys()).map((k) => k.kid);
      expect(kids).not.toContain(kGone);
      expect(kids).toContain(kRetiredKept);
      expect(kids).toContain(kActive);
      expect(await raw('SELECT jti FROM security_events WHERE jti IN ($1, $2)', [setGone, setKept])).toEqual([{ jti: setKept }]);
      expect(await fx.store.getUserSession(s.id)).toBeDefined();
    });
  });
}
