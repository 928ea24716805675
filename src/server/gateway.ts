import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { context, type Tracer } from '@opentelemetry/api';
import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js';
import type { AuditDurability, AuditEvent, AuditSink } from '../audit/types.js';
import { TokenBroker, type BrokeredToken, type MintTarget, type XaaPort } from '../broker/index.js';
import { compileArgumentValidator } from '../json-schema/arguments.js';
import { buildDownstreamRequest, executeHttpOperation } from '../catalog/http-operation.js';
import { toToolResult } from '../catalog/tool-result.js';
import { callUpstreamTool, listUpstreamTools, requiredCapabilitiesOf, UpstreamConnections, type UpstreamAuth, type UpstreamProgress } from '../catalog/upstream.js';
import type { ConfigStore, RuntimeConfig } from '../config/index.js';
import type { ToolConfig, UpstreamConfig } from '../config/schema.js';
import type { Deps } from '../deps.js';
import { GatewayError, isGatewayError, toGatewayError } from '../errors.js';
import type { AgentIdentity, Caller, InboundIdentity } from '../inbound/identity.js';
import type { Logger } from '../log.js';
import { endToolCallSpan, globalTracer, instrumentXaaPort, Metrics, recordedIds, startToolCallSpan, tracedFetch, UNKNOWN_TOOL, type McpRequestInfo, type ToolCallOutcome } from '../observability/index.js';
import type { KillSwitchCheck } from '../control/snapshot.js';
import { decide } from '../policy/index.js';
import type { SharedLimits } from '../policy/fixed-windows.js';
import { ToolRateLimits } from '../policy/rate-limits.js';
import { createXaaPort } from '../xaa/port.js';
import type { McpResourceDiscovery } from '../xaa/types.js';
import { paramHeaderDeclarations } from './http/param-headers.js';
import { toolErrorResult } from './errors.js';

export interface GatewayOptions {
  config: ConfigStore;
  identity: InboundIdentity;
  audit: AuditSink;
  deps: Deps;
  logger: Logger;
  /** Kill switches in force (src/control), checked synchronously by the policy on every call. */
  switches?: KillSwitchCheck;
  /** Replaces the real protocol client (unit tests). */
  xaa?: XaaPort & { discoverMcpResource(url: string): Promise<McpResourceDiscovery> };
  /** Prometheus metrics; default: a fresh registry nobody scrapes. */
  metrics?: Metrics;
  /** Default: the global OpenTelemetry tracer (a no-op until setupTracing installs a provider). */
  tracer?: Tracer;
  /** Redis shared by the instances (REDIS_URL): toolRateLimits count per deployment; without it, per process. */
  sharedLimits?: SharedLimits;
}

export interface CallContext extends McpRequestInfo {
  authInfo?: unknown;
  agent: AgentIdentity;
  /**
   * Set when the caller asked for progress (`_meta.progressToken`): an upstream MCP tool's progress
   * notifications are handed here for the transport to relay. Config HTTP tools report none.
   */
  onProgress?: (progress: UpstreamProgress) => void;
}

/** What one call learns on its way, for its span and metrics. */
interface CallObservation {
  traceId: string;
  /** Set when tracing is on: with traceId, names the tools/call span. */
  spanId?: string;
  /** The tool, once the name resolved (metric label, span name). */
  tool?: string;
}

type ResolvedTool =
  | { kind: 'http'; name: string; tool: ToolConfig; resourceName: string }
  | { kind: 'upstream'; name: string; upstream: UpstreamConfig; upstreamTool: Tool };

const UPSTREAM_LIST_TTL_MS = 60_000;

/**
 * The path of one tool call (DESIGN.md): catalog -> policy -> broker -> audit (durable) ->
 * downstream -> audit. Transports (stdio, Streamable HTTP) only adapt requests to these methods.
 */
export class Gateway {
  readonly broker: TokenBroker;
  readonly #xaa: NonNullable<GatewayOptions['xaa']>;
  readonly #upstreamTools = new Map<string, { at: number; tools: Tool[] }>();
  /** Upstream tools (prefixed name) seen in a list: whether their schema declares x-mcp-header arguments (SEP-2243). */
  readonly #upstreamToolDeclaresHeaders = new Map<string, boolean>();
  readonly #discovery = new Map<string, Promise<McpResourceDiscovery>>();
  /** Upstream MCP connections for tools/call (traced fetch) and for tools/list (plain fetch), reused per user token. */
  readonly #upstreamCalls: UpstreamConnections;
  readonly #upstreamLists: UpstreamConnections;

  readonly #metrics: Metrics;
  readonly #tracer: () => Tracer;
  /** deps for downstream calls: each request is a span and carries traceparent. */
  readonly #downstreamDeps: Deps;
  /** Results of #deny, told apart from other tool errors for the metrics. */
  readonly #denied = new WeakMap<CallToolResult, string>();
  readonly #rateLimits: ToolRateLimits;

  constructor(private readonly opts: GatewayOptions) {
    this.#metrics = opts.metrics ?? new Metrics();
    const tracer = opts.tracer;
    this.#tracer = tracer ? () => tracer : globalTracer;
    this.#downstreamDeps = { ...opts.deps, fetch: tracedFetch(opts.deps.fetch, this.#tracer) };
    this.#upstreamCalls = new UpstreamConnections(this.#downstreamDeps);
    this.#upstreamLists = new UpstreamConnections(opts.deps, { onToolsChanged: (u) => this.#upstreamToolsChanged(u.name) });
    const xaa = opts.xaa ?? createXaaPort(opts.deps);
    this.#xaa = { ...instrumentXaaPort(xaa, { metrics: this.#metrics, tracer: this.#tracer }), discoverMcpResource: (url) => xaa.discoverMcpResource(url) };
    const cfg = () => opts.config.current.config;
    this.broker = new TokenBroker({
      xaa: this.#xaa,
      deps: opts.deps,
      idp: () => ({ issuer: cfg().idp.issuer, client: opts.config.current.idpClient, subjectTokenType: cfg().idp.subjectTokenType, timeoutMs: cfg().idp.timeoutMs }),
      maxLifetimeMs: () => cfg().tokens.maxLifetimeSeconds * 1000,
      skewMs: () => cfg().tokens.skewSeconds * 1000,
    });
    this.#metrics.trackTokenCache(this.broker.stats);
    this.#rateLimits = new ToolRateLimits(() => cfg().toolRateLimits, { ...(opts.sharedLimits ? { shared: opts.sharedLimits } : {}), onDenied: (kind) => this.#metrics.rateLimited(kind) });
    opts.config.subscribe({
      onChange: () => {
        // Upstream lists and discovery results may depend on what changed; minted tokens stay valid.
        this.#upstreamTools.clear();
        this.#discovery.clear();
        void this.#upstreamCalls.closeAll();
        void this.#upstreamLists.closeAll();
        for (const l of this.#toolListeners) l();
      },
    });
  }

  readonly #toolListeners = new Set<() => void>();

  /**
   * Called after a config change took effect, or when an upstream's tool list changed (its
   * `notifications/tools/list_changed`, or a re-list that found a different list): MCP
   * `notifications/tools/list_changed` to the gateway's own listeners.
   */
  onToolsChanged(listener: () => void): () => void {
    this.#toolListeners.add(listener);
    return () => this.#toolListeners.delete(listener);
  }

  /** Set while a burst of upstream change signals (one per user connection) is being coalesced. */
  #upstreamChangePending = false;

  /** An upstream's tools changed: its cached lists (every user's) are stale, and listeners hear it once per burst. */
  #upstreamToolsChanged(upstreamName: string): void {
    for (const key of this.#upstreamTools.keys()) if ((JSON.parse(key) as string[])[0] === upstreamName) this.#upstreamTools.delete(key);
    if (this.#upstreamChangePending) return;
    this.#upstreamChangePending = true;
    queueMicrotask(() => {
      this.#upstreamChangePending = false;
      for (const l of this.#toolListeners) l();
    });
  }

  /** How a user signs in again on this transport (`xaa-gateway login` on stdio; reconnecting over HTTP). */
  get #signInHint(): string {
    return this.opts.identity.signInHint ?? 'sign in again, then call the tool again';
  }

  get runtime(): RuntimeConfig {
    return this.opts.config.current;
  }

  /** Config tools, plus each upstream's tools when a signed-in caller lets us ask for them. */
  async listTools(ctx: Pick<CallContext, 'authInfo'>): Promise<Tool[]> {
    const { config } = this.runtime;
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
    let caller: Caller;
    try {
      caller = await this.opts.identity.resolve(ctx);
    } catch {
      return tools; // not signed in: upstream tools cannot be listed without the user's token
    }
    const lists = await Promise.all(
      upstreams.map((u) =>
        this.#upstreamList(u, caller).catch((e: unknown) => {
          this.opts.logger.warn('upstream tools unavailable', { upstream: u.name, error: toGatewayError(e).message });
          return [] as Tool[];
        }),
      ),
    );
    upstreams.forEach((u, i) => tools.push(...(lists[i] ?? []).map((t) => ({ ...t, name: u.prefix + t.name }))));
    return tools;
  }

  /**
   * The inputSchema tools/list shows the caller for `name`, or undefined when it is not one of the
   * caller's tools (the HTTP adapter checks SEP-2243 `Mcp-Param-*` headers against it).
   */
  /**
   * The input schema of a tool whose arguments declare `x-mcp-header` (SEP-2243), for the HTTP
   * adapter's Mcp-Param-* check; undefined for every other tool. An upstream tool already seen in a
   * list without such arguments costs nothing here; others are looked up with the caller's identity.
   */
  async paramHeaderSchema(ctx: Pick<CallContext, 'authInfo'>, name: string): Promise<unknown> {
    const tool = this.runtime.config.tools.find((t) => t.name === name);
    if (tool) return tool.inputSchema;
    if (this.#upstreamToolDeclaresHeaders.get(name) === false) return undefined;
    let caller: Caller;
    try {
      caller = await this.opts.identity.resolve(ctx);
    } catch {
      return undefined;
    }
    const resolved = await this.#resolveTool(name, caller);
    return resolved?.kind === 'upstream' ? resolved.upstreamTool.inputSchema : undefined;
  }

  /**
   * One tools/call: a SERVER span (MCP semantic conventions) around the pipeline, whose trace id is
   * the audit records' traceId when tracing is on, and the call's metrics.
   */
  async callTool(ctx: CallContext, name: string, rawArgs: unknown): Promise<CallToolResult> {
    const t0 = performance.now();
    const { span, context: spanContext } = startToolCallSpan(this.#tracer(), ctx);
    const ids = recordedIds(span);
    const obs: CallObservation = ids ?? { traceId: randomUUID() };
    let outcome: ToolCallOutcome = 'error';
    try {
      const result = await context.with(spanContext, () => this.#callTool(ctx, name, rawArgs, obs));
      const deniedCode = this.#denied.get(result);
      outcome = deniedCode !== undefined ? 'denied' : result.isError ? 'tool_error' : 'success';
      endToolCallSpan(span, { ...(obs.tool ? { tool: obs.tool } : {}), outcome, ...(result.isError ? { errorType: 'tool_error', errorMessage: deniedCode ?? 'tool_error' } : {}), ...(deniedCode ? { errorCode: deniedCode } : {}) });
      return result;
    } catch (e) {
      const err = toGatewayError(e);
      // MCP semantic conventions: error.type of a JSON-RPC error is its code; the transports answer
      // these two with -32602 (Invalid params), the message says which.
      const errorType = err.code === 'unknown_tool' || err.code === 'invalid_arguments' ? '-32602' : err.code;
      endToolCallSpan(span, { ...(obs.tool ? { tool: obs.tool } : {}), outcome, errorType, errorMessage: err.message });
      throw e;
    } finally {
      this.#metrics.toolCall(obs.tool ?? UNKNOWN_TOOL, outcome, (performance.now() - t0) / 1000);
    }
  }

  async #callTool(ctx: CallContext, name: string, rawArgs: unknown, obs: CallObservation): Promise<CallToolResult> {
    const started = this.opts.deps.now();
    const traceId = obs.traceId;
    let caller: Caller | undefined;
    let notSignedIn: GatewayError | undefined;
    try {
      caller = await this.opts.identity.resolve(ctx);
    } catch (e) {
      if (!isGatewayError(e, 'not_signed_in')) throw e;
      notSignedIn = e;
    }
    const resolved = await this.#resolveTool(name, caller);
    if (!resolved) {
      // The transport maps this to a JSON-RPC -32602 (an unknown tool is a protocol error in every revision).
      throw new GatewayError('unknown_tool', `unknown tool "${name}"; call tools/list for the tools this gateway offers`, { details: { tool: name } });
    }
    obs.tool = name;
    // Arguments are checked before any token is minted, for config and upstream tools alike, against
    // the schema tools/list advertised. GatewayError('invalid_arguments') propagates: the transport
    // knows the protocol revision and makes it a tool error (SEP-1303) or a -32602.
    const inputSchema = (resolved.kind === 'http' ? resolved.tool.inputSchema : resolved.upstreamTool.inputSchema) as ToolConfig['inputSchema'];
    let validate: (args: unknown) => Record<string, unknown>;
    try {
      validate = compileArgumentValidator({ name, inputSchema });
    } catch (e) {
      // An upstream advertising a schema that cannot be compiled: its tool cannot be called safely.
      if (resolved.kind === 'upstream' && isGatewayError(e, 'config_invalid')) {
        return toolErrorResult(new GatewayError('upstream_mcp_error', `upstream MCP server "${resolved.upstream.name}" advertises an unusable inputSchema for "${name}": ${e.message}`), this.#signInHint);
      }
      throw e;
    }
    const args = validate(rawArgs ?? {});

    const target = this.#target(resolved);
    const base: AuditEvent = {
      type: 'tool_call',
      phase: 'decision',
      traceId,
      ...(obs.spanId ? { spanId: obs.spanId } : {}),
      agent: ctx.agent,
      tool: name,
      resource: target.resourceLabel,
      scopesRequested: target.scopes,
    };
    if (!caller) {
      // The identity's own message says how to sign in on this transport (login on stdio, reconnect over HTTP).
      const err = notSignedIn ?? new GatewayError('not_signed_in', `not signed in: ${this.#signInHint}`);
      return this.#deny(base, err.message, err, started);
    }
    const audited: AuditEvent = { ...base, user: { iss: caller.user.iss, sub: caller.user.sub, ...(caller.user.email ? { email: caller.user.email } : {}) } };

    const verdict = decide({
      user: caller.user,
      agent: ctx.agent,
      tool: { name, enabled: resolved.kind === 'http' ? resolved.tool.enabled : true },
      target: target.policy,
      ...(this.opts.switches ? { switches: this.opts.switches } : {}),
    });
    if (!verdict.allow) {
      const details = verdict.code === 'kill_switch' ? { details: { switch: verdict.switch } } : {};
      return this.#deny(audited, verdict.reason, new GatewayError(verdict.code, `denied: ${verdict.reason}`, details), started);
    }
    // Rate limits (toolRateLimits): nothing is awaited when none applies to this call.
    const limited = this.#rateLimits.check(caller.user, name);
    const overLimit = limited && (await limited);
    if (overLimit) return this.#deny(audited, overLimit.reason, overLimit.error, started);

    try {
      const mint = await this.#mintTarget(resolved, caller);
      let token: BrokeredToken;
      try {
        token = await this.broker.getToken(mint, caller.subject);
      } catch (e) {
        const err = toGatewayError(e);
        return this.#deny(audited, `token not issued: ${err.message}`, err, started);
      }
      if (resolved.kind === 'http') return await this.#callHttp(resolved.tool, args, mint, caller, token, audited, started);
      return await this.#callUpstream(resolved, args, mint, caller, token, audited, started, ctx.onProgress);
    } catch (e) {
      const err = toGatewayError(e);
      // An upstream's -32021 (outcome already audited): the transport relays it as that protocol error.
      if (requiredCapabilitiesOf(err)) throw err;
      if (err.code === 'audit_unavailable') {
        this.opts.logger.error('audit log unavailable: call refused', { tool: name, error: err.message });
        return toolErrorResult(err, this.#signInHint);
      }
      await this.#record({ ...audited, phase: 'outcome', outcome: { ok: false, error: err.auditCode }, latencyMs: this.opts.deps.now() - started }).catch(() => {});
      return toolErrorResult(err, this.#signInHint);
    }
  }

  async #callHttp(tool: ToolConfig, args: Record<string, unknown>, mint: MintTarget, caller: Caller, first: BrokeredToken, audited: AuditEvent, started: number): Promise<CallToolResult> {
    const req = buildDownstreamRequest(tool.http, args);
    const downstream = { method: req.method, url: req.url.origin + req.url.pathname };
    let token = first;
    for (let attempt = 0; ; attempt++) {
      // Fail closed: the decision is on disk before the SaaS sees the request.
      await this.#decision(audited, token, downstream, attempt === 0 ? 'allowed' : 're-mint after downstream 401');
      const t0 = this.opts.deps.now();
      let result: Awaited<ReturnType<typeof executeHttpOperation>>;
      try {
        result = await executeHttpOperation(tool.http, args, token.accessToken, this.#downstreamDeps, { request: req });
      } catch (e) {
        const err = toGatewayError(e);
        this.#outcome(audited, { ok: false, ...(err.status ? { status: err.status } : {}), error: err.auditCode }, t0, started);
        return toolErrorResult(err, this.#signInHint);
      }
      this.#outcome(audited, { ok: result.ok, status: result.status, ...(result.ok ? {} : { error: `http_${result.status}` }) }, t0, started);
      if (result.status === 401 && attempt === 0) {
        // The SaaS refused the token (revoked, rotated keys): drop it and mint once more.
        this.broker.evict(mint, token.accessToken);
        token = await this.broker.getToken(mint, caller.subject);
        continue;
      }
      try {
        return toToolResult(result, tool);
      } catch (e) {
        return toolErrorResult(toGatewayError(e), this.#signInHint);
      }
    }
  }

  async #callUpstream(resolved: Extract<ResolvedTool, { kind: 'upstream' }>, args: Record<string, unknown>, mint: MintTarget, caller: Caller, first: BrokeredToken, audited: AuditEvent, started: number, onProgress?: (p: UpstreamProgress) => void): Promise<CallToolResult> {
    const downstream = { method: 'tools/call', url: resolved.upstream.url };
    await this.#decision(audited, first, downstream, 'allowed');
    const t0 = this.opts.deps.now();
    const auth: UpstreamAuth = {
      token: first,
      remint: async (stale) => {
        this.#outcome(audited, { ok: false, status: 401, error: 'downstream_unauthorized' }, t0, started);
        this.broker.evict(mint, stale.accessToken);
        const fresh = await this.broker.getToken(mint, caller.subject);
        await this.#decision(audited, fresh, downstream, 're-mint after downstream 401');
        return fresh;
      },
    };
    try {
      const result = await callUpstreamTool(this.#upstreamCalls, resolved.upstream, auth, resolved.upstreamTool.name, args, onProgress ? { onProgress } : {});
      this.#outcome(audited, { ok: !result.isError, ...(result.isError ? { error: 'tool_error' } : {}) }, t0, started);
      return result;
    } catch (e) {
      const err = toGatewayError(e);
      if (err.code === 'audit_unavailable') throw err;
      this.#outcome(audited, { ok: false, ...(err.status ? { status: err.status } : {}), error: err.auditCode }, t0, started);
      if (requiredCapabilitiesOf(err)) throw err;
      return toolErrorResult(err, this.#signInHint);
    }
  }

  #decision(audited: AuditEvent, token: BrokeredToken, downstream: { method: string; url: string }, reason: string) {
    return this.#record({
      ...audited,
      phase: 'decision',
      decision: 'allow',
      reason,
      scopesGranted: token.scopesGranted,
      idJagJti: token.idJagJti,
      tokenFingerprint: token.fingerprint,
      tokenFromCache: token.fromCache,
      downstream,
    });
  }

  /**
   * Queues the outcome record. The response does not wait for its fsync: the decision record was
   * durable before the downstream call, and the sink keeps records in call order (group commit).
   * A failed outcome write is logged, not turned into a failed call: the call already happened.
   */
  #outcome(audited: AuditEvent, outcome: NonNullable<AuditEvent['outcome']>, t0: number, started: number): void {
    const now = this.opts.deps.now();
    // Deferred durability: written now, fsync'd with the next decision record or within 100 ms.
    const write = this.#record({ ...audited, phase: 'outcome', outcome, latencyMs: now - t0, totalMs: now - started }, 'deferred')
      .then(() => undefined)
      .catch((e: unknown) => this.opts.logger.error('audit outcome record not written', { traceId: audited.traceId, error: toGatewayError(e).message }))
      .finally(() => this.#pending.delete(write));
    this.#pending.add(write);
  }

  readonly #pending = new Set<Promise<void>>();

  /** Resolves once every queued audit record is durable (shutdown). */
  async flush(): Promise<void> {
    while (this.#pending.size) await Promise.all([...this.#pending]);
  }

  /**
   * Shutdown: closes the upstream MCP connections (their `subscriptions/listen` streams would keep
   * the process alive), then waits for the queued audit records like flush().
   */
  async close(): Promise<void> {
    await Promise.all([this.#upstreamCalls.closeAll(), this.#upstreamLists.closeAll()]);
    await this.flush();
  }

  async #deny(audited: AuditEvent, reason: string, err: GatewayError, started: number): Promise<CallToolResult> {
    if (err.code === 'kill_switch') this.#metrics.killSwitchDenial(switchKind(err.details?.switch));
    try {
      await this.#record({ ...audited, phase: 'decision', decision: 'deny', reason, outcome: { ok: false, error: err.auditCode }, latencyMs: this.opts.deps.now() - started });
    } catch (e) {
      this.opts.logger.error('audit log unavailable while recording a denial', { error: toGatewayError(e).message });
    }
    const result = toolErrorResult(err, this.#signInHint);
    this.#denied.set(result, err.code);
    return result;
  }

  #record(event: AuditEvent, durability: AuditDurability = 'sync') {
    return this.opts.audit.append(event, { durability });
  }

  async #resolveTool(name: string, caller: Caller | undefined): Promise<ResolvedTool | undefined> {
    const { config } = this.runtime;
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

  #target(resolved: ResolvedTool) {
    const { config } = this.runtime;
    if (resolved.kind === 'http') {
      const r = config.resources[resolved.resourceName]!;
      return { resourceLabel: r.resource, scopes: [...resolved.tool.scopes], policy: { kind: 'resource' as const, name: resolved.resourceName, enabled: r.enabled } };
    }
    const u = resolved.upstream;
    return { resourceLabel: u.url, scopes: [...u.scopes], policy: { kind: 'upstream' as const, name: u.name, enabled: u.enabled } };
  }

  async #mintTarget(resolved: ResolvedTool, caller: Caller): Promise<MintTarget> {
    const rt = this.runtime;
    if (resolved.kind === 'http') {
      const r = rt.config.resources[resolved.resourceName]!;
      return { user: caller.user, resource: r.resource, scopes: resolved.tool.scopes, authorizationServer: r.authorizationServer, client: rt.resourceClients.get(resolved.resourceName)!, timeoutMs: r.timeoutMs };
    }
    return this.#upstreamMintTarget(resolved.upstream, caller);
  }

  async #upstreamMintTarget(upstream: UpstreamConfig, caller: Caller): Promise<MintTarget> {
    // SEP-990: the resource and its AS come from the upstream's RFC 9728 metadata, found from its configured URL.
    let found = this.#discovery.get(upstream.url);
    if (!found) {
      found = this.#xaa.discoverMcpResource(upstream.url);
      found.catch(() => this.#discovery.delete(upstream.url));
      this.#discovery.set(upstream.url, found);
    }
    const d = await found;
    return { user: caller.user, resource: d.resource, scopes: upstream.scopes, authorizationServer: d.authorizationServer.issuer, client: this.runtime.upstreamClients.get(upstream.name)! };
  }

  async #upstreamList(upstream: UpstreamConfig, caller: Caller): Promise<Tool[]> {
    const key = JSON.stringify([upstream.name, caller.user.iss, caller.user.sub]);
    const hit = this.#upstreamTools.get(key);
    if (hit && this.opts.deps.now() - hit.at < UPSTREAM_LIST_TTL_MS) return hit.tools;
    const mint = await this.#upstreamMintTarget(upstream, caller);
    const token = await this.broker.getToken(mint, caller.subject);
    const auth: UpstreamAuth = {
      token,
      remint: async (stale) => {
        this.broker.evict(mint, stale.accessToken);
        return this.broker.getToken(mint, caller.subject);
      },
    };
    const tools = await listUpstreamTools(this.#upstreamLists, upstream, auth);
    // The periodic re-list is the fallback for upstreams whose change notification the gateway does not
    // hold a stream for (2025 upstreams, idle connections): a different list is a change too.
    if (hit && JSON.stringify(hit.tools) !== JSON.stringify(tools)) this.#upstreamToolsChanged(upstream.name);
    this.#upstreamTools.set(key, { at: this.opts.deps.now(), tools });
    for (const t of tools) this.#upstreamToolDeclaresHeaders.set(upstream.prefix + t.name, paramHeaderDeclarations(t.inputSchema).length > 0);
    return tools;
  }
}

/** The kill switch's kind as a metric label: a bounded word, never the user or agent it names. */
function switchKind(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value !== null && typeof value === 'object' && typeof (value as { kind?: unknown }).kind === 'string') return (value as { kind: string }).kind;
  return 'unknown';
}
