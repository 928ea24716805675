/**
 * Sessions and revoked jtis held in memory (src/store/auth-state.ts), proven on the machine's
 * PostgreSQL with two "instances" (two store objects on one schema, each with its own cache):
 * - warm reads go to no table;
 * - a change made through an instance is in force on its next read;
 * - a change made by the other instance arrives by NOTIFY, or by the poll with the notification
 *   path cut; and whatever happens to both, a cached answer is never older than maxStaleMs (1 s by
 *   default): past it, the store is read. Time is a fake clock: nothing here depends on how fast
 *   the machine is.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { AuthStateCache, withAuthState } from '../../src/store/auth-state.js';
import { openStore, type AuthChange, type Store } from '../../src/store/index.js';
import { SqlStore } from '../../src/store/sql-store.js';
import { KEY } from './contract.js';

const databaseUrl = process.env.XAA_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const skip = process.env.XAA_SKIP_POSTGRES === '1';
const schema = `auth_state_${randomBytes(6).toString('hex')}`;
const T0 = 1_800_000_000_000;
const silent = { warn: () => {}, info: () => {} };

afterAll(async () => {
  if (skip) return;
  const c = new pg.Client({ connectionString: databaseUrl });
  await c.connect();
  await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await c.end();
});

/** Counts the queries a store object sends, by table. */
function countQueries(store: Store): { reads: (table: string) => number; reset(): void } {
  const sql = (store as SqlStore).sql;
  const seen: string[] = [];
  const query = sql.query.bind(sql);
  sql.query = ((text: string, params?: unknown[]) => {
    seen.push(text);
    return query(text, params);
  }) as typeof sql.query;
  return { reads: (table) => seen.filter((t) => new RegExp(`FROM ${table}\\b`).test(t)).length, reset: () => void (seen.length = 0) };
}

interface Instance {
  raw: Store;
  store: Store;
  cache: AuthStateCache;
  queries: ReturnType<typeof countQueries>;
}

describe.skipIf(skip)('AuthStateCache on PostgreSQL, two instances', () => {
  let clock = T0;
  const now = () => clock;
  const opened: Instance[] = [];
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((i) => i.store.close()));
  });

  /** `cutNotifications`: this instance hears nothing from the other (its LISTEN is gone); `pollMs` 0: no poll either. */
  async function instance(opts: { cutNotifications?: boolean; pollMs?: number } = {}): Promise<Instance> {
    const raw = await openStore({ databaseUrl, dataDir: '/unused', schema, encryptionKey: KEY, now });
    const source: Store = opts.cutNotifications
      ? new Proxy(raw, {
          get(t, p) {
            if (p === 'onAuthChange') return (l: (local: AuthChange[] | undefined) => void) => t.onAuthChange((local) => local && l(local));
            const v: unknown = Reflect.get(t, p, t);
            return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
          },
        })
      : raw;
    const cache = new AuthStateCache(source, { now, logger: silent, pollMs: opts.pollMs ?? 0 });
    await cache.start();
    const i = { raw, store: withAuthState(source, cache), cache, queries: countQueries(raw) };
    opened.push(i);
    return i;
  }

  const session = (store: Store) =>
    store.createUserSession({ iss: 'https://idp.example', sub: `u-${randomBytes(4).toString('hex')}`, idToken: 'id-token', idTokenExpiresAt: T0 + 3_600_000 });

  /** Resolves once `cond` holds, checking between turns of the event loop (a hang guard, not a speed assertion). */
  async function until(cond: () => Promise<boolean>, what: string): Promise<void> {
    const guard = Date.now() + 30_000;
    while (!(await cond())) {
      if (Date.now() > guard) throw new Error(`never happened: ${what}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  it('warm reads of a session and of a jti go to no table', async () => {
    const a = await instance();
    const s = await session(a.store);
    await a.store.getUserSession(s.id); // cold: one read
    a.queries.reset();
    for (let i = 0; i < 50; i++) {
      expect((await a.store.getUserSession(s.id))?.sub).toBe(s.sub);
      expect(await a.store.isAccessTokenRevoked(`jti-${i}`)).toBe(false);
    }
    expect({ sessionReads: a.queries.reads('user_sessions'), jtiReads: a.queries.reads('revoked_access_tokens') }).toEqual({ sessionReads: 0, jtiReads: 0 });
  });

  it('a change made through an instance is in force on its next read, with no feed read', async () => {
    // Its own NOTIFY would come back too: cut, so only the synchronous local announcement can act.
    const a = await instance({ cutNotifications: true });
    const s = await session(a.store);
    await a.store.getUserSession(s.id);
    const reads = a.cache.stats.feedReads;
    await a.store.revokeUserSession(s.id, clock);
    expect((await a.store.getUserSession(s.id))?.revokedAt).toBe(clock);
    await a.store.revokeAccessToken('jti-local', clock + 60_000);
    expect(await a.store.isAccessTokenRevoked('jti-local')).toBe(true);
    expect(a.cache.stats.feedReads).toBe(reads);
  });

  it.each([
    ['by NOTIFY (no poll)', { pollMs: 0 }],
    ['by the poll, with the notification path cut', { cutNotifications: true, pollMs: 20 }],
  ])('a change made by the other instance arrives %s', async (_how, opts) => {
    const a = await instance(opts);
    const b = await instance();
    const s = await session(b.store);
    expect((await a.store.getUserSession(s.id))?.revokedAt).toBeUndefined(); // cached on a
    const reads = a.cache.stats.feedReads;
    await b.store.revokeUserSession(s.id, clock);
    await b.store.revokeAccessToken('jti-remote', clock + 60_000);
    // Memory reads only (the clock stands still, so the cache stays fresh): they show what a has heard.
    // …and that it has read the feed since (under load a read in flight at the snapshot may be the one
    // that carried them; the next one follows within a poll).
    await until(
      async () =>
        (await a.store.isAccessTokenRevoked('jti-remote')) && (await a.store.getUserSession(s.id))?.revokedAt === clock && a.cache.stats.feedReads > reads,
      'a hears of both changes through the feed',
    );
    expect(a.cache.stats.staleReads).toBe(0);
  });

  it('with neither NOTIFY nor poll, answers older than maxStaleMs are not given: the store is read', async () => {
    const a = await instance({ cutNotifications: true, pollMs: 0 });
    const b = await instance();
    const s = await session(b.store);
    expect((await a.store.getUserSession(s.id))?.revokedAt).toBeUndefined(); // cached on a
    await b.store.revokeUserSession(s.id, clock);
    await b.store.revokeAccessToken('jti-unheard', clock + 60_000);
    clock += 1_000; // exactly maxStaleMs since a's last feed read: still answered from memory
    expect(a.cache.fresh).toBe(true);
    expect((await a.store.getUserSession(s.id))?.revokedAt).toBeUndefined();
    clock += 1; // one ms more: a read goes to the store
    expect(a.cache.fresh).toBe(false);
    a.queries.reset();
    expect((await a.store.getUserSession(s.id))?.revokedAt).toBe(T0);
    expect(await a.store.isAccessTokenRevoked('jti-unheard')).toBe(true);
    expect(a.queries.reads('user_sessions')).toBe(1);
    expect(a.cache.stats.staleReads).toBe(2);
    clock = T0;
  });

  it('a store read that overlaps a revocation is not cached (no stale copy outlives the change)', async () => {
    const a = await instance();
    const s = await session(a.store);
    // The revocation lands while a's read is in flight: that read's (older) answer must not be kept.
    const reading = a.store.getUserSession(s.id);
    await a.store.revokeUserSession(s.id, clock);
    await reading;
    expect((await a.store.getUserSession(s.id))?.revokedAt).toBe(clock);
  });
});
