import type { Server } from '@modelcontextprotocol/server';
import type { McpSessionRecord } from '../../store/mcp-sessions.js';
import type { SessionTransport } from './session-transport.js';

/** A session's server on this instance, connected once, for its plain JSON requests (McpSessions#serveWarm). */
export interface WarmServer {
  server: Server;
  transport: SessionTransport;
  ready: Promise<void>;
}

/** A 2025-era session as this instance knows it: the shared record, and what only this instance holds. */
export interface CachedSession {
  record: McpSessionRecord;
  lastSeen: number;
  /** Used since the last sweep wrote last_seen to the store. */
  touched: boolean;
  /** The GET stream held on this instance (one per session here; a new GET replaces it). */
  stream?: { close(reason?: string): void };
  /** The session's server on this instance, connected once, for its plain JSON requests (#serveWarm). */
  warm?: WarmServer;
}

/** The session's warm server is closed (its requests in progress are answered with an error). */
export function cool(session: CachedSession | undefined): void {
  const warm = session?.warm;
  if (!warm) return;
  delete session.warm;
  void warm.server.close().catch(() => {});
}

/**
 * The sessions cached in this process, least recently used first (a Map keeps insertion order). Leaving
 * the cache ends nothing, the store still has the record, but closes the session's warm server here.
 */
export class SessionCache {
  readonly #map = new Map<string, CachedSession>();

  constructor(private readonly maxSessions: number) {}

  get size(): number {
    return this.#map.size;
  }

  values(): IterableIterator<CachedSession> {
    return this.#map.values();
  }

  keys(): IterableIterator<string> {
    return this.#map.keys();
  }

  /** The cached session of `id`, moved to the most recently used end. */
  use(id: string): CachedSession | undefined {
    const session = this.#map.get(id);
    if (session) {
      // LRU order: a used session moves to the end.
      this.#map.delete(id);
      this.#map.set(id, session);
    }
    return session;
  }

  /**
   * Caches a session. Beyond maxSessions the least recently used one without a stream held here is
   * dropped (and returned: its last_seen may still have to be written).
   */
  add(session: CachedSession): CachedSession | undefined {
    this.#map.set(session.record.id, session);
    if (this.#map.size <= this.maxSessions) return undefined;
    // Dropping a cached record ends nothing: the store still has it.
    for (const [id, s] of this.#map) {
      if (s.stream) continue;
      this.#map.delete(id);
      cool(s);
      return s;
    }
    return undefined;
  }

  /** Removes a session from the cache (its warm server closed); returns it, if it was cached. */
  drop(id: string): CachedSession | undefined {
    const s = this.#map.get(id);
    this.#map.delete(id);
    cool(s);
    return s;
  }

  /** The sessions used since their last_seen was written to the store. */
  touched(): CachedSession[] {
    return [...this.#map.values()].filter((s) => s.touched);
  }

  clear(): void {
    this.#map.clear();
  }
}
