import type { Client, PriorDiscovery } from '@modelcontextprotocol/client';
import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js';
import type { UpstreamConfig } from '../config/schema.js';
import { GatewayError, isGatewayError } from '../errors.js';
import type { Deps } from '../deps.js';
import type { BrokeredToken } from '../broker/index.js';
import { isNonceChallenge, type DpopClient } from '../dpop/index.js';

export const GATEWAY_CLIENT_INFO = { name: 'xaa-gateway', version: '0.1.0' };

/** Per call: the token to present, and how to replace it when the upstream answers 401. */
export interface UpstreamAuth {
  token: BrokeredToken;
  /** Evicts `stale` and mints a fresh token (once per call). */
  remint(stale: BrokeredToken): Promise<BrokeredToken>;
}

/** `*` globs over tool names, for allow and deny lists. */
export function globMatch(pattern: string, name: string): boolean {
  const re = new RegExp(
    '^' +
      pattern
        .split('*')
        .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
        .join('.*') +
      '$',
  );
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

  constructor(
    private readonly deps: Pick<Deps, 'fetch' | 'now'>,
    private readonly opts: {
      /**
       * When set, each connection to a 2026-07-28 upstream holds a `subscriptions/listen` stream for
       * tools list changes (the SDK client opens it at connect, `ClientOptions.listChanged`) while the
       * connection lives, and an upstream's `notifications/tools/list_changed` is reported here.
       */
      onToolsChanged?: (upstream: UpstreamConfig) => void;
      /** The gateway's DPoP key, for tokens the broker got bound to it (RFC 9449 §7.1: a proof per request). */
      dpop?: () => Promise<DpopClient>;
    } = {},
  ) {}

  #dpop(): Promise<DpopClient> {
    if (!this.opts.dpop) return Promise.reject(new GatewayError('internal', 'a DPoP-bound token reached a connection without the DPoP key'));
    return this.opts.dpop();
  }

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
        // The upstream answered with a protocol error the caller must see as such: the connection is fine.
        const refusal = capabilityRefusal(upstream, e);
        if (refusal) {
          this.#idle(key, conn);
          throw refusal;
        }
        void this.#drop(key, conn);
        if (conn.refused === 'unauthorized') {
          if (reminted)
            throw new GatewayError('downstream_unauthorized', `upstream MCP server "${upstream.name}" refused a freshly minted token (401)`, { status: 401 });
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
      // The 2025 standalone GET stream is declined here, as a server without one would (405): a 2025
      // upstream's tool changes are noticed by the periodic re-list. 2026-07-28 upstreams are heard
      // over subscriptions/listen (a POST) when the connection asks for it (opts.onToolsChanged).
      if ((init?.method ?? 'GET').toUpperCase() === 'GET') return new Response(null, { status: 405 });
      const headers = new Headers(init?.headers);
      const dpop = token.tokenType === 'DPoP' ? await this.#dpop() : undefined;
      const url = new URL(input instanceof Request ? input.url : String(input));
      const send = async () => {
        if (dpop) {
          headers.set('Authorization', `DPoP ${token.accessToken}`);
          headers.set('DPoP', await dpop.proof(init?.method ?? 'POST', url, token.accessToken));
        } else headers.set('Authorization', `Bearer ${token.accessToken}`);
        const answer = await this.deps.fetch(input, { ...init, headers, redirect: 'error', signal: init?.signal ?? AbortSignal.timeout(upstream.timeoutMs) });
        dpop?.remember(answer, url);
        return answer;
      };
      let res = await send();
      // RFC 9449 §9: the upstream wants a nonce of its own, sent with the 401. Once.
      if (dpop && (await isNonceChallenge(res))) {
        await res.body?.cancel();
        res = await send();
      }
      if (res.status === 401) conn.refused = 'unauthorized';
      else if (res.status === 404 && headers.has('mcp-session-id')) conn.refused = 'session_lost';
      return res;
    };
    conn.client = (async () => {
      // The SDK client is loaded with the first upstream connection: a gateway without upstream MCP
      // servers never carries it (several MiB of a serve process, see docs/fleet.md "Memory").
      const { Client, StreamableHTTPClientTransport } = await import('@modelcontextprotocol/client');
      const onToolsChanged = this.opts.onToolsChanged;
      const client = new Client(GATEWAY_CLIENT_INFO, {
        capabilities: {},
        versionNegotiation: { mode: 'auto' },
        // autoRefresh off: the gateway re-lists on its own schedule (per user, cached), it only needs the signal.
        ...(onToolsChanged ? { listChanged: { tools: { autoRefresh: false, debounceMs: 0, onChanged: () => onToolsChanged(upstream) } } } : {}),
      });
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
      void this.#drop(oldest, c);
    }
    return conn;
  }

  #idle(key: string, conn: Connection): void {
    clearTimeout(conn.timer);
    conn.timer = setTimeout(() => void this.#drop(key, conn), IDLE_MS);
    conn.timer.unref();
  }

  #drop(key: string, conn: Connection): Promise<void> {
    clearTimeout(conn.timer);
    if (this.#connections.get(key) === conn) this.#connections.delete(key);
    return conn.client.then((c) => c.close()).catch(() => {});
  }

  /** Forgets cached era verdicts and closes every connection (config changed, shutdown). */
  async closeAll(): Promise<void> {
    this.#verdicts.clear();
    const all = [...this.#connections.entries()];
    await Promise.all(all.map(([key, conn]) => this.#drop(key, conn)));
  }
}

/**
 * The gateway calls upstreams with no client capabilities (`capabilities: {}`): it cannot relay an
 * upstream's sampling, elicitation or roots requests (2025 server-to-client requests, 2026-07-28
 * `input_required` results) to the agent, so it declares none it could not honour (MCP 2026-07-28
 * "Capability Negotiation": a server MUST NOT rely on capabilities the client did not declare).
 * An upstream tool that needs one answers -32021 MissingRequiredClientCapability; that is the
 * truth for the whole path too, so it becomes a GatewayError carrying `requiredCapabilities`, which
 * the MCP server relays as the same -32021 protocol error (HTTP 400 on 2026-07-28).
 */
export const MISSING_CLIENT_CAPABILITY = -32021;

export function capabilityRefusal(upstream: UpstreamConfig, e: unknown): GatewayError | undefined {
  if (typeof e !== 'object' || e === null || (e as { code?: unknown }).code !== MISSING_CLIENT_CAPABILITY) return undefined;
  const data = (e as { data?: unknown }).data;
  const required = typeof data === 'object' && data !== null ? (data as { requiredCapabilities?: unknown }).requiredCapabilities : undefined;
  const requiredCapabilities = typeof required === 'object' && required !== null && !Array.isArray(required) ? (required as Record<string, unknown>) : {};
  const names = Object.keys(requiredCapabilities);
  return new GatewayError(
    'upstream_mcp_error',
    `upstream MCP server "${upstream.name}" needs the client capabilit${names.length === 1 ? 'y' : 'ies'} ${names.join(', ') || '(unnamed)'}, which the gateway does not relay`,
    { cause: e, details: { requiredCapabilities } },
  );
}

/** The capabilities a -32021 refusal of {@link capabilityRefusal} names, if `e` is one. */
export function requiredCapabilitiesOf(e: unknown): Record<string, unknown> | undefined {
  if (!isGatewayError(e, 'upstream_mcp_error')) return undefined;
  const required = e.details?.requiredCapabilities;
  return typeof required === 'object' && required !== null ? (required as Record<string, unknown>) : undefined;
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

/** One `notifications/progress` of the upstream call, without the upstream's progressToken. */
export interface UpstreamProgress {
  progress: number;
  total?: number;
  message?: string;
}

export interface UpstreamCallOptions {
  /**
   * Set when the caller asked for progress (its request carried `_meta.progressToken`): the upstream
   * call then carries a progressToken of its own (the SDK client mints it) and each progress
   * notification the upstream sends is handed here to be relayed (MCP "Progress").
   */
  onProgress?: (progress: UpstreamProgress) => void;
}

export async function callUpstreamTool(
  connections: UpstreamConnections,
  upstream: UpstreamConfig,
  auth: UpstreamAuth,
  upstreamToolName: string,
  args: Record<string, unknown>,
  opts: UpstreamCallOptions = {},
): Promise<CallToolResult> {
  const { onProgress } = opts;
  const requestOptions = onProgress
    ? {
        onprogress: (p: { progress: number; total?: number; message?: string }) =>
          onProgress({
            progress: p.progress,
            ...(p.total !== undefined ? { total: p.total } : {}),
            ...(p.message !== undefined ? { message: p.message } : {}),
          }),
        // A long call that reports progress is alive: the client's own timeout restarts on each one.
        resetTimeoutOnProgress: true,
      }
    : undefined;
  return connections.run(
    upstream,
    auth,
    async (client) => (await client.callTool({ name: upstreamToolName, arguments: args }, requestOptions)) as CallToolResult,
  );
}
