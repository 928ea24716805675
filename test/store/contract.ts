/**
 * The Store contract: one suite, run against every engine (pglite.test.ts, postgres.test.ts).
 * One store instance per file (PGlite takes about a second to start); every test uses its own ids.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/errors.js';
import { SqlStore } from '../../src/store/sql-store.js';
import { MIGRATIONS } from '../../src/store/index.js';
import type { FleetConfigDoc, RefreshTokenRecord, RotateResult, Store } from '../../src/store/index.js';

export const KEY = randomBytes(32).toString('base64');
export const OTHER_KEY = randomBytes(32).toString('hex');
export const T0 = 1_800_000_000_000;
const MIN = 60_000;

export type OpenForTest = (opts: { encryptionKey: string; now: () => number }) => Promise<Store>;

const rid = (p: string) => `${p}-${randomBytes(6).toString('hex')}`;

export function storeContract(name: string, open: OpenForTest, opts: { skip?: boolean } = {}): void {
  describe.skipIf(opts.skip ?? false)(`Store contract: ${name}`, () => {
    let clock = T0;
    const now = () => clock;
    let store: Store;
    const raw = async <R = Record<string, unknown>>(text: string, params: unknown[] = []): Promise<R[]> => {
      if (!(store instanceof SqlStore)) throw new Error('raw access needs the SqlStore');
      return (await store.sql.query<R>(text, params)).rows;
    };
    const reopen = async (encryptionKey = KEY) => {
      await store.close();
      store = await open({ encryptionKey, now });
    };

    beforeAll(async () => {
      store = await open({ encryptionKey: KEY, now });
    });
    afterAll(async () => {
      await store?.close();
    });

    const newSession = (over: { iss?: string; sub?: string; idpRefreshToken?: string } = {}) =>
      store.createUserSession({
        iss: over.iss ?? 'https://idp.example',
        sub: over.sub ?? rid('user'),
        email: 'ada@example.com',
        name: 'Ada',
        idToken: rid('id-token'),
        idTokenExpiresAt: T0 + 60 * MIN,
        idpRefreshToken: over.idpRefreshToken ?? rid('idp-rt'),
      });

    const newRefresh = async (over: Partial<RefreshTokenRecord> = {}): Promise<RefreshTokenRecord> => {
      const sessionId = over.sessionId ?? (await newSession()).id;
      const r: RefreshTokenRecord = {
        tokenHash: rid('rt-hash'),
        familyId: rid('family'),
        sessionId,
        clientId: 'agent-a',
        scopes: ['mcp:tools'],
        resource: 'https://gw.example/mcp',
        createdAt: T0,
        expiresAt: T0 + 30 * 24 * 60 * MIN,
        ...over,
      };
      await store.saveRefreshToken(r);
      return r;
    };
    const nextOf = (over: { expiresAt?: number } = {}) => ({
      tokenHash: rid('rt-hash'),
      scopes: ['mcp:tools'],
      resource: 'https://gw.example/mcp',
      createdAt: T0 + MIN,
      expiresAt: over.expiresAt ?? T0 + 60 * 24 * 60 * MIN,
    });

    describe('schema and engine', () => {
      it('reports its engine and records the applied migration', async () => {
        expect(['pglite', 'postgres']).toContain(store.engine);
        const rows = await raw<{ version: number; name: string }>('SELECT version, name FROM schema_migrations ORDER BY version');
        expect(rows.map((r) => [Number(r.version), r.name])).toEqual(MIGRATIONS.map((m) => [m.version, m.name]));
        // The releases so far, in order (others are appended by later migrations).
        expect(rows.slice(0, 4).map((r) => r.name)).toEqual(['initial', 'admin_control', 'security_events', 'authorization_code_replay']);
        expect(rows.map((r) => r.name)).toContain('fleet_config');
      });

      it('migrations are idempotent: reopening applies nothing twice', async () => {
        await reopen();
        await reopen();
        const rows = await raw('SELECT version FROM schema_migrations');
        expect(rows).toHaveLength(MIGRATIONS.length);
      });
    });

    describe('user sessions', () => {
      it('round trips, decrypting secrets', async () => {
        const s = await newSession({ idpRefreshToken: 'idp-refresh-secret' });
        expect(s.id).toMatch(/^[A-Za-z0-9_-]{24}$/);
        expect(s).toMatchObject({ createdAt: T0, updatedAt: T0, idpRefreshToken: 'idp-refresh-secret' });
        expect(await store.getUserSession(s.id)).toEqual({ ...s, revokedAt: undefined });
        expect(await store.getUserSession('nope')).toBeUndefined();
      });

      it('stores a session without an IdP refresh token', async () => {
        const s = await store.createUserSession({ iss: 'https://idp.example', sub: rid('u'), idToken: 'idt', idTokenExpiresAt: T0 });
        const got = await store.getUserSession(s.id);
        expect(got?.idpRefreshToken).toBeUndefined();
        expect(got?.email).toBeUndefined();
      });

      it('updates tokens, keeping the refresh token when the IdP sent none', async () => {
        const s = await newSession({ idpRefreshToken: 'rt-1' });
        clock = T0 + 5 * MIN;
        await store.updateUserSessionTokens(s.id, { idToken: 'id-2', idTokenExpiresAt: T0 + 65 * MIN });
        expect(await store.getUserSession(s.id)).toMatchObject({
          idToken: 'id-2',
          idTokenExpiresAt: T0 + 65 * MIN,
          idpRefreshToken: 'rt-1',
          updatedAt: T0 + 5 * MIN,
        });
        await store.updateUserSessionTokens(s.id, { idToken: 'id-3', idTokenExpiresAt: T0 + 70 * MIN, idpRefreshToken: 'rt-2' });
        expect(await store.getUserSession(s.id)).toMatchObject({ idToken: 'id-3', idpRefreshToken: 'rt-2', createdAt: T0 });
        clock = T0;
      });

      it('lists by subject and activity', async () => {
        const iss = rid('https://idp');
        const a = await newSession({ iss, sub: 'alice' });
        const b = await newSession({ iss, sub: 'alice' });
        const c = await newSession({ iss, sub: 'bob' });
        await store.revokeUserSession(b.id, T0 + 1);
        const ids = async (f: Parameters<Store['listUserSessions']>[0]) => (await store.listUserSessions(f)).map((s) => s.id).sort();
        expect(await ids({ iss })).toEqual([a.id, b.id, c.id].sort());
        expect(await ids({ iss, sub: 'alice' })).toEqual([a.id, b.id].sort());
        expect(await ids({ iss, sub: 'alice', activeOnly: true })).toEqual([a.id]);
        expect((await store.listUserSessions()).length).toBeGreaterThanOrEqual(3);
      });

      it('revoking a session revokes its refresh tokens and drops its codes, once', async () => {
        const s = await newSession();
        const rt = await newRefresh({ sessionId: s.id });
        const other = await newRefresh();
        await store.saveAuthorizationCode({
          codeHash: rid('code'),
          clientId: 'agent-a',
          redirectUri: 'http://127.0.0.1/cb',
          codeChallenge: 'c',
          sessionId: s.id,
          scopes: [],
          resource: 'r',
          expiresAt: T0 + MIN,
        });
        expect(await store.revokeUserSession(s.id, T0 + 7)).toBe(true);
        expect(await store.revokeUserSession(s.id, T0 + 8)).toBe(false);
        expect(await store.revokeUserSession('unknown', T0)).toBe(false);
        expect((await store.getUserSession(s.id))?.revokedAt).toBe(T0 + 7);
        expect((await store.getRefreshToken(rt.tokenHash))?.revokedAt).toBe(T0 + 7);
        expect((await store.getRefreshToken(other.tokenHash))?.revokedAt).toBeUndefined();
        expect(await raw('SELECT 1 FROM authorization_codes WHERE session_id = $1', [s.id])).toHaveLength(0);
        expect(await store.rotateRefreshToken(rt.tokenHash, nextOf(), T0 + 10)).toEqual({ ok: false, reason: 'revoked' });
      });
    });

    describe('clients and consents', () => {
      it('upserts, reads and deletes clients; an update keeps createdAt', async () => {
        const clientId = rid('https://agent.example/client');
        const c = {
          clientId,
          source: 'cimd' as const,
          clientName: 'Agent A',
          redirectUris: ['http://127.0.0.1:3000/cb', 'https://agent.example/cb'],
          tokenEndpointAuthMethod: 'none' as const,
          metadata: { client_uri: 'https://agent.example', grant_types: ['authorization_code', 'refresh_token'] },
          createdAt: T0,
          expiresAt: T0 + 60 * MIN,
        };
        await store.upsertClient(c);
        expect(await store.getClient(clientId)).toEqual({ ...c, clientSecretHash: undefined });
        await store.upsertClient({ ...c, clientName: 'Agent A2', redirectUris: ['https://agent.example/cb2'], createdAt: T0 + 9, expiresAt: undefined });
        expect(await store.getClient(clientId)).toMatchObject({
          clientName: 'Agent A2',
          redirectUris: ['https://agent.example/cb2'],
          createdAt: T0,
          expiresAt: undefined,
        });
        expect(await store.deleteClient(clientId)).toBe(true);
        expect(await store.deleteClient(clientId)).toBe(false);
        expect(await store.getClient(clientId)).toBeUndefined();
      });

      it('keeps a confidential client secret hash', async () => {
        const clientId = rid('dyn');
        await store.upsertClient({
          clientId,
          source: 'dynamic',
          redirectUris: ['https://a/cb'],
          tokenEndpointAuthMethod: 'client_secret_basic',
          clientSecretHash: 'sha256:abc',
          metadata: {},
          createdAt: T0,
        });
        expect(await store.getClient(clientId)).toMatchObject({
          source: 'dynamic',
          tokenEndpointAuthMethod: 'client_secret_basic',
          clientSecretHash: 'sha256:abc',
          metadata: {},
        });
      });

      it('saves consent per user and agent; saving again replaces it', async () => {
        const sub = rid('user');
        await store.saveConsent({ iss: 'https://idp.example', sub, clientId: 'agent-a', scopes: ['mcp:tools'], grantedAt: T0 });
        expect(await store.getConsent('https://idp.example', sub, 'agent-a')).toEqual({
          iss: 'https://idp.example',
          sub,
          clientId: 'agent-a',
          scopes: ['mcp:tools'],
          grantedAt: T0,
        });
        expect(await store.getConsent('https://idp.example', sub, 'agent-b')).toBeUndefined();
        expect(await store.getConsent('https://other.example', sub, 'agent-a')).toBeUndefined();
        await store.saveConsent({ iss: 'https://idp.example', sub, clientId: 'agent-a', scopes: ['mcp:tools', 'offline_access'], grantedAt: T0 + 1 });
        expect(await store.getConsent('https://idp.example', sub, 'agent-a')).toMatchObject({ scopes: ['mcp:tools', 'offline_access'], grantedAt: T0 + 1 });
      });
    });

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
        await store.saveAuthorizationRequest(r);
        expect(await store.getAuthorizationRequest(r.id)).toEqual({ ...r, sessionId: undefined });
        await store.updateAuthorizationRequest(r.id, { sessionId: 'sess-1' });
        expect((await store.getAuthorizationRequest(r.id))?.sessionId).toBe('sess-1');
        const [row] = await raw<{ idp_code_verifier_enc: string }>('SELECT idp_code_verifier_enc FROM authorization_requests WHERE id = $1', [r.id]);
        expect(row?.idp_code_verifier_enc).not.toContain(r.idpCodeVerifier);
        await store.deleteAuthorizationRequest(r.id);
        expect(await store.getAuthorizationRequest(r.id)).toBeUndefined();
      });

      it('does not return an expired request', async () => {
        const r = request(rid('req'), T0 + MIN);
        await store.saveAuthorizationRequest(r);
        clock = T0 + MIN;
        expect(await store.getAuthorizationRequest(r.id)).toBeUndefined();
        clock = T0;
        expect(await store.getAuthorizationRequest(r.id)).toBeDefined();
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
        await store.saveAuthorizationCode(c);
        return c;
      };

      it('consumes a code once', async () => {
        const c = await code();
        expect(await store.usedAuthorizationCodeSession(c.codeHash)).toBeUndefined();
        expect(await store.consumeAuthorizationCode(c.codeHash, T0)).toEqual(c);
        expect(await store.consumeAuthorizationCode(c.codeHash, T0)).toBeUndefined();
        expect(await store.consumeAuthorizationCode('unknown', T0)).toBeUndefined();
      });

      it('a used code names its session (replay detection) until it is purged', async () => {
        const c = await code();
        await store.consumeAuthorizationCode(c.codeHash, T0);
        expect(await store.usedAuthorizationCodeSession(c.codeHash)).toBe(c.sessionId);
        expect(await store.usedAuthorizationCodeSession('unknown')).toBeUndefined();
        await store.purgeExpired(c.expiresAt);
        expect(await store.usedAuthorizationCodeSession(c.codeHash)).toBeUndefined();
      });

      it('does not redeem an expired code', async () => {
        const c = await code(T0 + MIN);
        expect(await store.consumeAuthorizationCode(c.codeHash, T0 + MIN)).toBeUndefined();
      });

      it('two concurrent redemptions: exactly one wins', async () => {
        for (let i = 0; i < 5; i++) {
          const c = await code();
          const results = await Promise.all([
            store.consumeAuthorizationCode(c.codeHash, T0),
            store.consumeAuthorizationCode(c.codeHash, T0),
            store.consumeAuthorizationCode(c.codeHash, T0),
          ]);
          expect(results.filter((r) => r !== undefined)).toHaveLength(1);
        }
      });
    });

    describe('refresh token rotation (OAuth 2.1 §4.3.1, RFC 9700 §4.14.2)', () => {
      it('ok: marks the old one rotated and stores the next in the same family', async () => {
        const old = await newRefresh();
        const next = nextOf();
        const res = await store.rotateRefreshToken(old.tokenHash, next, T0 + MIN);
        const expected = { ...next, familyId: old.familyId, sessionId: old.sessionId, clientId: old.clientId };
        expect(res).toEqual({ ok: true, record: expected });
        expect(await store.getRefreshToken(next.tokenHash)).toEqual({ ...expected, rotatedAt: undefined, revokedAt: undefined });
        expect((await store.getRefreshToken(old.tokenHash))?.rotatedAt).toBe(T0 + MIN);
      });

      it('a table of outcomes', async () => {
        const cases: Array<[string, () => Promise<string>, RotateResult]> = [
          ['unknown', async () => 'no-such-hash', { ok: false, reason: 'unknown' }],
          ['expired', async () => (await newRefresh({ expiresAt: T0 + MIN })).tokenHash, { ok: false, reason: 'expired' }],
          [
            'revoked',
            async () => {
              const r = await newRefresh();
              expect(await store.revokeRefreshFamily(r.familyId, T0)).toBe(1);
              return r.tokenHash;
            },
            { ok: false, reason: 'revoked' },
          ],
          [
            'reused',
            async () => {
              const r = await newRefresh();
              expect((await store.rotateRefreshToken(r.tokenHash, nextOf(), T0)).ok).toBe(true);
              return r.tokenHash;
            },
            { ok: false, reason: 'reused' },
          ],
        ];
        for (const [label, setup, expected] of cases) {
          const hash = await setup();
          expect(await store.rotateRefreshToken(hash, nextOf(), T0 + MIN), label).toEqual(expected);
        }
      });

      it('reuse revokes the whole family: the legitimate newer token dies too', async () => {
        const a = await newRefresh();
        const b = nextOf();
        const c = nextOf();
        expect((await store.rotateRefreshToken(a.tokenHash, b, T0 + 1)).ok).toBe(true);
        expect((await store.rotateRefreshToken(b.tokenHash, c, T0 + 2)).ok).toBe(true);
        const unrelated = await newRefresh({ sessionId: a.sessionId });
        // An attacker replays `a`.
        expect(await store.rotateRefreshToken(a.tokenHash, nextOf(), T0 + 3)).toEqual({ ok: false, reason: 'reused' });
        for (const h of [a.tokenHash, b.tokenHash, c.tokenHash]) expect((await store.getRefreshToken(h))?.revokedAt, h).toBe(T0 + 3);
        expect(await store.rotateRefreshToken(c.tokenHash, nextOf(), T0 + 4)).toEqual({ ok: false, reason: 'revoked' });
        expect((await store.getRefreshToken(unrelated.tokenHash))?.revokedAt).toBeUndefined();
      });

      it('a rotated token replayed after its expiry is still reuse', async () => {
        const a = await newRefresh({ expiresAt: T0 + MIN });
        const b = nextOf();
        expect((await store.rotateRefreshToken(a.tokenHash, b, T0)).ok).toBe(true);
        expect(await store.rotateRefreshToken(a.tokenHash, nextOf(), T0 + 2 * MIN)).toEqual({ ok: false, reason: 'reused' });
        expect((await store.getRefreshToken(b.tokenHash))?.revokedAt).toBe(T0 + 2 * MIN);
      });

      it('two concurrent rotations of one token: one ok, one reused, and the family is dead', async () => {
        for (let i = 0; i < 3; i++) {
          const a = await newRefresh();
          const results = await Promise.all([store.rotateRefreshToken(a.tokenHash, nextOf(), T0 + 1), store.rotateRefreshToken(a.tokenHash, nextOf(), T0 + 1)]);
          const reasons = results.map((r) => (r.ok ? 'ok' : r.reason)).sort();
          expect(reasons).toEqual(['ok', 'reused']);
          const winner = results.find((r): r is Extract<RotateResult, { ok: true }> => r.ok);
          expect((await store.getRefreshToken(winner!.record.tokenHash))?.revokedAt).toBe(T0 + 1);
          expect(await raw('SELECT 1 FROM refresh_tokens WHERE family_id = $1', [a.familyId])).toHaveLength(2);
        }
      });

      it('revokes by family, session and client; an empty filter is refused', async () => {
        const s = await newSession();
        const client = rid('agent');
        const r1 = await newRefresh({ sessionId: s.id, clientId: client });
        const r2 = await newRefresh({ sessionId: s.id });
        const r3 = await newRefresh({ clientId: client });
        expect(await store.revokeRefreshTokensOf({ clientId: client }, T0 + 1)).toBe(2);
        expect(await store.revokeRefreshTokensOf({ clientId: client }, T0 + 2)).toBe(0);
        expect(await store.revokeRefreshTokensOf({ sessionId: s.id }, T0 + 3)).toBe(1);
        expect((await store.getRefreshToken(r1.tokenHash))?.revokedAt).toBe(T0 + 1);
        expect((await store.getRefreshToken(r2.tokenHash))?.revokedAt).toBe(T0 + 3);
        expect((await store.getRefreshToken(r3.tokenHash))?.revokedAt).toBe(T0 + 1);
        await expect(store.revokeRefreshTokensOf({}, T0)).rejects.toThrow(/sessionId or a clientId/);
        expect(await store.getRefreshToken('nope')).toBeUndefined();
      });
    });

    describe('admin control: sessions with their agents, bulk revocation', () => {
      it('lists refresh families with the newest scopes; activeOnly hides revoked, rotated-out and expired ones', async () => {
        const s = await newSession();
        const fam = rid('family');
        const first = await newRefresh({ sessionId: s.id, familyId: fam, clientId: 'agent-x', scopes: ['mcp:tools'] });
        expect((await store.rotateRefreshToken(first.tokenHash, { ...nextOf(), scopes: ['mcp:tools', 'extra'] }, T0 + MIN)).ok).toBe(true);
        const dead = await newRefresh({ sessionId: s.id, clientId: 'agent-y' });
        await store.revokeRefreshFamily(dead.familyId, T0 + 2);
        const all = (await store.listRefreshFamilies({ sessionId: s.id })).sort((a, b) => a.clientId.localeCompare(b.clientId));
        expect(all.map((f) => [f.clientId, f.scopes, f.revoked])).toEqual([
          ['agent-x', ['mcp:tools', 'extra'], false],
          ['agent-y', ['mcp:tools'], true],
        ]);
        expect(all[0]).toMatchObject({ familyId: fam, sessionId: s.id, createdAt: T0, lastIssuedAt: T0 + MIN });
        const active = await store.listRefreshFamilies({ sessionId: s.id, activeOnly: true });
        expect(active.map((f) => f.clientId)).toEqual(['agent-x']);
        expect((await store.listRefreshFamilies({ clientId: 'agent-y', activeOnly: true })).find((f) => f.sessionId === s.id)).toBeUndefined();
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
        await store.saveAuthorizationCode({
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
        const result = await store.revokeSessionsOf(filter, T0 + 5);
        // user: both of u1's sessions; agent: every session the agent signed in with (refresh token or pending code).
        const expected = by === 'user' ? [mine.id, mine2.id] : [mine.id, mine2.id, other.id];
        expect(result.sessionIds.sort()).toEqual(expected.sort());
        expect(result.refreshTokens).toBe(by === 'user' ? 1 : 3);
        for (const id of expected) expect((await store.getUserSession(id))?.revokedAt).toBe(T0 + 5);
        if (by === 'user') expect((await store.getUserSession(other.id))?.revokedAt).toBeUndefined();
        expect((await store.getRefreshToken(r1.tokenHash))?.revokedAt).toBe(T0 + 5);
        expect((await store.getRefreshToken(r2.tokenHash))?.revokedAt).toBe(by === 'user' ? undefined : T0 + 5);
        expect((await store.getRefreshToken(rOtherAgent.tokenHash))?.revokedAt).toBe(by === 'user' ? undefined : T0 + 5);
        expect(await raw('SELECT 1 FROM authorization_codes WHERE session_id = $1', [mine2.id])).toHaveLength(0);
        expect(await store.revokeSessionsOf(filter, T0 + 6)).toEqual({ sessionIds: [], refreshTokens: 0 });
      });
    });

    describe('kill switches', () => {
      const actor = { kind: 'admin' as const, via: 'token' as const };
      it('put, replace and delete bump the revision; list reads switches with the revision', async () => {
        const sub = rid('user');
        const key = JSON.stringify(['user', 'https://idp.example', sub]);
        const state = { switch: { kind: 'user' as const, user: { iss: 'https://idp.example', sub } }, reason: 'left the company', actor, since: T0 };
        const r0 = await store.killSwitchRevision();
        const put = await store.putKillSwitch(key, state);
        expect(put).toEqual({ revision: r0 + 1 });
        const again = await store.putKillSwitch(key, { ...state, reason: 'still gone', since: T0 + 1 });
        expect(again).toEqual({ previous: state, revision: r0 + 2 });
        const listed = await store.listKillSwitches();
        expect(listed.revision).toBe(r0 + 2);
        expect(listed.switches).toContainEqual({ ...state, reason: 'still gone', since: T0 + 1 });
        const del = await store.deleteKillSwitch(key);
        expect(del).toEqual({ previous: { ...state, reason: 'still gone', since: T0 + 1 }, revision: r0 + 3 });
        expect(await store.deleteKillSwitch(key)).toEqual({ revision: r0 + 3 });
        expect(
          (await store.listKillSwitches()).switches.find((s) => s.reason === 'still gone' && 'user' in s.switch && s.switch.user.sub === sub),
        ).toBeUndefined();
      });

      it('a conditional delete lifts only the switch set at that time, not one set again since', async () => {
        const k = rid('agent');
        const key = JSON.stringify(['agent', k]);
        const state = { switch: { kind: 'agent' as const, clientId: k }, reason: 'first', actor, since: T0 };
        await store.putKillSwitch(key, state);
        await store.putKillSwitch(key, { ...state, reason: 'set again', since: T0 + 5 });
        const r = await store.killSwitchRevision();
        expect(await store.deleteKillSwitch(key, T0)).toEqual({ revision: r });
        expect((await store.listKillSwitches()).switches).toContainEqual({ ...state, reason: 'set again', since: T0 + 5 });
        expect(await store.deleteKillSwitch(key, T0 + 5)).toEqual({ previous: { ...state, reason: 'set again', since: T0 + 5 }, revision: r + 1 });
      });

      it('concurrent changes each get their own revision', async () => {
        const r0 = await store.killSwitchRevision();
        const keys = [1, 2, 3, 4].map(() => rid('agent'));
        const results = await Promise.all(
          keys.map((k) => store.putKillSwitch(JSON.stringify(['agent', k]), { switch: { kind: 'agent', clientId: k }, reason: 'r', actor, since: T0 })),
        );
        expect(results.map((r) => r.revision).sort((a, b) => a - b)).toEqual([r0 + 1, r0 + 2, r0 + 3, r0 + 4]);
        for (const k of keys) await store.deleteKillSwitch(JSON.stringify(['agent', k]));
      });

      it('survive a restart', async () => {
        const k = rid('res');
        await store.putKillSwitch(JSON.stringify(['resource', k]), { switch: { kind: 'resource', name: k }, reason: 'breach', actor, since: T0 });
        await reopen();
        expect((await store.listKillSwitches()).switches).toContainEqual({ switch: { kind: 'resource', name: k }, reason: 'breach', actor, since: T0 });
        await store.deleteKillSwitch(JSON.stringify(['resource', k]));
      });
    });

    describe('fleet config (tools, resources, upstreams shared by the instances)', () => {
      const doc = (tools: string[]): FleetConfigDoc => ({
        tools: tools.map((name) => ({ name })),
        resources: { cal: { resource: 'https://cal.example/' } },
        upstreams: [],
      });

      it('seeds once; a second seed keeps the first; revision 0 means none', async () => {
        await raw('DELETE FROM fleet_config');
        expect(await store.getFleetConfig()).toBeUndefined();
        expect(await store.fleetConfigRevision()).toBe(0);
        const first = await store.seedFleetConfig(doc(['a']), 'seeded from A');
        expect(first).toMatchObject({ seeded: true, record: { revision: 1, doc: doc(['a']), updatedAt: T0, updatedBy: 'seeded from A' } });
        expect(first.record.hash).toMatch(/^[0-9a-f]{64}$/);
        const second = await store.seedFleetConfig(doc(['b']), 'seeded from B');
        expect(second).toEqual({ seeded: false, record: first.record });
        expect(await store.fleetConfigRevision()).toBe(1);
      });

      it('an update bumps the revision and announces it; an equal doc is no new revision; a throw changes nothing', async () => {
        await raw('DELETE FROM fleet_config');
        await store.seedFleetConfig(doc(['a']), 'seed');
        let heard = 0;
        const stop = await store.onFleetConfigChange(() => heard++);
        try {
          const seen: Array<number | undefined> = [];
          const r = await store.updateFleetConfig(async (current) => {
            seen.push(current?.revision);
            return { doc: doc(['a', 'b']), result: 'ok' };
          }, 'admin edit');
          expect(r).toMatchObject({ changed: true, result: 'ok', record: { revision: 2, doc: doc(['a', 'b']), updatedBy: 'admin edit' } });
          expect(seen).toEqual([1]);
          // At once from this store object; on PostgreSQL once more by its own NOTIFY (delivered at commit).
          const expected = store.engine === 'postgres' ? 2 : 1;
          await expect.poll(() => heard, { timeout: 5_000, interval: 10 }).toBe(expected);
          const same = await store.updateFleetConfig(async () => ({ doc: doc(['a', 'b']), result: undefined }), 'again');
          expect(same).toMatchObject({ changed: false, record: { revision: 2, updatedBy: 'admin edit' } });
          const refused = await store
            .updateFleetConfig(async () => {
              throw new GatewayError('admin_conflict', 'stale');
            }, 'x')
            .catch((e: unknown) => e);
          expect(refused).toMatchObject({ code: 'admin_conflict' });
          expect(await store.getFleetConfig()).toMatchObject({ revision: 2, doc: doc(['a', 'b']) });
          expect(await store.fleetConfigRevision()).toBe(2); // a round trip: a NOTIFY would have arrived before it
          expect(heard).toBe(expected);
        } finally {
          await stop();
        }
      });

      it('concurrent updates are serialized: each sees the revision the previous one wrote', async () => {
        await raw('DELETE FROM fleet_config');
        await store.seedFleetConfig(doc([]), 'seed');
        const seen: number[] = [];
        await Promise.all(
          ['x', 'y', 'z'].map((name) =>
            store.updateFleetConfig(async (current) => {
              seen.push(current!.revision);
              return { doc: { ...current!.doc, tools: [...current!.doc.tools, { name }] }, result: undefined };
            }, name),
          ),
        );
        expect(seen.sort()).toEqual([1, 2, 3]);
        const rec = await store.getFleetConfig();
        expect(rec?.revision).toBe(4);
        expect((rec!.doc.tools as Array<{ name: string }>).map((t) => t.name).sort()).toEqual(['x', 'y', 'z']);
        await reopen();
        expect(await store.getFleetConfig()).toEqual(rec);
      });
    });

    describe('admin sessions', () => {
      it('round trip; expired, revoked and unknown ones are not returned', async () => {
        const base = { iss: 'https://idp.example', sub: rid('admin'), csrf: 'csrf-1', createdAt: T0, expiresAt: T0 + 60 * MIN };
        const a = { ...base, idHash: rid('h'), email: 'ada@example.com', name: 'Ada' };
        const b = { ...base, idHash: rid('h') };
        await store.createAdminSession(a);
        await store.createAdminSession(b);
        expect(await store.getAdminSession(a.idHash, T0)).toEqual(a);
        expect(await store.getAdminSession(b.idHash, T0)).toEqual(b);
        expect(await store.getAdminSession(a.idHash, T0 + 60 * MIN)).toBeUndefined();
        expect(await store.revokeAdminSession(a.idHash, T0 + 1)).toBe(true);
        expect(await store.revokeAdminSession(a.idHash, T0 + 2)).toBe(false);
        expect(await store.getAdminSession(a.idHash, T0)).toBeUndefined();
        expect(await store.revokeAdminSessionsOf({ iss: base.iss, sub: base.sub }, T0 + 3)).toBe(1);
        expect(await store.getAdminSession(b.idHash, T0)).toBeUndefined();
        expect(await store.getAdminSession('unknown', T0)).toBeUndefined();
      });
    });

    describe('revoked access tokens', () => {
      it('remembers a revoked jti', async () => {
        const jti = rid('jti');
        expect(await store.isAccessTokenRevoked(jti)).toBe(false);
        await store.revokeAccessToken(jti, T0 + MIN);
        await store.revokeAccessToken(jti, T0 + MIN); // idempotent
        expect(await store.isAccessTokenRevoked(jti)).toBe(true);
      });
    });

    describe('auth change feed (sessions and revoked jtis cached in memory: src/store/auth-state.ts)', () => {
      it('every write that can end a credential appends to the feed and is announced before it resolves', async () => {
        const heard: unknown[][] = [];
        const stop = await store.onAuthChange((local) => {
          if (local) heard.push(local.map((c) => ({ ...c })));
        });
        try {
          const { head: start } = await store.authChangesSince(Number.MAX_SAFE_INTEGER, 1);
          const a = await newSession();
          const b = await newSession();
          const user = await newSession();
          const twin = await newSession({ iss: user.iss, sub: user.sub });
          const jti = rid('jti');
          const cases: Array<[string, () => Promise<unknown>, unknown[]]> = [
            ['tokens renewed', () => store.updateUserSessionTokens(a.id, { idToken: rid('id'), idTokenExpiresAt: T0 }), [{ kind: 'session', key: a.id }]],
            ['session revoked', () => store.revokeUserSession(b.id, T0), [{ kind: 'session', key: b.id }]],
            ['revoked again: nothing changed, nothing announced', () => store.revokeUserSession(b.id, T0), []],
            ['access token revoked', () => store.revokeAccessToken(jti, T0 + MIN), [{ kind: 'jti', key: jti, expiresAt: T0 + MIN }]],
            [
              "a user's sessions revoked",
              () => store.revokeSessionsOf({ user: { iss: user.iss, sub: user.sub } }, T0),
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
          const { changes, head } = await store.authChangesSince(start);
          expect(changes.map(({ seq: _s, ...c }) => c).sort((x, y) => x.key.localeCompare(y.key))).toEqual(
            (expected as Array<{ key: string }>).sort((x, y) => x.key.localeCompare(y.key)),
          );
          const seqs = changes.map((c) => c.seq!);
          expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
          expect(head).toBe(seqs[seqs.length - 1]);
          // Nothing newer: the head stays, and paging works.
          expect(await store.authChangesSince(head)).toEqual({ changes: [], head });
          expect((await store.authChangesSince(start, 2)).changes).toHaveLength(2);
          expect(await store.listRevokedAccessTokens(T0)).toContainEqual({ jti, expiresAt: T0 + MIN });
          expect(await store.listRevokedAccessTokens(T0 + MIN)).not.toContainEqual({ jti, expiresAt: T0 + MIN });
        } finally {
          await stop();
        }
      });
    });

    describe('security events: each (iss, jti) claimed once, across restarts and instances', () => {
      const ISS = 'https://idp.example';
      const LEASE = 2 * MIN;
      const EXP = T0 + 60 * MIN;
      const row = async (jti: string, iss = ISS) =>
        (
          await raw<{ claimed_at: unknown; acted_at: unknown; expires_at: unknown }>(
            'SELECT claimed_at, acted_at, expires_at FROM security_events WHERE iss = $1 AND jti = $2',
            [iss, jti],
          )
        ).map((r) => ({
          claimedAt: Number(r.claimed_at),
          actedAt: r.acted_at === null ? null : Number(r.acted_at),
          expiresAt: Number(r.expires_at),
        }));

      it('a table of claims: first, in progress, acted, released, abandoned, expired, another transmitter', async () => {
        const jti = rid('jti');
        const steps: Array<[string, () => Promise<unknown>, unknown]> = [
          ['first claim', () => store.claimSecurityEvent(ISS, jti, EXP, T0, LEASE), 'claimed'],
          ['again while in progress', () => store.claimSecurityEvent(ISS, jti, EXP, T0 + 1000, LEASE), 'pending'],
          ['the same jti from another transmitter is another event', () => store.claimSecurityEvent('https://other.example', jti, EXP, T0, LEASE), 'claimed'],
          ['a release with another claim time leaves the claim', () => store.releaseSecurityEvent(ISS, jti, T0 + 1), undefined],
          ['so it is still in progress', () => store.claimSecurityEvent(ISS, jti, EXP, T0 + 2000, LEASE), 'pending'],
          ['release by its claimer', () => store.releaseSecurityEvent(ISS, jti, T0), undefined],
          ['claimed again after the release', () => store.claimSecurityEvent(ISS, jti, EXP, T0 + 3000, LEASE), 'claimed'],
          ['completed', () => store.completeSecurityEvent(ISS, jti, T0 + 4000), undefined],
          ['then acted, also long after the lease', () => store.claimSecurityEvent(ISS, jti, EXP, T0 + 30 * MIN, LEASE), 'acted'],
          ['a release after completion changes nothing', () => store.releaseSecurityEvent(ISS, jti, T0 + 3000), undefined],
          ['still acted', () => store.claimSecurityEvent(ISS, jti, EXP, T0 + 5000, LEASE), 'acted'],
          ['past its expiry the row counts as absent', () => store.claimSecurityEvent(ISS, jti, EXP + 60 * MIN, EXP, LEASE), 'claimed'],
        ];
        const results = [];
        for (const [, step] of steps) results.push(await step());
        expect(results).toEqual(steps.map(([, , want]) => want));
        expect(await row(jti)).toEqual([{ claimedAt: EXP, actedAt: null, expiresAt: EXP + 60 * MIN }]);
      });

      it('a claim never completed is taken over after its lease; the old claimer can no longer release it', async () => {
        const jti = rid('jti');
        expect(await store.claimSecurityEvent(ISS, jti, EXP, T0, LEASE)).toBe('claimed');
        expect(await store.claimSecurityEvent(ISS, jti, EXP, T0 + LEASE - 1, LEASE)).toBe('pending');
        expect(await store.claimSecurityEvent(ISS, jti, EXP, T0 + LEASE, LEASE)).toBe('claimed');
        await store.releaseSecurityEvent(ISS, jti, T0);
        expect(await row(jti)).toEqual([{ claimedAt: T0 + LEASE, actedAt: null, expiresAt: EXP }]);
        await store.completeSecurityEvent(ISS, jti, T0 + LEASE + 1);
        expect(await row(jti)).toEqual([{ claimedAt: T0 + LEASE, actedAt: T0 + LEASE + 1, expiresAt: EXP }]);
      });

      it('concurrent claims: exactly one wins', async () => {
        const jti = rid('jti');
        const results = await Promise.all([1, 2, 3, 4, 5].map(() => store.claimSecurityEvent(ISS, jti, EXP, T0, LEASE)));
        expect(results.filter((r) => r === 'claimed')).toHaveLength(1);
        expect(results.filter((r) => r === 'pending')).toHaveLength(4);
      });

      it('survive a restart', async () => {
        const jti = rid('jti');
        expect(await store.claimSecurityEvent(ISS, jti, EXP, T0, LEASE)).toBe('claimed');
        await store.completeSecurityEvent(ISS, jti, T0);
        await reopen();
        expect(await store.claimSecurityEvent(ISS, jti, EXP, T0 + 1000, LEASE)).toBe('acted');
      });
    });

    describe('signing keys', () => {
      it('rotation keeps the retired key listed with verifyUntil', async () => {
        const before = (await store.listSigningKeys()).length;
        const oldKey = {
          kid: rid('kid-old'),
          alg: 'ES256' as const,
          privateJwk: { kty: 'EC', crv: 'P-256', x: 'x1', y: 'y1', d: 'secret-d-1' },
          publicJwk: { kty: 'EC', crv: 'P-256', x: 'x1', y: 'y1' },
          createdAt: T0 + 100,
        };
        const newKey = { ...oldKey, kid: rid('kid-new'), privateJwk: { ...oldKey.privateJwk, d: 'secret-d-2' }, createdAt: T0 + 200 };
        await store.addSigningKey(oldKey);
        await store.addSigningKey(newKey);
        await store.retireSigningKey(oldKey.kid, T0 + 200, T0 + 215 * MIN);
        const keys = await store.listSigningKeys();
        expect(keys).toHaveLength(before + 2);
        expect(keys.find((k) => k.kid === newKey.kid)).toEqual({ ...newKey, retiredAt: undefined, verifyUntil: undefined });
        expect(keys.find((k) => k.kid === oldKey.kid)).toEqual({ ...oldKey, retiredAt: T0 + 200, verifyUntil: T0 + 215 * MIN });
        expect(keys.findIndex((k) => k.kid === newKey.kid)).toBeLessThan(keys.findIndex((k) => k.kid === oldKey.kid));
        await expect(store.retireSigningKey('no-such-kid', T0, T0)).rejects.toThrow(/no signing key/);
        await expect(store.addSigningKey(newKey)).rejects.toThrow();
      });
    });

    describe('encryption at rest', () => {
      it('keeps no plaintext secret in the rows', async () => {
        const s = await newSession({ idpRefreshToken: 'plain-idp-refresh-token-XYZ' });
        const [row] = await raw('SELECT * FROM user_sessions WHERE id = $1', [s.id]);
        const text = JSON.stringify(row);
        expect(text).not.toContain('plain-idp-refresh-token-XYZ');
        expect(text).not.toContain(s.idToken);
        expect(row?.idp_refresh_token_enc).toMatch(/^v1:[A-Za-z0-9_-]{16}:[A-Za-z0-9_-]+$/);
        const kid = rid('kid');
        await store.addSigningKey({ kid, alg: 'ES256', privateJwk: { kty: 'EC', d: 'very-private-d' }, publicJwk: { kty: 'EC' }, createdAt: T0 });
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
        const err = await store.getUserSession(attacker.id).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(GatewayError);
        expect((err as GatewayError).code).toBe('store_unavailable');
        expect((err as GatewayError).message).not.toContain('victim-rt');
        await raw('DELETE FROM user_sessions WHERE id = $1', [attacker.id]);
      });

      it('reopening with another key fails clearly; the right key still works', async () => {
        const s = await newSession();
        await store.close();
        const err = await open({ encryptionKey: OTHER_KEY, now }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(GatewayError);
        expect((err as GatewayError).code).toBe('config_invalid');
        expect((err as Error).message).toMatch(/server\.encryptionKey does not match/);
        store = await open({ encryptionKey: KEY, now });
        expect((await store.getUserSession(s.id))?.idToken).toBe(s.idToken);
      });

      it('refuses a malformed key, naming the setting and how to make one', async () => {
        for (const bad of ['', 'short', randomBytes(16).toString('base64'), 'z'.repeat(64)]) {
          await expect(open({ encryptionKey: bad, now }), bad).rejects.toThrow(/server\.encryptionKey.*openssl rand -base64 32/);
        }
      });
    });

    describe('restart', () => {
      it('keeps sessions, clients, consents, refresh tokens and keys across close and reopen', async () => {
        const s = await newSession({ idpRefreshToken: 'survives' });
        const clientId = rid('client');
        await store.upsertClient({ clientId, source: 'config', redirectUris: ['https://a/cb'], tokenEndpointAuthMethod: 'none', metadata: {}, createdAt: T0 });
        await store.saveConsent({ iss: s.iss, sub: s.sub, clientId, scopes: ['mcp:tools'], grantedAt: T0 });
        const rt = await newRefresh({ sessionId: s.id, clientId });
        const kid = rid('kid');
        await store.addSigningKey({ kid, alg: 'ES256', privateJwk: { d: 'd' }, publicJwk: { x: 'x' }, createdAt: T0 });
        await reopen();
        expect(await store.getUserSession(s.id)).toMatchObject({ idpRefreshToken: 'survives', idToken: s.idToken });
        expect(await store.getClient(clientId)).toBeDefined();
        expect(await store.getConsent(s.iss, s.sub, clientId)).toBeDefined();
        expect((await store.rotateRefreshToken(rt.tokenHash, nextOf(), T0)).ok).toBe(true);
        expect((await store.listSigningKeys()).find((k) => k.kid === kid)?.privateJwk).toEqual({ d: 'd' });
      });
    });

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
        await store.saveAuthorizationRequest({ ...base, id: reqGone, expiresAt: at });
        await store.saveAuthorizationRequest({ ...base, id: reqKept, expiresAt: at + 1 });
        const codeBase = { clientId: 'a', redirectUri: 'r', codeChallenge: 'c', sessionId: s.id, scopes: [], resource: 'r' };
        const codeGone = rid('code');
        const codeKept = rid('code');
        await store.saveAuthorizationCode({ ...codeBase, codeHash: codeGone, expiresAt: at - 1 });
        await store.saveAuthorizationCode({ ...codeBase, codeHash: codeKept, expiresAt: at + 1 });
        const rtGone = await newRefresh({ sessionId: s.id, expiresAt: at });
        const rtKept = await newRefresh({ sessionId: s.id, expiresAt: at + 1 });
        const jtiGone = rid('jti');
        const jtiKept = rid('jti');
        await store.revokeAccessToken(jtiGone, at);
        await store.revokeAccessToken(jtiKept, at + 1);
        const key = (kid: string) => ({ kid, alg: 'ES256' as const, privateJwk: {}, publicJwk: {}, createdAt: T0 });
        const kGone = rid('kid');
        const kRetiredKept = rid('kid');
        const kActive = rid('kid');
        for (const k of [kGone, kRetiredKept, kActive]) await store.addSigningKey(key(k));
        await store.retireSigningKey(kGone, T0, at);
        await store.retireSigningKey(kRetiredKept, T0, at + 1);
        const setGone = rid('jti');
        const setKept = rid('jti');
        await store.claimSecurityEvent('https://idp.example', setGone, at, T0, MIN);
        await store.claimSecurityEvent('https://idp.example', setKept, at + 1, T0, MIN);
        await store.completeSecurityEvent('https://idp.example', setKept, T0);

        await store.purgeExpired(at);

        clock = T0;
        expect(await store.getAuthorizationRequest(reqGone)).toBeUndefined();
        expect(await store.getAuthorizationRequest(reqKept)).toBeDefined();
        expect(await raw('SELECT code_hash FROM authorization_codes WHERE code_hash IN ($1, $2)', [codeGone, codeKept])).toEqual([{ code_hash: codeKept }]);
        expect(await store.getRefreshToken(rtGone.tokenHash)).toBeUndefined();
        expect(await store.getRefreshToken(rtKept.tokenHash)).toBeDefined();
        expect(await store.isAccessTokenRevoked(jtiGone)).toBe(false);
        expect(await store.isAccessTokenRevoked(jtiKept)).toBe(true);
        const kids = (await store.listSigningKeys()).map((k) => k.kid);
        expect(kids).not.toContain(kGone);
        expect(kids).toContain(kRetiredKept);
        expect(kids).toContain(kActive);
        expect(await raw('SELECT jti FROM security_events WHERE jti IN ($1, $2)', [setGone, setKept])).toEqual([{ jti: setKept }]);
        expect(await store.getUserSession(s.id)).toBeDefined();
      });
    });
  });
}
