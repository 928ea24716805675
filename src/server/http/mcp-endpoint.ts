import {
  createMcpHandler,
  InMemoryServerEventBus,
  isJsonContentType,
  isLegacyRequest,
  type AuthInfo,
  type McpHttpHandler,
  type ServerEventBus,
} from '@modelcontextprotocol/server';
import type { Deps } from '../../deps.js';
import type { AgentIdentity } from '../../inbound/identity.js';
import { authExtra } from '../../inbound/http/identity.js';
import type { Logger } from '../../log.js';
import type { McpSessionStore } from '../../store/mcp-sessions.js';
import type { Store } from '../../store/types.js';
import type { Gateway } from '../../gateway/index.js';
import { createMcpServer } from '../mcp.js';
import type { VerifiedBearer } from './auth.js';
import { JSONRPC_PARSE_ERROR, JSONRPC_SERVER_ERROR, jsonRpcError } from './errors.js';
import { closableStream, HeldStreams } from './event-stream.js';
import { paramHeaderRejection } from './param-headers.js';
import { McpSessions, type McpSessionsOptions } from './sessions.js';

export interface McpEndpointOptions {
  gateway: Gateway;
  store: Store;
  records: McpSessionStore;
  deps: Pick<Deps, 'now'>;
  logger: Logger;
  resource: () => string;
  sessions?: Pick<McpSessionsOptions, 'idleMs' | 'maxPerOwner' | 'maxSessions'>;
}

/** Registered client names (the agent in audit records) are read once per client per instance. */
const CLIENT_NAME_TTL_MS = 5 * 60_000;
const MAX_CLIENT_NAMES = 10_000;

/**
 * /mcp for both protocol eras, behind the bearer check. The SDK's own classification
 * (isLegacyRequest) routes each request: 2026-07-28 requests to createMcpHandler (per-request,
 * stateless; it owns server/discover, the MCP-Protocol-Version / Mcp-Method / Mcp-Name checks,
 * subscriptions/listen, 405 on GET/DELETE and the era's error codes), 2025-era requests to the
 * session leg (McpSessions). Both build their servers from the one factory (createMcpServer), and
 * both deliver tools/list_changed from one event bus fed by the gateway's config changes.
 */
export class McpEndpoint {
  readonly bus: ServerEventBus;
  readonly streams = new HeldStreams();
  readonly sessions: McpSessions;
  readonly #modern: McpHttpHandler;
  readonly #clientNames = new Map<string, { at: number; name: Promise<string | undefined> }>();
  readonly #unsubscribe: () => void;

  constructor(private readonly opts: McpEndpointOptions) {
    this.bus = new InMemoryServerEventBus((e) => opts.logger.warn('list_changed delivery failed', { error: e.message }));
    this.#modern = createMcpHandler(({ authInfo }) => createMcpServer(opts.gateway, { agent: () => agentOf(authInfo) }), {
      legacy: 'reject',
      bus: this.bus,
      onerror: (e) => opts.logger.debug('MCP request refused or failed', { error: e.message }),
    });
    this.sessions = new McpSessions({
      records: opts.records,
      store: opts.store,
      serverFor: ({ record, owner, clientName }) =>
        createMcpServer(opts.gateway, {
          agent: () => ({ clientId: owner.clientId, ...(clientName ? { name: clientName } : {}) }),
          ...(record ? { protocolVersion: () => record.protocolVersion, sessionId: record.id } : {}),
        }),
      bus: this.bus,
      toolsRevision: () => opts.gateway.runtime.hash,
      streams: this.streams,
      deps: opts.deps,
      logger: opts.logger,
      resource: opts.resource,
      ...opts.sessions,
    });
    // Every instance's gateway hears config changes itself (file watch, or the fleet config's
    // NOTIFY), so this local fan-out reaches every subscribed client of every instance.
    this.#unsubscribe = opts.gateway.onToolsChanged(() => this.#modern.notify.toolsChanged());
  }

  /** Answers one /mcp request; `held` when the response is a stream the client keeps open. */
  async handle(req: Request, bearer: VerifiedBearer): Promise<{ response: Response; held: boolean }> {
    let body: unknown;
    if (req.method === 'POST') {
      if (!isJsonContentType(req.headers.get('content-type'))) {
        return { response: jsonRpcError(415, JSONRPC_SERVER_ERROR, 'Unsupported Media Type: Content-Type must be application/json'), held: false };
      }
      try {
        body = JSON.parse(await req.text());
      } catch {
        return { response: jsonRpcError(400, JSONRPC_PARSE_ERROR, 'Parse error: Invalid JSON'), held: false };
      }
    }
    if (await isLegacyRequest(req, body)) {
      const response = await this.sessions.handle(req, body, bearer);
      return { response, held: req.method === 'GET' && response.status === 200 };
    }
    const authInfo = this.sessions.authInfo(bearer, await this.#clientName(bearer.claims.client_id));
    // SEP-2243: Mcp-Param-* headers must agree with the called tool's x-mcp-header arguments (400, -32020).
    const mismatch = await paramHeaderRejection(req, body, (tool) => this.opts.gateway.paramHeaderSchema({ authInfo }, tool));
    if (mismatch) return { response: mismatch, held: false };
    const response = await this.#modern.fetch(req, { authInfo, parsedBody: body });
    if (!isListen(body) || !(response.headers.get('content-type') ?? '').startsWith('text/event-stream') || !response.body) return { response, held: false };
    // A subscriptions/listen stream: held like a 2025 GET stream, and ended like one.
    const stream = closableStream(response);
    const owner = { sid: bearer.claims.sid, sub: bearer.claims.sub, idpIss: bearer.claims.idp_iss, clientId: bearer.claims.client_id };
    const unregister = this.streams.add({ owner, tokenExp: bearer.claims.exp, close: () => stream.close() });
    void stream.closed.then(unregister);
    return { response: stream.response, held: true };
  }

  #clientName(clientId: string): Promise<string | undefined> {
    const now = this.opts.deps.now();
    const hit = this.#clientNames.get(clientId);
    if (hit && now - hit.at < CLIENT_NAME_TTL_MS) return hit.name;
    const name = this.opts.store.getClient(clientId).then(
      (c) => c?.clientName,
      (e: unknown) => {
        this.opts.logger.warn('client name not found', { clientId, error: e });
        this.#clientNames.delete(clientId);
        return undefined;
      },
    );
    if (this.#clientNames.size >= MAX_CLIENT_NAMES) this.#clientNames.delete(this.#clientNames.keys().next().value!);
    this.#clientNames.set(clientId, { at: now, name });
    return name;
  }

  /** Shutdown: ends every held stream of both eras and the modern handler's in-flight exchanges. */
  async close(): Promise<void> {
    this.#unsubscribe();
    await this.sessions.closeAll();
    this.streams.closeWhere(() => true);
    await this.#modern.close();
  }
}

function agentOf(authInfo: AuthInfo | undefined): AgentIdentity {
  const name = authExtra(authInfo)?.clientName;
  return { ...(authInfo?.clientId ? { clientId: authInfo.clientId } : {}), ...(name ? { name } : {}) };
}

function isListen(body: unknown): boolean {
  return typeof body === 'object' && body !== null && (body as { method?: unknown }).method === 'subscriptions/listen';
}
