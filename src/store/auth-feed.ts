/**
 * The auth change feed as the Store offers it (read by auth-state.ts; its SQL is in auth-changes.ts),
 * and what a repository whose write can end a credential's validity is given to record the change.
 */
import type { Queryable } from './sql.js';

/**
 * One entry of the auth change feed (migration 7): `session` (a user session was revoked or its
 * IdP tokens renewed: cached copies are stale), `jti` (a gateway access token was revoked, until
 * `expiresAt`). `seq` is absent on the synchronous local announcement, made before the write returns.
 */
export interface AuthChange {
  seq?: number;
  kind: 'session' | 'jti';
  key: string;
  expiresAt?: number;
}

/** The auth change feed (src/store/auth-state.ts). */
export interface AuthFeedStore {
  /** Feed entries after `seq`, oldest first (at most `limit`), and the newest seq in the feed. */
  authChangesSince(seq: number, limit?: number): Promise<{ changes: AuthChange[]; head: number }>;
  /**
   * Calls `listener(changes)` synchronously once a change made through this store object is
   * committed (before the write resolves), and `listener(undefined)` on NOTIFY from other
   * instances (PostgreSQL; read the feed then). Resolves to a function that stops it.
   */
  onAuthChange(listener: (local: AuthChange[] | undefined) => void): Promise<() => Promise<void>>;
}

/** A change that can end a credential's validity is written in two steps, around its commit. */
export interface AuthFeed {
  /** In the change's transaction: the feed rows, and the NOTIFY other instances hear at commit. */
  append(tx: Queryable, changes: AuthChange[]): Promise<void>;
  /** After commit, before the write resolves: this process's caches apply it before anything else runs. */
  announce(changes: AuthChange[]): void;
}
