/**
 * Sessions and revoked access tokens held in memory, so a warm tools/call reads no table: every
 * request verifies its bearer token (is its jti revoked? is its session signed out?) and resolves
 * the user from the session, which were three store queries and an AES decrypt per call.
 *
 * Freshness, the guarantee the cache must keep:
 * - A change made through this process's store object (sign-out, revocation, kill switch, SCIM...)
 *   is announced synchronously after its commit, before the write resolves: the next call on this
 *   instance sees it.
 * - A change made by another instance is in the auth change feed (src/store/auth-changes.ts),
 *   written in the change's transaction. NOTIFY at its commit makes every instance read the feed at
 *   once; the poll (every `pollMs`, 500 ms by default) reads it too, so a lost LISTEN connection
 *   delays it by one poll at most.
 * - The cache answers only while its last successful feed read began at most `maxStaleMs` ago;
 *   past that (the store unreachable, the poll turned off) every read goes to the store again, as
 *   before: staleness is bounded, and a store outage is not hidden behind old answers.
 * The embedded store (PGlite) has one process by construction, so every change is local there.
 */
import type { Logger } from '../log.js';
import { AUTH_CHANGES_KEPT_MS } from './auth-changes.js';
import type { AuthChange, Store, UserSession } from './types.js';

export interface AuthStateOptions {
  now: () => number;
  logger: Pick<Logger, 'warn' | 'info'>;
  /** Feed poll in ms. Default 500 with PostgreSQL; the embedded store needs none (0). */
  pollMs?: number;
  /** The cache answers while its last feed read began at most this long ago. Default 1 s: with the 500 ms poll, a change committed anywhere is seen, or the store is read, within 1 s. */
  maxStaleMs?: number;
  /** Cached sessions, oldest dropped first. Default 10,000. */
  maxSessions?: number;
}

export interface AuthStateStats {
  sessionHits: number;
  sessionMisses: number;
  /** Reads that went to the store because the feed was not fresh. */
  staleReads: number;
  /** Feed reads done: a page of the change feed applied, or a full reload in place. */
  feedReads: number;
  feedErrors: number;
}

const FEED_PAGE = 1000;
/** How far back each feed read looks again (commit order is not seq order): far longer than a transaction. */
const OVERLAP_MS = 5_000;

export class AuthStateCache {
  readonly stats: AuthStateStats = { sessionHits: 0, sessionMisses: 0, staleReads: 0, feedReads: 0, feedErrors: 0 };
  readonly #sessions = new Map<string, UserSession>();
  /** Revoked jti -> when the token expires anyway (epoch ms). */
  readonly #revoked = new Map<string, number>();
  readonly #local: boolean;
  readonly #pollMs: number;
  readonly #maxStaleMs: number;
  readonly #maxSessions: number;
  #seq = 0;
  /** Feed positions read, with when (the overlap of the next read starts from one of them). */
  #history: Array<{ at: number; seq: number }> = [];
  /** When the last successful feed read began (epoch ms). */
  #syncedAt = Number.NEGATIVE_INFINITY;
  /** Bumped by every change applied: a store read that overlapped one is not cached. */
  #changes = 0;
  #syncing?: Promise<void>;
  #syncAgain = false;
  #timer?: NodeJS.Timeout;
  #stopListening?: () => Promise<void>;

  constructor(
    private readonly store: Store,
    private readonly opts: AuthStateOptions,
  ) {
    this.#local = store.engine === 'pglite';
    this.#pollMs = opts.pollMs ?? (this.#local ? 0 : 500);
    this.#maxStaleMs = opts.maxStaleMs ?? 1_000;
    this.#maxSessions = opts.maxSessions ?? 10_000;
  }

  /** Subscribes to the feed, loads the revoked jtis and starts the poll. */
  async start(): Promise<void> {
    this.#stopListening = await this.store.onAuthChange((local) => {
      if (local) this.#apply(local);
      else this.#requestSync();
    });
    await this.#reload();
    if (this.#pollMs > 0) {
      this.#timer = setInterval(() => this.#requestSync(), this.#pollMs);
      this.#timer.unref();
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#stopListening?.();
    await this.#syncing?.catch(() => undefined);
  }

  /** True while cached answers may be given (see the module comment). */
  get fresh(): boolean {
    return this.#local || this.opts.now() - this.#syncedAt <= this.#maxStaleMs;
  }

  async getUserSession(id: string): Promise<UserSession | undefined> {
    const fresh = this.fresh;
    if (fresh) {
      const hit = this.#sessions.get(id);
      if (hit) {
        this.stats.sessionHits++;
        return hit;
      }
      this.stats.sessionMisses++;
    } else {
      this.stats.staleReads++;
    }
    const before = this.#changes;
    const session = await this.store.getUserSession(id);
    // A change applied while reading may be newer than what was read: not cached (the next read is).
    if (session && fresh && this.#changes === before) {
      if (this.#sessions.size >= this.#maxSessions) this.#sessions.delete(this.#sessions.keys().next().value!);
      this.#sessions.set(id, session);
    }
    return session;
  }

  async isAccessTokenRevoked(jti: string): Promise<boolean> {
    if (!this.fresh) {
      this.stats.staleReads++;
      return this.store.isAccessTokenRevoked(jti);
    }
    return this.#revoked.has(jti);
  }

  #apply(changes: readonly AuthChange[]): void {
    const now = this.opts.now();
    for (const c of changes) {
      if (c.kind === 'session') this.#sessions.delete(c.key);
      // A revocation without an expiry is kept as long as the feed keeps entries.
      else this.#revoked.set(c.key, Math.max(this.#revoked.get(c.key) ?? 0, c.expiresAt ?? now + AUTH_CHANGES_KEPT_MS));
    }
    this.#changes++;
  }

  #requestSync(): void {
    if (this.#syncing) {
      this.#syncAgain = true; // announced while a read was running: it may have missed the change
      return;
    }
    this.#syncing = this.#sync()
      .catch((e: unknown) => {
        this.stats.feedErrors++;
        this.opts.logger.warn('auth change feed unreadable; sessions and revocations are read from the store until it is back', {
          error: e instanceof Error ? e.message : String(e),
        });
      })
      .finally(() => {
        this.#syncing = undefined;
        if (this.#syncAgain) {
          this.#syncAgain = false;
          this.#requestSync();
        }
      });
  }

  async #sync(): Promise<void> {
    const began = this.opts.now();
    // Away longer than the feed keeps entries (or never synced): what was missed is unknown.
    if (!this.#local && began - this.#syncedAt > AUTH_CHANGES_KEPT_MS / 2) return this.#reload();
    // A seq is taken at INSERT and becomes visible at COMMIT, so a change can show up below a seq
    // already read (a concurrent transaction with a lower value committed later). Each read goes
    // back over the last OVERLAP_MS of the feed; applying a change twice is harmless.
    let cursor = this.#seqAsOf(began - OVERLAP_MS);
    for (;;) {
      const { changes, head } = await this.store.authChangesSince(cursor, FEED_PAGE);
      this.stats.feedReads++; // counted once answered: a read counted earlier cannot carry a later change
      if (changes.length === 0 && head < this.#seq) return this.#reload(); // the feed restarted below us (a restored database)
      if (changes.length) this.#apply(changes);
      cursor = Math.max(cursor, head);
      if (changes.length < FEED_PAGE) break;
    }
    this.#seq = Math.max(this.#seq, cursor);
    this.#history.push({ at: began, seq: this.#seq });
    while (this.#history.length > 1 && this.#history[1]!.at <= began - OVERLAP_MS) this.#history.shift();
    this.#syncedAt = began;
    for (const [jti, exp] of this.#revoked) if (exp <= began) this.#revoked.delete(jti);
  }

  /** The feed position read at or before `at` (the oldest one kept when none is that old). */
  #seqAsOf(at: number): number {
    let seq = this.#history[0]?.seq ?? 0;
    for (const h of this.#history) if (h.at <= at) seq = h.seq;
    return seq;
  }

  /** Everything from the store: the feed's head first, so nothing committed after the load is missed. */
  async #reload(): Promise<void> {
    const began = this.opts.now();
    const { head } = await this.store.authChangesSince(Number.MAX_SAFE_INTEGER, 1);
    const revoked = await this.store.listRevokedAccessTokens(began);
    this.#sessions.clear();
    this.#revoked.clear();
    for (const r of revoked) this.#revoked.set(r.jti, r.expiresAt);
    this.#changes++;
    this.#seq = head;
    this.#history = [{ at: began, seq: Math.max(0, head - FEED_PAGE) }];
    this.#syncedAt = began;
    // Counted once its state is in place: its second read (the revoked jtis) can carry a change committed
    // after the first, so counting at the first would let a reload deliver a change it was counted before.
    this.stats.feedReads++;
    // Changes committed between the head read and now are read again by the next sync (idempotent).
  }
}

/**
 * The store with sessions and revoked jtis answered by `cache`; every other method (writes
 * included, which announce their changes to the cache) goes to the store itself. `close` stops
 * the cache's poll first.
 */
export function withAuthState(store: Store, cache: AuthStateCache): Store {
  const own: Partial<Store> = {
    getUserSession: (id) => cache.getUserSession(id),
    isAccessTokenRevoked: (jti) => cache.isAccessTokenRevoked(jti),
    close: async () => {
      await cache.stop();
      await store.close();
    },
  };
  return new Proxy(store, {
    get(target, prop) {
      if (Object.hasOwn(own, prop)) return own[prop as keyof Store];
      const value: unknown = Reflect.get(target, prop, target);
      // Bound to the store itself: its methods use private fields, which a Proxy receiver lacks.
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}
