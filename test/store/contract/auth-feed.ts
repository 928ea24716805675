/** The auth change feed (src/store/auth-feed.ts, auth-changes.ts). */
import { describe, expect, it } from 'vitest';
import { MIN, T0, rid, type StoreFixture } from './fixture.js';

export function authFeedContract(fx: StoreFixture): void {
  const { newSession } = fx;
  describe('auth change feed (sessions and revoked jtis cached in memory: src/store/auth-state.ts)', () => {
    it('every write that can end a credential appends to the feed and is announced before it resolves', async () => {
      const heard: unknown[][] = [];
      const stop = await fx.store.onAuthChange((local) => {
        if (local) heard.push(local.map((c) => ({ ...c })));
      });
      try {
        const { head: start } = await fx.store.authChangesSince(Number.MAX_SAFE_INTEGER, 1);
        const a = await newSession();
        const b = await newSession();
        const user = await newSession();
        const twin = await newSession({ iss: user.iss, sub: user.sub });
        const jti = rid('jti');
        const cases: Array<[string, () => Promise<unknown>, unknown[]]> = [
          ['tokens renewed', () => fx.store.updateUserSessionTokens(a.id, { idToken: rid('id'), idTokenExpiresAt: T0 }), [{ kind: 'session', key: a.id }]],
          ['session revoked', () => fx.store.revokeUserSession(b.id, T0), [{ kind: 'session', key: b.id }]],
          ['revoked again: nothing changed, nothing announced', () => fx.store.revokeUserSession(b.id, T0), []],
          ['access token revoked', () => fx.store.revokeAccessToken(jti, T0 + MIN), [{ kind: 'jti', key: jti, expiresAt: T0 + MIN }]],
          [
            "a user's sessions revoked",
            () => fx.store.revokeSessionsOf({ user: { iss: user.iss, sub: user.sub } }, T0),
            [user.id, twin.id].sort((x, y) => x.localeCompare(y)).map((key) => ({ kind: 'session', key })),
          ],
        ];
        const expected: unknown[] = [];
        for (const [what, write, announced] of cases) {
          heard.length = 0;
          await write();
          const got = heard
            .flat()
            .map((c) => c as { key: string })
            .sort((x, y) => x.key.localeCompare(y.key));
          expect({ what, announced: got }).toEqual({ what, announced });
          expected.push(...announced);
        }
        const { changes, head } = await fx.store.authChangesSince(start);
        expect(changes.map(({ seq: _s, ...c }) => c).sort((x, y) => x.key.localeCompare(y.key))).toEqual(
          (expected as Array<{ key: string }>).sort((x, y) => x.key.localeCompare(y.key)),
        );
        const seqs = changes.map((c) => c.seq!);
        expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
        expect(head).toBe(seqs[seqs.length - 1]);
        // Nothing newer: the head stays, and paging works.
        expect(await fx.store.authChangesSince(head)).toEqual({ changes: [], head });
        expect((await fx.store.authChangesSince(start, 2)).changes).toHaveLength(2);
        expect(await fx.store.listRevokedAccessTokens(T0)).toContainEqual({ jti, expiresAt: T0 + MIN });
        expect(await fx.store.listRevokedAccessTokens(T0 + MIN)).not.toContainEqual({ jti, expiresAt: T0 + MIN });
      } finally {
        await stop();
      }
    });
  });
}
