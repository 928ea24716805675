/**
 * The tiny SQL surface both engines offer. The store's queries are written once against it, so
 * PGlite (embedded) and PostgreSQL run exactly the same statements. Parameterized queries only.
 */
import type { ListenStatus } from './listener.js';

export interface QueryResult<R> {
  rows: R[];
  /** Rows inserted, updated, deleted or returned by the statement. */
  rowCount: number;
}

export interface Queryable {
  query<R = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<QueryResult<R>>;
}

export interface Sql extends Queryable {
  readonly engine: 'pglite' | 'postgres';
  /** Runs `fn` in one transaction (BEGIN ... COMMIT, ROLLBACK on throw) on one connection. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /**
   * PostgreSQL only: LISTEN on `channel` on the store's one dedicated connection; `onNotify` runs
   * for each NOTIFY (from any instance), and once more each time the connection is re-opened after
   * a loss (what changed meanwhile was announced to nobody). Resolves to a function that stops it.
   */
  listen?(channel: string, onNotify: () => void): Promise<() => Promise<void>>;
  /** PostgreSQL only: is the LISTEN connection up (see listener.ts). */
  listenStatus?(): ListenStatus;
  /** The schema the tables live in (channel names are per schema, like the tables). */
  readonly schema: string;
  close(): Promise<void>;
}
