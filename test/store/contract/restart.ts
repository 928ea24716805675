/** What survives a close and reopen. */
import { describe, expect, it } from 'vitest';
import { T0, rid, type StoreFixture } from './fixture.js';

export function restartContract(fx: StoreFixture): void {
  const { reopen, newSession, newRefresh, nextOf } = fx;
  describe('restart', () => {
    it('keeps sessions, clients, consents, refresh tokens and keys across close and reopen', async () => {
      const s = await newSession({ idpRefreshToken: 'survives' });
      const clientId = rid('client');
      await fx.store.upsertClient({ clientId, source: 'config', redirectUris: ['https://a/cb'], tokenEndpointAuthMethod: 'none', metadata: {}, createdAt: T0 });
      await fx.store.saveConsent({ iss: s.iss, sub: s.sub, clientId, scopes: ['mcp:tools'], grantedAt: T0 });
      const rt = await newRefresh({ sessionId: s.id, clientId });
      const kid = rid('kid');
      await fx.store.addSigningKey({ kid, alg: 'ES256', privateJwk: { d: 'd' }, publicJwk: { x: 'x' }, createdAt: T0 });
      await reopen();
      expect(await fx.store.getUserSession(s.id)).toMatchObject({ idpRefreshToken: 'survives', idToken: s.idToken });
      expect(await fx.store.getClient(clientId)).toBeDefined();
      expect(await fx.store.getConsent(s.iss, s.sub, clientId)).toBeDefined();
      expect((await fx.store.rotateRefreshToken(rt.tokenHash, nextOf(), T0)).ok).toBe(true);
      expect((await fx.store.listSigningKeys()).find((k) => k.kid === kid)?.privateJwk).toEqual({ d: 'd' });
    });
  });
}
