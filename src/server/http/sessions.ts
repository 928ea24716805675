import { randomUUID } from 'node:crypto';
import type { AuthInfo, JSONRPCRequest, Server, ServerEventBus } from '@modelcontextprotocol/server';
import type { Deps } from '../../deps.js';
import type { Logger } from '../../log.js';
import type { McpSessionOwner, McpSessionRecord, McpSessionStore } from '../../store/mcp-sessions.js';
import type { Store } from '../../store/types.js';
import { batchesAllowed } from '../mcp/versions.js';
import type { VerifiedBearer } from './auth.js';
import { JSONRPC_INVALID_REQUEST, JSONRPC_SERVER_ERROR, JSONRPC_SESSION_NOT_FOUND, jsonRpcError } from './errors.js';
import type { HeldStreams } from './event-stream.js';
import { cool, SessionCache, type CachedSession } from './session-cache.js';
import { isInitialize, plainRequest, serveOnWarm, serveStateless, sessionAuthInfo, warmUp } from './session-serve.js';
import { listen } from './session-stream.js';

/** Who opened an MCP session: the gateway session (user sign-in) and the OAuth client (agent). */
export type SessionOwner = McpSessionOwner;

export interface McpSessionsOptions {
  /** The shared session records (migration 5): every instance reads and writes the same ones. */
  records: McpSessionStore;
  /** User sign-ins (revocation) and OAuth clients (the agent's name). */
  store: Pick<Store, 'getUserSession' | 'getClient'>;
  /** Builds the MCP server that answers one request of a 2025 session. */
  serverFor(session: { record: McpSessionRecord | undefined; owner: SessionOwner; clientName?: string }): Server;
  /** Change events (tools/list_changed) for the GET streams held here. */
  bus: ServerEventBus;
  /** The tools revision, named in SSE event ids (a reconnecting client that missed a change is told). */
  toolsRevision: () => string;
  streams: HeldStreams;
  deps: Pick<Deps, 'now'>;
  logger: Logger;
  /** The gateway's resource URI (AuthInfo.resource). */
  resource: () => string;
  /** A session with no request for this long (on any instance) ends. Default 30 minutes. */
  idleMs?: number;
  /** Live sessions one user may hold per client; the least recently used end beyond it. Default 16. */
  maxPerOwner?: number;
  /** Session records cached in this process (the least recently used are dropped, not ended). Default 10 000. */
  maxSessions?: number;
}

const sameOwner = (a: SessionOwner, b: SessionOwner) => a.sid === b.sid && a.sub === b.sub && a.idpIss === b.idpIss && a.clientId === b.clientId;
const SESSION_NOT_FOUND = (why?: string) => jsonRpcError(404, JSONRPC_SESSION_NOT_FOUND, why ? `Session not found: ${why}` : 'Session not found');
/** Ended records stay this long (an id is not reused, and late requests get 404 not a fresh session). */
const KEEP_ENDED_MS = 24 * 60 * 60_000;

/**
 * 2025-era MCP sessions over Streamable HTTP with no affinity to an instance.
 *
 * No instance holds anything a later request needs: a plain JSON request is answered by the
 * session's warm server here (built from the one factory at its first such request on this
 * instance), anything else by a fresh server over the SDK's stateless transport. What a session
 * is (its owner, negotiated version, client capabilities) lives in the shared store, written once at
 * `initialize` and cached here, so a warm request reads nothing from the store and the first
 * request of a session on another instance reads it once. A session id presented with anyone else's
 * token is answered exactly like an unknown one (404), so ids reveal nothing. Sessions end on DELETE
 * (on any instance), when idle, when their sign-in is revoked, or when their owner opens too many.
 */
export class McpSessions {
  readonly #cache: SessionCache;
  readonly #idleMs: number;
  readonly #maxPerOwner: number;
  readonly #unsubscribe: () => void;
  #sweeping = false;

  constructor(private readonly opts: McpSessionsOptions) {
    this.#idleMs = opts.idleMs ?? 30 * 60_000;
    this.#maxPerOwner = opts.maxPerOwner ?? 16;
    this.#cache = new SessionCache(opts.maxSessions ?? 10_000);
    this.#unsubscribe = opts.bus.subscribe((event) => {
      if (event.kind !== 'tools_list_changed') return;
      for (const s of this.#cache.values())
        (s.stream as { send?: (m: unknown) => boolean } | undefined)?.send?.({ jsonrpc: '2.0', method: 'notifications/tools/list_changed' });
    });
  }

  /** Sessions cached in this process. */
  get size(): number {
    return this.#cache.size;
  }

  /** Session ids and owners cached here, with their GET streams held here and whether a warm server serves them (admin views, tests). */
  list(): Array<{ id: string; owner: SessionOwner; lastSeen: number; streams: number; warm: boolean }> {
    return [...this.#cache.values()].map((s) => ({
      id: s.record.id,
      owner: s.record.owner,
      lastSeen: s.lastSeen,
      streams: s.stream ? 1 : 0,
      warm: s.warm !== undefined,
    }));
  }

  /** One 2025-era request (classified by the SDK's isLegacyRequest); `body` is the parsed POST body. */
  async handle(req: Request, body: unknown, bearer: VerifiedBearer): Promise<Response> {
    const owner: SessionOwner = { sid: bearer.claims.sid, sub: bearer.claims.sub, idpIss: bearer.claims.idp_iss, clientId: bearer.claims.client_id };
    const id = req.headers.get('mcp-session-id');
    if (id === null) {
      // Streamable HTTP: a server without a stream to offer answers GET with 405, and may refuse DELETE
      // with 405. Session-less 2026-07-28 GET/DELETE get 405 as that revision requires.
      if (req.method !== 'POST') return jsonRpcError(405, JSONRPC_SERVER_ERROR, 'Method not allowed: open a session with initialize first', { Allow: 'POST' });
      if (!isInitialize(body)) return jsonRpcError(400, JSONRPC_SERVER_ERROR, 'Bad Request: Mcp-Session-Id header is required (send initialize first)');
      return this.#initialize(req, body, bearer, owner);
    }
    const session = await this.#find(id, owner);
    // An ended session of this very owner says why (evicted by the cap, signed out...); anyone else's
    // or an unknown id gets the same bare 404, so ids reveal nothing.
    if (!session || 'ended' in session) return SESSION_NOT_FOUND(session?.ended);
    const { record } = session;
    // MCP Streamable HTTP (2025-06-18 §Protocol Version Header): the header names the negotiated
    // version; a client speaking another one on this session is refused. No header: the negotiated one.
    const header = req.headers.get('mcp-protocol-version');
    if (header !== null && header !== record.protocolVersion) {
      return jsonRpcError(
        400,
        JSONRPC_SERVER_ERROR,
        `Bad Request: MCP-Protocol-Version ${header.slice(0, 40)} differs from the version this session negotiated (${record.protocolVersion})`,
      );
    }
    session.lastSeen = this.opts.deps.now();
    session.touched = true;
    if (req.method === 'DELETE') return this.#delete(session);
    if (req.method === 'GET') return listen(req, session, bearer, this.opts);
    if (Array.isArray(body) && !batchesAllowed(record.protocolVersion)) {
      return jsonRpcError(400, JSONRPC_INVALID_REQUEST, `Invalid Request: JSON-RPC batches are not supported in protocol version ${record.protocolVersion}`);
    }
    if ((Array.isArray(body) ? body : [body]).some(isInitialize))
      return jsonRpcError(400, JSONRPC_INVALID_REQUEST, 'Invalid Request: Server already initialized');
    const plain = plainRequest(req, body);
    const res = plain ? await this.#serveWarm(req, plain, bearer, session) : await this.#serve(req, body, bearer, record.owner, record);
    res.headers.set('mcp-session-id', record.id);
    return res;
  }

  /**
   * The record of `id` if `owner` owns it and it is live: from the cache, else (once) from the store.
   * `{ ended }` when the owner's session ended for a reason its client should read.
   */
  async #find(id: string, owner: SessionOwner): Promise<CachedSession | { ended: string } | undefined> {
    let session = this.#cache.use(id);
    if (!session) {
      const record = await this.opts.records.get(id);
      const now = this.opts.deps.now();
      if (record?.endedAt !== undefined && record.endedReason && sameOwner(record.owner, owner)) return { ended: record.endedReason };
      if (!record || record.endedAt !== undefined || record.lastSeen + this.#idleMs <= now) return undefined;
      session = { record, lastSeen: record.lastSeen, touched: false };
      this.#remember(session);
    }
    if (!sameOwner(session.record.owner, owner)) {
      this.opts.logger.warn('MCP session id presented by another user or client; refused as unknown', {
        clientId: owner.clientId,
        ownerClientId: session.record.owner.clientId,
      });
      return undefined;
    }
    return session;
  }

  #remember(session: CachedSession): void {
    const dropped = this.#cache.add(session);
    if (dropped?.touched) void this.opts.records.touch([dropped.record.id], dropped.lastSeen).catch(() => {});
  }

  async #initialize(req: Request, body: unknown, bearer: VerifiedBearer, owner: SessionOwner): Promise<Response> {
    const clientName = await this.opts.store.getClient(owner.clientId).then(
      (c) => c?.clientName,
      (e: unknown) => {
        this.opts.logger.warn('client name not found for an MCP session', { clientId: owner.clientId, error: e });
        return undefined;
      },
    );
    const server = this.opts.serverFor({ record: undefined, owner, ...(clientName ? { clientName } : {}) });
    const res = await this.#serve(req, body, bearer, owner, undefined, clientName, server);
    const protocolVersion = server.getNegotiatedProtocolVersion();
    if (res.status !== 200 || !protocolVersion) return res; // refused (Accept, Content-Type, bad params)
    const now = this.opts.deps.now();
    const clientInfo = server.getClientVersion();
    const record: McpSessionRecord = {
      id: randomUUID(),
      owner,
      protocolVersion,
      clientCapabilities: (server.getClientCapabilities() ?? {}) as Record<string, unknown>,
      ...(clientInfo ? { clientInfo: { ...clientInfo } } : {}),
      ...(clientName ? { clientName } : {}),
      createdAt: now,
      lastSeen: now,
    };
    // Durable before the client learns the id: its next request may reach another instance.
    await this.opts.records.create(record);
    this.#remember({ record, lastSeen: now, touched: false });
    const why = `closed because this sign-in opened more than ${this.#maxPerOwner} sessions with this client (server.sessions.maxPerSignIn); the least recently used one ends. Initialize a new session`;
    const ended = await this.opts.records.capOwner(owner, this.#maxPerOwner, now, why).catch((e: unknown) => {
      this.opts.logger.warn('MCP session limit per owner not applied', { error: e });
      return [] as string[];
    });
    for (const gone of ended) {
      // Logged here, not only by #evict: the evicted session may be cached on another instance, or on none.
      this.opts.logger.info('MCP session evicted', {
        session: gone,
        maxPerSignIn: this.#maxPerOwner,
        sub: owner.sub,
        clientId: owner.clientId,
        newSession: record.id,
      });
      this.#evict(gone, why, { logged: true });
    }
    this.opts.logger.info('MCP session opened', { session: record.id, protocolVersion, sub: owner.sub, clientId: owner.clientId });
    res.headers.set('mcp-session-id', record.id);
    return res;
  }

  /** One POST, answered by a fresh server (the session's, unless `server` is given) over the SDK's stateless transport (serveStateless). */
  async #serve(
    req: Request,
    body: unknown,
    bearer: VerifiedBearer,
    owner: SessionOwner,
    record?: McpSessionRecord,
    clientName = record?.clientName,
    server = this.opts.serverFor({ record, owner, ...(clientName ? { clientName } : {}) }),
  ): Promise<Response> {
    return serveStateless(server, req, body, () => this.authInfo(bearer, clientName));
  }

  /**
   * One plain JSON request (see plainRequest) on the session's warm server: what #serve answers, the
   * same JSON-RPC response in a JSON body, without building a server, a transport and a stream for it.
   * The server is built at the session's first such request on this instance and closed when the
   * session leaves this instance's cache (ended, idle, evicted, shutdown).
   */
  async #serveWarm(req: Request, message: JSONRPCRequest, bearer: VerifiedBearer, session: CachedSession): Promise<Response> {
    const { record } = session;
    const warm = (session.warm ??= this.#warmUp(record));
    try {
      await warm.ready;
    } catch {
      if (session.warm === warm) delete session.warm;
      return this.#serve(req, message, bearer, record.owner, record);
    }
    // A request id still in progress on this session (a client reusing ids): served on its own.
    if (warm.transport.busy(message.id)) return this.#serve(req, message, bearer, record.owner, record);
    return serveOnWarm(warm, message, req, this.authInfo(bearer, record.clientName));
  }

  #warmUp(record: McpSessionRecord): NonNullable<CachedSession['warm']> {
    return warmUp(this.opts.serverFor({ record, owner: record.owner, ...(record.clientName ? { clientName: record.clientName } : {}) }));
  }

  async #delete(session: CachedSession): Promise<Response> {
    await this.opts.records.end(session.record.id, this.opts.deps.now(), 'deleted by the client (HTTP DELETE)');
    this.#evict(session.record.id, 'deleted by the client');
    return new Response(null, { status: 200 });
  }

  #evict(id: string, why: string, opts: { logged?: boolean } = {}): void {
    const s = this.#cache.drop(id);
    s?.stream?.close(why);
    if (s && !opts.logged) this.opts.logger.info('MCP session closed', { session: id, why, sub: s.record.owner.sub, clientId: s.record.owner.clientId });
  }

  authInfo(bearer: VerifiedBearer, clientName: string | undefined): AuthInfo {
    return sessionAuthInfo(bearer, clientName, () => this.opts.resource());
  }

  /** Ends the sessions of a user sign-in and/or a client, on every instance (sign-out, admin action). */
  async closeWhere(filter: { sid?: string; sub?: string; clientId?: string }, why = 'closed by the gateway'): Promise<number> {
    if (!filter.sid && !filter.sub && !filter.clientId) return 0;
    const ended = await this.opts.records.endWhere(filter, this.opts.deps.now(), why);
    const matches = (o: SessionOwner) =>
      (!filter.sid || o.sid === filter.sid) && (!filter.sub || o.sub === filter.sub) && (!filter.clientId || o.clientId === filter.clientId);
    const local = [...this.#cache.values()].filter((s) => matches(s.record.owner)).map((s) => s.record.id);
    for (const id of new Set([...ended, ...local])) this.#evict(id, why);
    return new Set([...ended, ...local]).size;
  }

  /**
   * Periodic housekeeping: writes last_seen of the sessions used here, drops idle sessions from the
   * cache, ends held streams whose token expired (the client reconnects with a current one), forgets
   * sessions ended elsewhere, ends the sessions of revoked sign-ins, and purges old records.
   */
  async sweep(): Promise<void> {
    if (this.#sweeping) return;
    this.#sweeping = true;
    try {
      const now = this.opts.deps.now();
      const touched = this.#cache.touched();
      if (touched.length) {
        // last_seen is one value per batch: the newest use among them (idle expiry has minutes of slack).
        await this.opts.records.touch(
          touched.map((s) => s.record.id),
          Math.max(...touched.map((s) => s.lastSeen)),
        );
        for (const s of touched) s.touched = false;
      }
      for (const s of [...this.#cache.values()]) {
        if (!s.stream && now - s.lastSeen >= this.#idleMs) {
          this.#cache.drop(s.record.id);
          this.opts.logger.debug('MCP session idle: dropped from this instance', { session: s.record.id });
        }
      }
      this.opts.streams.closeWhere((s) => s.tokenExp * 1000 <= now);
      for (const id of await this.opts.records.endedAmong([...this.#cache.keys()])) this.#evict(id, 'ended on another instance');
      const sids = new Set([...this.#cache.values()].map((s) => s.record.owner.sid).concat(this.opts.streams.list().map((s) => s.owner.sid)));
      for (const sid of sids) {
        let ended: boolean;
        try {
          const userSession = await this.opts.store.getUserSession(sid);
          ended = !userSession || Boolean(userSession.revokedAt);
        } catch (e) {
          this.opts.logger.warn('session sweep could not read the store; will retry', { error: e });
          return;
        }
        if (ended) {
          await this.closeWhere({ sid }, 'user session revoked');
          this.opts.streams.closeWhere((s) => s.owner.sid === sid);
        }
      }
      await this.opts.records.purge(now - this.#idleMs, now - KEEP_ENDED_MS);
    } finally {
      this.#sweeping = false;
    }
  }

  /** Shutdown: ends the GET streams held here and writes last_seen. Sessions live on (other instances serve them). */
  async closeAll(): Promise<void> {
    this.#unsubscribe();
    const touched = this.#cache.touched();
    if (touched.length)
      await this.opts.records
        .touch(
          touched.map((s) => s.record.id),
          Math.max(...touched.map((s) => s.lastSeen)),
        )
        .catch(() => {});
    for (const s of this.#cache.values()) {
      cool(s);
      s.stream?.close();
    }
    this.#cache.clear();
  }
}
