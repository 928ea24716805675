/** Users' IdP sessions (src/store/user-sessions.ts). */
import { describe, expect, it } from 'vitest';
import type { Store } from '../../../src/store/index.js';
import { MIN, T0, rid, type StoreFixture } from './fixture.js';

export function userSessionsContract(fx: StoreFixture): void {
  const { raw, newSession, newRefresh, nextOf } = fx;
  describe('user sessions', () => {
    it('round trips, decrypting secrets', async () => {
      const s = await newSession({ idpRefreshToken: 'idp-refresh-secret' });
      expect(s.id).toMatch(/^[A-Za-z0-9_-]{24}$/);
      expect(s).toMatchObject({ createdAt: T0, updatedAt: T0, idpRefreshToken: 'idp-refresh-secret' });
      expect(await fx.store.getUserSession(s.id)).toEqual({ ...s, revokedAt: undefined });
      expect(await fx.store.getUserSession('nope')).toBeUndefined();
    });

    it('stores a session without an IdP refresh token', async () => {
      const s = await fx.store.createUserSession({ iss: 'https://idp.example', sub: rid('u'), idToken: 'idt', idTokenExpiresAt: T0 });
      const got = await fx.store.getUserSession(s.id);
      expect(got?.idpRefreshToken).toBeUndefined();
      expect(got?.email).toBeUndefined();
    });

    it('updates tokens, keeping the refresh token when the IdP sent none', async () => {
      const s = await newSession({ idpRefreshToken: 'rt-1' });
      fx.clock = T0 + 5 * MIN;
      await fx.store.updateUserSessionTokens(s.id, { idToken: 'id-2', idTokenExpiresAt: T0 + 65 * MIN });
      expect(await fx.store.getUserSession(s.id)).toMatchObject({
        idToken: 'id-2',
        idTokenExpiresAt: T0 + 65 * MIN,
        idpRefreshToken: 'rt-1',
        updatedAt: T0 + 5 * MIN,
      });
      await fx.store.updateUserSessionTokens(s.id, { idToken: 'id-3', idTokenExpiresAt: T0 + 70 * MIN, idpRefreshToken: 'rt-2' });
      expect(await fx.store.getUserSession(s.id)).toMatchObject({ idToken: 'id-3', idpRefreshToken: 'rt-2', createdAt: T0 });
      fx.clock = T0;
    });

    it('lists by subject and activity', async () => {
      const iss = rid('https://idp');
      const a = await newSession({ iss, sub: 'alice' });
      const b = await newSession({ iss, sub: 'alice' });
      const c = await newSession({ iss, sub: 'bob' });
      await fx.store.revokeUserSession(b.id, T0 + 1);
      const ids = async (f: Parameters<Store['listUserSessions']>[0]) => (await fx.store.listUserSessions(f)).map((s) => s.id).sort();
      expect(await ids({ iss })).toEqual([a.id, b.id, c.id].sort());
      expect(await ids({ iss, sub: 'alice' })).toEqual([a.id, b.id].sort());
      expect(await ids({ iss, sub: 'alice', activeOnly: true })).toEqual([a.id]);
      expect((await fx.store.listUserSessions()).length).toBeGreaterThanOrEqual(3);
    });

    it('revoking a session revokes its refresh tokens and drops its codes, once', async () => {
      const s = await newSession();
      const rt = await newRefresh({ sessionId: s.id });
      const other = await newRefresh();
      await fx.store.saveAuthorizationCode({
        codeHash: rid('code'),
        clientId: 'agent-a',
        redirectUri: 'http://127.0.0.1/cb',
        codeChallenge: 'c',
        sessionId: s.id,
        scopes: [],
        resource: 'r',
        expiresAt: T0 + MIN,
      });
      expect(await fx.store.revokeUserSession(s.id, T0 + 7)).toBe(true);
      expect(await fx.store.revokeUserSession(s.id, T0 + 8)).toBe(false);
      expect(await fx.store.revokeUserSession('unknown', T0)).toBe(false);
      expect((await fx.store.getUserSession(s.id))?.revokedAt).toBe(T0 + 7);
      expect((await fx.store.getRefreshToken(rt.tokenHash))?.revokedAt).toBe(T0 + 7);
      expect((await fx.store.getRefreshToken(other.tokenHash))?.revokedAt).toBeUndefined();
      expect(await raw('SELECT 1 FROM authorization_codes WHERE session_id = $1', [s.id])).toHaveLength(0);
      expect(await fx.store.rotateRefreshToken(rt.tokenHash, nextOf(), T0 + 10)).toEqual({ ok: false, reason: 'revoked' });
    });
  });
}
