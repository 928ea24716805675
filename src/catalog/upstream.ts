import { Client, StreamableHTTPClientTransport, type PriorDiscovery } from '@modelcontextprotocol/client';
import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js';
import type { UpstreamConfig } from '../config/schema.js';
import { GatewayError, isGatewayError } from '../errors.js';
import type { Deps } from '../deps.js';
import type { BrokeredToken } from '../broker/index.js';

export const GATEWAY_CLIENT_INFO = { name: 'xaa-gateway', version: '0.1.0' };

/** Per call: the token to present, and how to replace it when the upstream answers 401. */
export interface UpstreamAuth {
  token: BrokeredToken;
  /** Evicts `stale` and mints a fresh token (once per call). */
  remint(stale: BrokeredToken): Promise<BrokeredToken>;
}

/** `*` globs over tool names, for allow and deny lists. */
export function globMatch(pattern: string, name: string): boolean {
  const re = new RegExp('^' + pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$');
  return re.test(name);
}

export function upstreamExposes(upstream: UpstreamConfig, toolName: string): boolean {
  if (upstream.deny.some((p) => globMatch(p, toolName))) return false;
  return !upstream.allow || upstream.allow.some((p) => globMatch(p, toolName));
}

/** A connection kept for reuse is closed after this long unused. */
const IDLE_MS = 60_000;
/** Connections kept at most (one per upstream and token); the least recently used goes first. */
const MAX_CONNECTIONS = 256;
/** How long an upstream's era verdict (2026-07-28 discover result, or "2025") is reused before probing again. */
const VERDICT_TTL_MS = 10 * 60_000;

interface Connection {
  client: Promise<Client>;
  /** Set by the connection's fetch when the upstream refused its token (401) or lost its 2025 session (404). */
  refused?: 'unauthorized' | 'session_lost';
  timer?: NodeJS.Timeout;
}

/**
 * MCP client connections to upstream MCP servers, presenting a brokered token (never the inbound
 * one). One connection per upstream and token is kept and reused by the calls of that user while the
 * token lives, instead of a new session (initialize, call, DELETE) per call. The SDK v2 client
 * negotiates the era (`versionNegotiation: 'auto'`): 2026-07-28 upstreams are spoken to statelessly,
 * 2025 upstreams through an initialized session; the verdict of each upstream URL is cached so the
 * `server/discover` probe is paid once. A 401 evicts the token and retries once with a fresh one; a
 * lost 2025 session (404) reconnects once; a second 401 is reported as downstream_unauthorized.
 */
export class UpstreamConnections {
  readonly #connections = new Map<string, Connection>();
  readonly #verdicts = new Map<string, { prior: PriorDiscovery; at: number }>();

  constructor(private readonly deps: Pick<Deps, 'fetch' | 'now'>) {}

  async run<T>(upstream: UpstreamConfig, auth: UpstreamAuth, run: (client: Client) => Promise<T>): Promise<T> {
    let token = auth.token;
    let reminted = false;
    let reconnected = false;
    for (;;) {
      const key = `${upstream.name}\n${upstream.url}\n${token.fingerprint}`;
      const conn = this.#connection(key, upstream, token);
      try {
        const client = await conn.client;
        const out = await run(client);
        this.#idle(key, conn);
        return out;
      } catch (e) {
        this.#drop(key, conn);
        if (conn.refused === 'unauthorized') {
          if (reminted) throw new GatewayError('downstream_unauthorized', `upstream MCP server "${upstream.name}" refused a freshly minted token (401)`, { status: 401 });
          reminted = true;
          token = await auth.remint(token);
          continue;
        }
        // The upstream forgot our 2025 session (restarted): nothing ran; open a new one, once.
        if (conn.refused === 'session_lost' && !reconnected) {
          reconnected = true;
          continue;
        }
        throw upstreamError(upstream, e);
      }
    }
  }

  #connection(key: string, upstream: UpstreamConfig, token: BrokeredToken): Connection {
    const hit = this.#connections.get(key);
    if (hit) {
      clearTimeout(hit.timer);
      // LRU order
      this.#connections.delete(key);
      this.#connections.set(key, hit);
      return hit;
    }
    const conn: Connection = { client: Promise.resolve(undefined as never) };
    const authedFetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
      // The gateway does not listen for an upstream's notifications (its tool list is re-read every
      // minute): the 2025 standalone GET stream is declined here, as a server without one would (405).
      if ((init?.method ?? 'GET').toUpperCase() === 'GET') return new Response(null, { status: 405 });
      const headers = new Headers(init?.headers);
      headers.set('Authorization', `Bearer ${token.accessToken}`);
      const res = await this.deps.fetch(input, { ...init, headers, redirect: 'error', signal: init?.signal ?? AbortSignal.timeout(upstream.timeoutMs) });
      if (res.status === 401) conn.refused = 'unauthorized';
      else if (res.status === 404 && headers.has('mcp-session-id')) conn.refused = 'session_lost';
      return res;
    };
    conn.client = (async () => {
      const client = new Client(GATEWAY_CLIENT_INFO, { capabilities: {}, versionNegotiation: { mode: 'auto' } });
      const transport = new StreamableHTTPClientTransport(new URL(upstream.url), { fetch: authedFetch });
      const verdict = this.#verdicts.get(upstream.url);
      const fresh = verdict && this.deps.now() - verdict.at < VERDICT_TTL_MS ? verdict.prior : undefined;
      await client.connect(transport, fresh ? { prior: fresh } : undefined);
      if (!fresh) {
        const discover = client.getDiscoverResult();
        this.#verdicts.set(upstream.url, { prior: discover ? { kind: 'modern', discover } : { kind: 'legacy' }, at: this.deps.now() });
      }
      return client;
    })();
    this.#connections.set(key, conn);
    while (this.#connections.size > MAX_CONNECTIONS) {
      const [oldest, c] = this.#connections.entries().next().value!;
      this.#drop(oldest, c);
    }
    return conn;
  }

  #idle(key: string, conn: Connection): void {
    clearTimeout(conn.timer);
    conn.timer = setTimeout(() => this.#drop(key, conn), IDLE_MS);
    conn.timer.unref();
  }

  #drop(key: string, conn: Connection): void {
    clearTimeout(conn.timer);
    if (this.#connections.get(key) === conn) this.#connections.delete(key);
    void conn.client.then((c) => c.close()).catch(() => {});
  }

  /** Forgets cached era verdicts and closes every connection (config changed, shutdown). */
  async closeAll(): Promise<void> {
    this.#verdicts.clear();
    const all = [...this.#connections.entries()];
    for (const [key, conn] of all) this.#drop(key, conn);
  }
}

function upstreamError(upstream: UpstreamConfig, e: unknown): GatewayError {
  if (isGatewayError(e)) return e;
  const cause = (e as { cause?: unknown }).cause;
  if (isGatewayError(cause)) return cause;
  return new GatewayError('upstream_mcp_error', `upstream MCP server "${upstream.name}" failed: ${(e as Error).message}`, { cause: e });
}

/** The upstream's tools as the gateway shows them: filtered (prefixing is the gateway's). */
export async function listUpstreamTools(connections: UpstreamConnections, upstream: UpstreamConfig, auth: UpstreamAuth): Promise<Tool[]> {
  return connections.run(upstream, auth, async (client) => {
    const tools: Tool[] = [];
    let cursor: string | undefined;
    do {
      const page = await client.listTools(cursor ? { cursor } : undefined);
      tools.push(...(page.tools as Tool[]));
      cursor = page.nextCursor;
    } while (cursor);
    return tools.filter((t) => upstreamExposes(upstream, t.name));
  });
}

export async function callUpstreamTool(connections: UpstreamConnections, upstream: UpstreamConfig, auth: UpstreamAuth, upstreamToolName: string, args: Record<string, unknown>): Promise<CallToolResult> {
  return connections.run(upstream, auth, async (client) => (await client.callTool({ name: upstreamToolName, arguments: args })) as CallToolResult);
}
