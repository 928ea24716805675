/** Admin control: refresh families and bulk revocation (src/store/admin-control.ts). */
import { describe, expect, it } from 'vitest';
import { MIN, T0, rid, type StoreFixture } from './fixture.js';

export function adminControlContract(fx: StoreFixture): void {
  const { raw, newSession, newRefresh, nextOf } = fx;
  describe('admin control: sessions with their agents, bulk revocation', () => {
    it('lists refresh families with the newest scopes; activeOnly hides revoked, rotated-out and expired ones', async () => {
      const s = await newSession();
      const fam = rid('family');
      const first = await newRefresh({ sessionId: s.id, familyId: fam, clientId: 'agent-x', scopes: ['mcp:tools'] });
      expect((await fx.store.rotateRefreshToken(first.tokenHash, { ...nextOf(), scopes: ['mcp:tools', 'extra'] }, T0 + MIN)).ok).toBe(true);
      const dead = await newRefresh({ sessionId: s.id, clientId: 'agent-y' });
      await fx.store.revokeRefreshFamily(dead.familyId, T0 + 2);
      const all = (await fx.store.listRefreshFamilies({ sessionId: s.id })).sort((a, b) => a.clientId.localeCompare(b.clientId));
      expect(all.map((f) => [f.clientId, f.scopes, f.revoked])).toEqual([
        ['agent-x', ['mcp:tools', 'extra'], false],
        ['agent-y', ['mcp:tools'], true],
      ]);
      expect(all[0]).toMatchObject({ familyId: fam, sessionId: s.id, createdAt: T0, lastIssuedAt: T0 + MIN });
      const active = await fx.store.listRefreshFamilies({ sessionId: s.id, activeOnly: true });
      expect(active.map((f) => f.clientId)).toEqual(['agent-x']);
      expect((await fx.store.listRefreshFamilies({ clientId: 'agent-y', activeOnly: true })).find((f) => f.sessionId === s.id)).toBeUndefined();
    });

    it.each([
      ['a user', 'user'],
      ['an agent', 'agent'],
    ] as const)('revokes the sessions of %s with their refresh tokens and codes, once', async (_label, by) => {
      const iss = rid('https://idp');
      const agent = rid('agent');
      const mine = await newSession({ iss, sub: 'u1' });
      const mine2 = await newSession({ iss, sub: 'u1' });
      const other = await newSession({ iss, sub: 'u2' });
      const r1 = await newRefresh({ sessionId: mine.id, clientId: agent });
      const r2 = await newRefresh({ sessionId: other.id, clientId: by === 'agent' ? agent : 'agent-z' });
      const rOtherAgent = await newRefresh({ sessionId: other.id, clientId: 'agent-z' });
      await fx.store.saveAuthorizationCode({
        codeHash: rid('code'),
        clientId: agent,
        redirectUri: 'r',
        codeChallenge: 'c',
        sessionId: mine2.id,
        scopes: [],
        resource: 'r',
        expiresAt: T0 + MIN,
      });
      const filter = by === 'user' ? { user: { iss, sub: 'u1' } } : { clientId: agent };
      const result = await fx.store.revokeSessionsOf(filter, T0 + 5);
      // user: both of u1's sessions; agent: every session the agent signed in with (refresh token or pending code).
      const expected = by === 'user' ? [mine.id, mine2.id] : [mine.id, mine2.id, other.id];
      expect(result.sessionIds.sort()).toEqual(expected.sort());
      expect(result.refreshTokens).toBe(by === 'user' ? 1 : 3);
      for (const id of expected) expect((await fx.store.getUserSession(id))?.revokedAt).toBe(T0 + 5);
      if (by === 'user') expect((await fx.store.getUserSession(other.id))?.revokedAt).toBeUndefined();
      expect((await fx.store.getRefreshToken(r1.tokenHash))?.revokedAt).toBe(T0 + 5);
      expect((await fx.store.getRefreshToken(r2.tokenHash))?.revokedAt).toBe(by === 'user' ? undefined : T0 + 5);
      expect((await fx.store.getRefreshToken(rOtherAgent.tokenHash))?.revokedAt).toBe(by === 'user' ? undefined : T0 + 5);
      expect(await raw('SELECT 1 FROM authorization_codes WHERE session_id = $1', [mine2.id])).toHaveLength(0);
      expect(await fx.store.revokeSessionsOf(filter, T0 + 6)).toEqual({ sessionIds: [], refreshTokens: 0 });
    });
  });
}
