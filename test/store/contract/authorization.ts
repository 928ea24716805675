/** Pending authorization requests and codes (src/store/authorization.ts). */
import { describe, expect, it } from 'vitest';
import { MIN, T0, rid, type StoreFixture } from './fixture.js';

export function authorizationContract(fx: StoreFixture): void {
  const { raw, newSession } = fx;
  describe('authorization requests and codes', () => {
    const request = (id: string, expiresAt = T0 + 10 * MIN) => ({
      id,
      clientId: 'agent-a',
      redirectUri: 'http://127.0.0.1:3000/cb',
      state: 'client-state',
      codeChallenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      scopes: ['mcp:tools'],
      resource: 'https://gw.example/mcp',
      idpState: rid('idp-state'),
      idpNonce: rid('nonce'),
      idpCodeVerifier: rid('verifier'),
      csrf: rid('csrf'),
      createdAt: T0,
      expiresAt,
    });

    it('round trips a pending request, binds the session, deletes it', async () => {
      const r = request(rid('req'));
      await fx.store.saveAuthorizationRequest(r);
      expect(await fx.store.getAuthorizationRequest(r.id)).toEqual({ ...r, sessionId: undefined });
      await fx.store.updateAuthorizationRequest(r.id, { sessionId: 'sess-1' });
      expect((await fx.store.getAuthorizationRequest(r.id))?.sessionId).toBe('sess-1');
      const [row] = await raw<{ idp_code_verifier_enc: string }>('SELECT idp_code_verifier_enc FROM authorization_requests WHERE id = $1', [r.id]);
      expect(row?.idp_code_verifier_enc).not.toContain(r.idpCodeVerifier);
      await fx.store.deleteAuthorizationRequest(r.id);
      expect(await fx.store.getAuthorizationRequest(r.id)).toBeUndefined();
    });

    it('does not return an expired request', async () => {
      const r = request(rid('req'), T0 + MIN);
      await fx.store.saveAuthorizationRequest(r);
      fx.clock = T0 + MIN;
      expect(await fx.store.getAuthorizationRequest(r.id)).toBeUndefined();
      fx.clock = T0;
      expect(await fx.store.getAuthorizationRequest(r.id)).toBeDefined();
    });

    const code = async (expiresAt = T0 + MIN) => {
      const s = await newSession();
      const c = {
        codeHash: rid('code'),
        clientId: 'agent-a',
        redirectUri: 'http://127.0.0.1:3000/cb',
        codeChallenge: 'ch',
        sessionId: s.id,
        scopes: ['mcp:tools'],
        resource: 'https://gw.example/mcp',
        expiresAt,
      };
      await fx.store.saveAuthorizationCode(c);
      return c;
    };

    it('consumes a code once', async () => {
      const c = await code();
      expect(await fx.store.usedAuthorizationCodeSession(c.codeHash)).toBeUndefined();
      expect(await fx.store.consumeAuthorizationCode(c.codeHash, T0)).toEqual(c);
      expect(await fx.store.consumeAuthorizationCode(c.codeHash, T0)).toBeUndefined();
      expect(await fx.store.consumeAuthorizationCode('unknown', T0)).toBeUndefined();
    });

    it('a used code names its session (replay detection) until it is purged', async () => {
      const c = await code();
      await fx.store.consumeAuthorizationCode(c.codeHash, T0);
      expect(await fx.store.usedAuthorizationCodeSession(c.codeHash)).toBe(c.sessionId);
      expect(await fx.store.usedAuthorizationCodeSession('unknown')).toBeUndefined();
      await fx.store.purgeExpired(c.expiresAt);
      expect(await fx.store.usedAuthorizationCodeSession(c.codeHash)).toBeUndefined();
    });

    it('does not redeem an expired code', async () => {
      const c = await code(T0 + MIN);
      expect(await fx.store.consumeAuthorizationCode(c.codeHash, T0 + MIN)).toBeUndefined();
    });

    it('two concurrent redemptions: exactly one wins', async () => {
      for (let i = 0; i < 5; i++) {
        const c = await code();
        const results = await Promise.all([
          fx.store.consumeAuthorizationCode(c.codeHash, T0),
          fx.store.consumeAuthorizationCode(c.codeHash, T0),
          fx.store.consumeAuthorizationCode(c.codeHash, T0),
        ]);
        expect(results.filter((r) => r !== undefined)).toHaveLength(1);
      }
    });
  });
}
