import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import type { TokenBroker, MintTarget } from '../broker/index.js';
import { listUpstreamTools, UpstreamConnections, type UpstreamAuth } from '../catalog/upstream.js';
import type { ConfigStore } from '../config/index.js';
import type { ToolConfig, UpstreamConfig } from '../config/schema.js';
import type { Deps } from '../deps.js';
import { toGatewayError } from '../errors.js';
import type { Caller, InboundIdentity } from '../inbound/identity.js';
import { paramHeaderDeclarations } from '../json-schema/x-mcp-header.js';
import type { Logger } from '../log.js';
import type { McpResourceDiscovery } from '../xaa/types.js';
import type { DpopClient } from '../dpop/index.js';

export type ResolvedTool =
  { kind: 'http'; name: string; tool: ToolConfig; resourceName: string } | { kind: 'upstream'; name: string; upstream: UpstreamConfig; upstreamTool: Tool };

/** What a call is about, for its audit records and the policy: the resource, the scopes, and what a switch can name. */
export interface CallTarget {
  resourceLabel: string;
  scopes: string[];
  policy: { kind: 'resource' | 'upstream'; name: string; enabled: boolean };
}

export interface ToolDirectoryOptions {
  config: ConfigStore;
  identity: InboundIdentity;
  broker: TokenBroker;
  discoverMcpResource(url: string): Promise<McpResourceDiscovery>;
  deps: Deps;
  logger: Logger;
  /** The gateway's DPoP key, for upstream tokens bound to it. */
  dpop?: () => Promise<DpopClient>;
}

const UPSTREAM_LIST_TTL_MS = 60_000;

/**
 * The tools a caller can see and call: the config's, and each upstream MCP server's (listed with
 * the caller's own token, cached per user for a minute), with what a call needs to mint a token.
 * Listeners hear when the list changed: a config change, or an upstream's list_changed.
 */
export class ToolDirectory {
  readonly #upstreamTools = new Map<string, { at: number; tools: Tool[] }>();
  /** Upstream tools (prefixed name) seen in a list: whether their schema declares x-mcp-header arguments (SEP-2243). */
  readonly #declaresHeaders = new Map<string, boolean>();
  readonly #discovery = new Map<string, Promise<McpResourceDiscovery>>();
  /** Upstream MCP connections for tools/list (plain fetch), reused per user token. */
  readonly #lists: UpstreamConnections;
  readonly #listeners = new Set<() => void>();
  /** Set while a burst of upstream change signals (one per user connection) is being coalesced. */
  #changePending = false;

  constructor(private readonly opts: ToolDirectoryOptions) {
    this.#lists = new UpstreamConnections(opts.deps, { onToolsChanged: (u) => this.#upstreamChanged(u.name), ...(opts.dpop ? { dpop: opts.dpop } : {}) });
    opts.config.subscribe({
      onChange: () => {
        // Upstream lists and discovery results may depend on what changed; minted tokens stay valid.
        this.#upstreamTools.clear();
        this.#discovery.clear();
        void this.#lists.closeAll();
        this.#notify();
      },
    });
  }

  /** See Gateway.onToolsChanged. */
  onChanged(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Config tools, plus each upstream's tools when a signed-in caller lets us ask for them. */
  async list(caller: () => Promise<Caller>): Promise<Tool[]> {
    const { config } = this.opts.config.current;
    const tools: Tool[] = config.tools
      .filter((t) => t.enabled)
      .map((t) => ({
        name: t.name,
        ...(t.title ? { title: t.title } : {}),
        description: t.description,
        inputSchema: t.inputSchema as Tool['inputSchema'],
        annotations: { readOnlyHint: t.http.method === 'GET', openWorldHint: true },
      }));
    const upstreams = config.upstreams.filter((u) => u.enabled);
    if (upstreams.length === 0) return tools;
    let who: Caller;
    try {
      who = await caller();
    } catch {
      return tools; // not signed in: upstream tools cannot be listed without the user's token
    }
    const lists = await Promise.all(
      upstreams.map((u) =>
        this.#upstreamList(u, who).catch((e: unknown) => {
          this.opts.logger.warn('upstream tools unavailable', { upstream: u.name, error: toGatewayError(e).message });
          return [] as Tool[];
        }),
      ),
    );
    upstreams.forEach((u, i) => tools.push(...(lists[i] ?? []).map((t) => ({ ...t, name: u.prefix + t.name }))));
    return tools;
  }

  /**
   * The input schema of a tool whose arguments may declare `x-mcp-header` (SEP-2243), for the HTTP
   * adapter's Mcp-Param-* check; undefined for a tool that is not the caller's. An upstream tool already
   * seen in a list without such arguments costs nothing here; others are looked up with the caller's identity.
   */
  async paramHeaderSchema(name: string, caller: () => Promise<Caller>): Promise<unknown> {
    const tool = this.opts.config.current.config.tools.find((t) => t.name === name);
    if (tool) return tool.inputSchema;
    if (this.#declaresHeaders.get(name) === false) return undefined;
    let who: Caller;
    try {
      who = await caller();
    } catch {
      return undefined;
    }
    const resolved = await this.resolve(name, who);
    return resolved?.kind === 'upstream' ? resolved.upstreamTool.inputSchema : undefined;
  }

  /** The tool `name` as `caller` sees it; upstream tools only for a signed-in caller. */
  async resolve(name: string, caller: Caller | undefined): Promise<ResolvedTool | undefined> {
    const { config } = this.opts.config.current;
    const tool = config.tools.find((t) => t.name === name);
    if (tool) return { kind: 'http', name, tool, resourceName: tool.resource };
    for (const upstream of config.upstreams) {
      if (!upstream.enabled || !name.startsWith(upstream.prefix) || !caller) continue;
      const list = await this.#upstreamList(upstream, caller).catch(() => [] as Tool[]);
      const upstreamTool = list.find((t) => upstream.prefix + t.name === name);
      if (upstreamTool) return { kind: 'upstream', name, upstream, upstreamTool };
    }
    return undefined;
  }

  target(resolved: ResolvedTool): CallTarget {
    if (resolved.kind === 'http') {
      const r = this.opts.config.current.config.resources[resolved.resourceName]!;
      return { resourceLabel: r.resource, scopes: [...resolved.tool.scopes], policy: { kind: 'resource', name: resolved.resourceName, enabled: r.enabled } };
    }
    const u = resolved.upstream;
    return { resourceLabel: u.url, scopes: [...u.scopes], policy: { kind: 'upstream', name: u.name, enabled: u.enabled } };
  }

  /** What the broker needs to get the caller a token for the tool's resource. */
  async mintTarget(resolved: ResolvedTool, caller: Caller): Promise<MintTarget> {
    const rt = this.opts.config.current;
    if (resolved.kind === 'http') {
      const r = rt.config.resources[resolved.resourceName]!;
      return {
        user: caller.user,
        resource: r.resource,
        scopes: resolved.tool.scopes,
        authorizationServer: r.authorizationServer,
        client: rt.resourceClients.get(resolved.resourceName)!,
        timeoutMs: r.timeoutMs,
        dpop: r.dpop,
      };
    }
    return this.#upstreamMintTarget(resolved.upstream, caller);
  }

  /** Closes the connections used for listing (their list_changed streams would keep the process alive). */
  close(): Promise<void> {
    return this.#lists.closeAll();
  }

  #notify(): void {
    for (const l of this.#listeners) l();
  }

  /** An upstream's tools changed: its cached lists (every user's) are stale, and listeners hear it once per burst. */
  #upstreamChanged(upstreamName: string): void {
    for (const key of this.#upstreamTools.keys()) if ((JSON.parse(key) as string[])[0] === upstreamName) this.#upstreamTools.delete(key);
    if (this.#changePending) return;
    this.#changePending = true;
    queueMicrotask(() => {
      this.#changePending = false;
      this.#notify();
    });
  }

  async #upstreamMintTarget(upstream: UpstreamConfig, caller: Caller): Promise<MintTarget> {
    // SEP-990: the resource and its AS come from the upstream's RFC 9728 metadata, found from its configured URL.
    let found = this.#discovery.get(upstream.url);
    if (!found) {
      found = this.opts.discoverMcpResource(upstream.url);
      found.catch(() => this.#discovery.delete(upstream.url));
      this.#discovery.set(upstream.url, found);
    }
    const d = await found;
    return {
      user: caller.user,
      resource: d.resource,
      scopes: upstream.scopes,
      authorizationServer: d.authorizationServer.issuer,
      client: this.opts.config.current.upstreamClients.get(upstream.name)!,
      dpop: upstream.dpop,
    };
  }

  async #upstreamList(upstream: UpstreamConfig, caller: Caller): Promise<Tool[]> {
    const key = JSON.stringify([upstream.name, caller.user.iss, caller.user.sub]);
    const hit = this.#upstreamTools.get(key);
    if (hit && this.opts.deps.now() - hit.at < UPSTREAM_LIST_TTL_MS) return hit.tools;
    const { broker } = this.opts;
    const mint = await this.#upstreamMintTarget(upstream, caller);
    const token = await broker.getToken(mint, caller.subject);
    const auth: UpstreamAuth = {
      token,
      remint: async (stale) => {
        broker.evict(mint, stale.accessToken);
        return broker.getToken(mint, caller.subject);
      },
    };
    const tools = await listUpstreamTools(this.#lists, upstream, auth);
    // The periodic re-list is the fallback for upstreams whose change notification the gateway does not
    // hold a stream for (2025 upstreams, idle connections): a different list is a change too.
    if (hit && JSON.stringify(hit.tools) !== JSON.stringify(tools)) this.#upstreamChanged(upstream.name);
    this.#upstreamTools.set(key, { at: this.opts.deps.now(), tools });
    for (const t of tools) this.#declaresHeaders.set(upstream.prefix + t.name, paramHeaderDeclarations(t.inputSchema).length > 0);
    return tools;
  }
}
