import { randomUUID } from 'node:crypto';
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import type { Deps } from '../../deps.js';
import type { GatewayAuthExtra } from '../../inbound/http/types.js';
import type { Logger } from '../../log.js';
import type { Store } from '../../store/types.js';
import type { Gateway } from '../gateway.js';
import { createMcpServer } from '../mcp.js';
import type { VerifiedBearer } from './auth.js';
import { JSONRPC_PARSE_ERROR, JSONRPC_SERVER_ERROR, JSONRPC_SESSION_NOT_FOUND, jsonRpcError } from './errors.js';
import { onBodyDone } from './inflight.js';

/** Who opened an MCP session: the gateway session (user sign-in) and the OAuth client (agent). */
export interface SessionOwner {
  sid: string;
  sub: string;
  idpIss: string;
  clientId: string;
}

export interface McpSessionsOptions {
  gateway: Gateway;
  store: Store;
  deps: Pick<Deps, 'now'>;
  logger: Logger;
  /** The gateway's resource URI (AuthInfo.resource). */
  resource: () => string;
  maxBodyBytes: () => number;
  /** A session with no request and no open stream for this long is closed. Default 30 minutes. */
  idleMs?: number;
  /** Sessions one user may hold per client; the least recently used is closed beyond it. Default 16. */
  maxPerOwner?: number;
  /** Sessions in this process; beyond it the least recently used idle one is closed. Default 10 000. */
  maxSessions?: number;
}

interface McpSession {
  id?: string;
  owner: SessionOwner;
  clientName?: string;
  transport: WebStandardStreamableHTTPServerTransport;
  server: Server;
  lastSeen: number;
  /** `exp` (s) of the newest token seen on this session: a held SSE stream does not outlive it. */
  tokenExp: number;
  /** Open standalone (GET) SSE streams. */
  streams: number;
}

const sameOwner = (a: SessionOwner, b: SessionOwner) => a.sid === b.sid && a.sub === b.sub && a.idpIss === b.idpIss && a.clientId === b.clientId;

/**
 * Stateful MCP sessions over Streamable HTTP (Mcp-Session-Id), one SDK Server per session, each
 * BOUND to the user and the client that initialized it. A session id presented with anyone else's
 * token is answered exactly like an unknown one (404), so ids reveal nothing. Sessions end on
 * DELETE, when idle, when their user's gateway session is revoked, and at shutdown.
 */
export class McpSessions {
  readonly #sessions = new Map<string, McpSession>();
  readonly #idleMs: number;
  readonly #maxPerOwner: number;
  readonly #maxSessions: number;
  #sweeping = false;

  constructor(private readonly opts: McpSessionsOptions) {
    this.#idleMs = opts.idleMs ?? 30 * 60_000;
    this.#maxPerOwner = opts.maxPerOwner ?? 16;
    this.#maxSessions = opts.maxSessions ?? 10_000;
  }

  get size(): number {
    return this.#sessions.size;
  }

  /** Session ids and owners (admin views, tests). */
  list(): Array<{ id: string; owner: SessionOwner; lastSeen: number; streams: number }> {
    return [...this.#sessions.entries()].map(([id, s]) => ({ id, owner: s.owner, lastSeen: s.lastSeen, streams: s.streams }));
  }

  async handle(req: Request, bearer: VerifiedBearer): Promise<Response> {
    const owner: SessionOwner = { sid: bearer.claims.sid, sub: bearer.claims.sub, idpIss: bearer.claims.idp_iss, clientId: bearer.claims.client_id };
    const id = req.headers.get('mcp-session-id');
    if (id !== null) return this.#continue(id, req, bearer, owner);
    if (req.method !== 'POST') return jsonRpcError(400, JSONRPC_SERVER_ERROR, 'Bad Request: Mcp-Session-Id header is required');
    let body: unknown;
    try {
      body = JSON.parse(await req.text());
    } catch {
      return jsonRpcError(400, JSONRPC_PARSE_ERROR, 'Parse error: Invalid JSON');
    }
    if (!isInitializeRequest(body)) return jsonRpcError(400, JSONRPC_SERVER_ERROR, 'Bad Request: Mcp-Session-Id header is required (send initialize first)');
    return this.#open(req, body, bearer, owner);
  }

  async #continue(id: string, req: Request, bearer: VerifiedBearer, owner: SessionOwner): Promise<Response> {
    const session = this.#sessions.get(id);
    if (!session || !sameOwner(session.owner, owner)) {
      if (session) this.opts.logger.warn('MCP session id presented by another user or client; refused as unknown', { clientId: owner.clientId, ownerClientId: session.owner.clientId });
      return jsonRpcError(404, JSONRPC_SESSION_NOT_FOUND, 'Session not found');
    }
    session.lastSeen = this.opts.deps.now();
    session.tokenExp = Math.max(session.tokenExp, bearer.claims.exp);
    const res = await session.transport.handleRequest(req, { authInfo: this.#authInfo(bearer, session) });
    if (req.method === 'GET' && res.status === 200 && res.body) {
      session.streams++;
      return onBodyDone(res, () => {
        session.streams--;
        session.lastSeen = this.opts.deps.now();
      });
    }
    return res;
  }

  async #open(req: Request, body: unknown, bearer: VerifiedBearer, owner: SessionOwner): Promise<Response> {
    if (this.#sessions.size >= this.#maxSessions && !(await this.#evictOne([...this.#sessions.values()].filter((s) => s.streams === 0)))) {
      return jsonRpcError(503, JSONRPC_SERVER_ERROR, 'Service unavailable: too many MCP sessions; try again later', { 'Retry-After': '30' });
    }
    const clientName = await this.opts.store.getClient(owner.clientId).then(
      (c) => c?.clientName,
      (e: unknown) => {
        this.opts.logger.warn('client name not found for an MCP session', { clientId: owner.clientId, error: e });
        return undefined;
      },
    );
    const transport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      maxRequestBodySize: this.opts.maxBodyBytes(),
      onsessioninitialized: (sessionId) => {
        session.id = sessionId;
        this.#sessions.set(sessionId, session);
        void this.#capOwner(owner);
      },
    });
    // The agent in every audit record of this session: the OAuth client that holds the token, not
    // what the client claims about itself in clientInfo.
    const server = createMcpServer(this.opts.gateway, { agent: () => ({ clientId: owner.clientId, ...(clientName ? { name: clientName } : {}) }) });
    const now = this.opts.deps.now();
    const session: McpSession = { owner, ...(clientName ? { clientName } : {}), transport, server, lastSeen: now, tokenExp: bearer.claims.exp, streams: 0 };
    transport.onclose = () => {
      if (session.id && this.#sessions.get(session.id) === session) this.#sessions.delete(session.id);
    };
    await server.connect(transport);
    const res = await transport.handleRequest(req, { authInfo: this.#authInfo(bearer, session), parsedBody: body });
    if (!transport.sessionId) await server.close().catch(() => {}); // initialize refused (Accept, Content-Type...)
    else this.opts.logger.info('MCP session opened', { session: transport.sessionId, sub: owner.sub, clientId: owner.clientId });
    return res;
  }

  #authInfo(bearer: VerifiedBearer, session: McpSession): AuthInfo {
    const { claims } = bearer;
    const extra: GatewayAuthExtra = { sid: claims.sid, sub: claims.sub, idpIss: claims.idp_iss, jti: claims.jti, ...(session.clientName ? { clientName: session.clientName } : {}) };
    return { token: bearer.token, clientId: claims.client_id, scopes: bearer.scopes, expiresAt: claims.exp, resource: new URL(this.opts.resource()), extra: { ...extra } };
  }

  async #capOwner(owner: SessionOwner): Promise<void> {
    const mine = [...this.#sessions.values()].filter((s) => sameOwner(s.owner, owner));
    if (mine.length > this.#maxPerOwner) await this.#evictOne(mine);
  }

  async #evictOne(candidates: McpSession[]): Promise<boolean> {
    const lru = candidates.sort((a, b) => a.lastSeen - b.lastSeen)[0];
    if (!lru) return false;
    await this.#close(lru, 'evicted (limit)');
    return true;
  }

  async #close(session: McpSession, why: string): Promise<void> {
    if (session.id) this.#sessions.delete(session.id);
    this.opts.logger.info('MCP session closed', { session: session.id, why, sub: session.owner.sub, clientId: session.owner.clientId });
    await session.server.close().catch((e: unknown) => this.opts.logger.warn('MCP session did not close cleanly', { session: session.id, error: e }));
  }

  /** Closes the sessions of a user sign-in and/or a client now (sign-out, admin action). */
  async closeWhere(filter: { sid?: string; sub?: string; clientId?: string }, why = 'closed by the gateway'): Promise<number> {
    const hits = [...this.#sessions.values()].filter(
      (s) => (!filter.sid || s.owner.sid === filter.sid) && (!filter.sub || s.owner.sub === filter.sub) && (!filter.clientId || s.owner.clientId === filter.clientId),
    );
    await Promise.all(hits.map((s) => this.#close(s, why)));
    return hits.length;
  }

  /**
   * Periodic housekeeping: closes idle sessions and those whose user signed out (or was revoked), and
   * ends held SSE streams whose token expired so the client reconnects with a current one.
   */
  async sweep(): Promise<void> {
    if (this.#sweeping) return;
    this.#sweeping = true;
    try {
      const now = this.opts.deps.now();
      for (const s of [...this.#sessions.values()]) {
        if (s.streams === 0 && now - s.lastSeen >= this.#idleMs) await this.#close(s, 'idle');
        else if (s.streams > 0 && s.tokenExp * 1000 <= now) s.transport.closeStandaloneSSEStream();
      }
      const sids = new Set([...this.#sessions.values()].map((s) => s.owner.sid));
      for (const sid of sids) {
        let ended: boolean;
        try {
          const userSession = await this.opts.store.getUserSession(sid);
          ended = !userSession || Boolean(userSession.revokedAt);
        } catch (e) {
          this.opts.logger.warn('session sweep could not read the store; will retry', { error: e });
          return;
        }
        if (ended) await this.closeWhere({ sid }, 'user session revoked');
      }
    } finally {
      this.#sweeping = false;
    }
  }

  async closeAll(why = 'shutdown'): Promise<void> {
    await Promise.all([...this.#sessions.values()].map((s) => this.#close(s, why)));
  }
}
