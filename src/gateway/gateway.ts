import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { context, type Tracer } from '@opentelemetry/api';
import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js';
import type { AuditEvent, AuditSink } from '../audit/types.js';
import { TokenBroker, type BrokeredToken, type XaaPort } from '../broker/index.js';
import { requiredCapabilitiesOf, UpstreamConnections, type UpstreamProgress } from '../catalog/upstream.js';
import { httpClientOf } from '../catalog/http-operation.js';
import type { ConfigStore, RuntimeConfig } from '../config/index.js';
import type { KillSwitchCheck } from '../control/snapshot.js';
import type { Deps } from '../deps.js';
import { GatewayError, isGatewayError, toGatewayError } from '../errors.js';
import type { AgentIdentity, Caller, InboundIdentity } from '../inbound/identity.js';
import { compileArgumentValidator } from '../json-schema/arguments.js';
import type { Logger } from '../log.js';
import {
  endToolCallSpan,
  globalTracer,
  instrumentXaaPort,
  Metrics,
  recordedIds,
  startToolCallSpan,
  tracedFetch,
  tracedHttp,
  UNKNOWN_TOOL,
  type McpRequestInfo,
} from '../observability/index.js';
import { decide } from '../policy/index.js';
import type { SharedLimits } from '../policy/fixed-windows.js';
import { ToolRateLimits } from '../policy/rate-limits.js';
import { createXaaPort } from '../xaa/port.js';
import type { McpResourceDiscovery } from '../xaa/types.js';
import { DpopClient, generateDpopKey } from '../dpop/index.js';
import { callHttp, callUpstream, type DownstreamContext } from './downstream.js';
import type { CallOutcome } from './outcome.js';
import { CallRecorder } from './recorder.js';
import { toolErrorResult } from './tool-error.js';
import { ToolDirectory, type ResolvedTool } from './tools.js';

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

/**
 * The path of one tool call (docs/architecture.md), as named steps that each return a
 * {@link CallOutcome} or hand on: identity -> tool -> arguments -> policy -> broker -> audit
 * (durable) -> downstream -> audit. Transports (stdio, Streamable HTTP) only adapt requests to
 * these methods; the span and the metrics read the outcome.
 */
export class Gateway {
  readonly broker: TokenBroker;
  readonly tools: ToolDirectory;
  readonly #recorder: CallRecorder;
  /** Upstream MCP connections for tools/call (traced fetch), reused per user token. */
  readonly #upstreamCalls: UpstreamConnections;
  readonly #metrics: Metrics;
  readonly #tracer: () => Tracer;
  readonly #downstream: DownstreamContext;
  readonly #rateLimits: ToolRateLimits;
  /** This process's DPoP key (RFC 9449), made when a resource first asks for a bound token; never stored. */
  #dpop?: Promise<DpopClient>;

  constructor(private readonly opts: GatewayOptions) {
    this.#metrics = opts.metrics ?? new Metrics();
    const tracer = opts.tracer;
    this.#tracer = tracer ? () => tracer : globalTracer;
    const xaa = opts.xaa ?? createXaaPort(opts.deps);
    const cfg = () => opts.config.current.config;
    this.broker = new TokenBroker({
      xaa: instrumentXaaPort(xaa, { metrics: this.#metrics, tracer: this.#tracer }),
      deps: opts.deps,
      idp: () => ({
        issuer: cfg().idp.issuer,
        client: opts.config.current.idpClient,
        subjectTokenType: cfg().idp.subjectTokenType,
        timeoutMs: cfg().idp.timeoutMs,
      }),
      maxLifetimeMs: () => cfg().tokens.maxLifetimeSeconds * 1000,
      skewMs: () => cfg().tokens.skewSeconds * 1000,
      dpop: () => this.#dpopClient(),
    });
    this.#metrics.trackTokenCache(this.broker.stats);
    this.tools = new ToolDirectory({
      config: opts.config,
      identity: opts.identity,
      broker: this.broker,
      discoverMcpResource: (url) => xaa.discoverMcpResource(url),
      deps: opts.deps,
      logger: opts.logger,
      dpop: () => this.#dpopClient(),
    });
    this.#recorder = new CallRecorder(opts.audit, opts.deps, opts.logger);
    const downstreamDeps = { ...opts.deps, fetch: tracedFetch(opts.deps.fetch, this.#tracer), http: tracedHttp(httpClientOf(opts.deps), this.#tracer) };
    this.#upstreamCalls = new UpstreamConnections(downstreamDeps, { dpop: () => this.#dpopClient() });
    this.#downstream = {
      broker: this.broker,
      recorder: this.#recorder,
      deps: downstreamDeps,
      signInHint: this.#signInHint,
      dpop: () => this.#dpopClient(),
    };
    this.#rateLimits = new ToolRateLimits(() => cfg().toolRateLimits, {
      ...(opts.sharedLimits ? { shared: opts.sharedLimits } : {}),
      onDenied: (kind) => this.#metrics.rateLimited(kind),
    });
    // A config change may have changed an upstream's URL or credentials: its call connections go.
    opts.config.subscribe({ onChange: () => void this.#upstreamCalls.closeAll() });
  }

  #dpopClient(): Promise<DpopClient> {
    this.#dpop ??= generateDpopKey().then((key) => new DpopClient(key, this.opts.deps.now));
    return this.#dpop;
  }

  /**
   * Called after a config change took effect, or when an upstream's tool list changed (its
   * `notifications/tools/list_changed`, or a re-list that found a different list): MCP
   * `notifications/tools/list_changed` to the gateway's own listeners.
   */
  onToolsChanged(listener: () => void): () => void {
    return this.tools.onChanged(listener);
  }

  /** How a user signs in again on this transport (`xaa-gateway login` on stdio; reconnecting over HTTP). */
  get #signInHint(): string {
    return this.opts.identity.signInHint ?? 'sign in again, then call the tool again';
  }

  get runtime(): RuntimeConfig {
    return this.opts.config.current;
  }

  /** Config tools, plus each upstream's tools when a signed-in caller lets us ask for them. */
  listTools(ctx: Pick<CallContext, 'authInfo'>): Promise<Tool[]> {
    return this.tools.list(() => this.opts.identity.resolve(ctx));
  }

  /** See ToolDirectory.paramHeaderSchema (SEP-2243 Mcp-Param-* headers). */
  paramHeaderSchema(ctx: Pick<CallContext, 'authInfo'>, name: string): Promise<unknown> {
    return this.tools.paramHeaderSchema(name, () => this.opts.identity.resolve(ctx));
  }

  /** tools/call in progress, for close() to let finish. */
  readonly #inProgress = new Set<Promise<unknown>>();

  /**
   * One tools/call: a SERVER span (MCP semantic conventions) around the call path, whose trace id is
   * the audit records' traceId when tracing is on, and the call's metrics, both read from its outcome.
   */
  callTool(ctx: CallContext, name: string, rawArgs: unknown): Promise<CallToolResult> {
    const call = this.#callTool(ctx, name, rawArgs);
    this.#inProgress.add(call);
    const done = () => void this.#inProgress.delete(call);
    call.then(done, done);
    return call;
  }

  async #callTool(ctx: CallContext, name: string, rawArgs: unknown): Promise<CallToolResult> {
    const t0 = performance.now();
    const { span, context: spanContext } = startToolCallSpan(this.#tracer(), ctx);
    const ids = recordedIds(span) ?? { traceId: randomUUID() };
    /** Set once the name resolved to a tool of the caller's: the metric label and span name. */
    let tool: string | undefined;
    let kind: CallOutcome['kind'] | 'error' = 'error';
    try {
      const outcome = await context.with(spanContext, async () => {
        const caller = await this.#identify(ctx);
        const resolved = await this.tools.resolve(name, caller.caller);
        if (!resolved) {
          // The transport maps this to a JSON-RPC -32602 (an unknown tool is a protocol error in every revision).
          throw new GatewayError('unknown_tool', `unknown tool "${name}"; call tools/list for the tools this gateway offers`, { details: { tool: name } });
        }
        tool = name;
        return this.#call(ctx, resolved, caller, rawArgs, ids);
      });
      kind = outcome.kind;
      const failed =
        outcome.kind === 'success'
          ? {}
          : {
              errorType: 'tool_error',
              errorMessage: outcome.kind === 'denied' ? outcome.code : 'tool_error',
              ...(outcome.kind === 'denied' ? { errorCode: outcome.code } : {}),
            };
      endToolCallSpan(span, { ...(tool ? { tool } : {}), outcome: outcome.kind, ...failed });
      return outcome.result;
    } catch (e) {
      const err = toGatewayError(e);
      // MCP semantic conventions: error.type of a JSON-RPC error is its code; the transports answer
      // these two with -32602 (Invalid params), the message says which.
      const errorType = err.code === 'unknown_tool' || err.code === 'invalid_arguments' ? '-32602' : err.code;
      endToolCallSpan(span, { ...(tool ? { tool } : {}), outcome: 'error', errorType, errorMessage: err.message });
      throw e;
    } finally {
      this.#metrics.toolCall(tool ?? UNKNOWN_TOOL, kind, (performance.now() - t0) / 1000);
    }
  }

  /** Identity: the caller, or why there is none (a denial once the tool is known, so that it is audited). */
  async #identify(ctx: CallContext): Promise<{ caller?: Caller; notSignedIn?: GatewayError }> {
    try {
      return { caller: await this.opts.identity.resolve(ctx) };
    } catch (e) {
      if (!isGatewayError(e, 'not_signed_in')) throw e;
      return { notSignedIn: e };
    }
  }

  async #call(
    ctx: CallContext,
    resolved: ResolvedTool,
    who: { caller?: Caller; notSignedIn?: GatewayError },
    rawArgs: unknown,
    ids: { traceId: string; spanId?: string },
  ): Promise<CallOutcome> {
    const started = this.opts.deps.now();
    const { name } = resolved;
    // Arguments are checked before any token is minted, for config and upstream tools alike, against
    // the schema tools/list advertised. GatewayError('invalid_arguments') propagates: the transport
    // knows the protocol revision and makes it a tool error (SEP-1303) or a -32602.
    const validated = this.#arguments(resolved, rawArgs);
    if ('kind' in validated) return validated;
    const { args } = validated;

    const target = this.tools.target(resolved);
    const base: AuditEvent = {
      type: 'tool_call',
      phase: 'decision',
      traceId: ids.traceId,
      ...(ids.spanId ? { spanId: ids.spanId } : {}),
      agent: ctx.agent,
      tool: name,
      resource: target.resourceLabel,
      scopesRequested: target.scopes,
    };
    const { caller } = who;
    if (!caller) {
      // The identity's own message says how to sign in on this transport (login on stdio, reconnect over HTTP).
      const err = who.notSignedIn ?? new GatewayError('not_signed_in', `not signed in: ${this.#signInHint}`);
      return this.#deny(base, err.message, err, started);
    }
    const audited: AuditEvent = { ...base, user: { iss: caller.user.iss, sub: caller.user.sub, ...(caller.user.email ? { email: caller.user.email } : {}) } };

    // Policy: config switches and kill switches, then rate limits (nothing is awaited when none applies).
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
    const limited = this.#rateLimits.check(caller.user, name);
    const overLimit = limited && (await limited);
    if (overLimit) return this.#deny(audited, overLimit.reason, overLimit.error, started);

    try {
      // Broker: a cached token, or one minted by ID-JAG (single-flight per key).
      const mint = await this.tools.mintTarget(resolved, caller);
      let token: BrokeredToken;
      try {
        token = await this.broker.getToken(mint, caller.subject);
      } catch (e) {
        const err = toGatewayError(e);
        return this.#deny(audited, `token not issued: ${err.message}`, err, started);
      }
      // Downstream, each with its decision record durable first.
      const call = { args, mint, caller, token, audited, started };
      if (resolved.kind === 'http') return await callHttp(this.#downstream, resolved.tool, call);
      return await callUpstream(this.#downstream, this.#upstreamCalls, resolved, call, ctx.onProgress);
    } catch (e) {
      const err = toGatewayError(e);
      // An upstream's -32021 (outcome already audited): the transport relays it as that protocol error.
      if (requiredCapabilitiesOf(err)) throw err;
      if (err.code === 'audit_unavailable') {
        this.opts.logger.error('audit log unavailable: call refused', { tool: name, error: err.message });
        return { kind: 'tool_error', result: toolErrorResult(err, this.#signInHint) };
      }
      await this.#recorder
        .record({ ...audited, phase: 'outcome', outcome: { ok: false, error: err.auditCode }, latencyMs: this.opts.deps.now() - started })
        .catch(() => {});
      return { kind: 'tool_error', result: toolErrorResult(err, this.#signInHint) };
    }
  }

  /**
   * The arguments checked against the tool's schema (validators compiled once per schema object), or
   * a tool error when an upstream advertises a schema that cannot be compiled: its tool cannot be called safely.
   */
  #arguments(resolved: ResolvedTool, rawArgs: unknown): { args: Record<string, unknown> } | CallOutcome {
    const inputSchema = (resolved.kind === 'http' ? resolved.tool.inputSchema : resolved.upstreamTool.inputSchema) as Record<string, unknown>;
    let validate: (args: unknown) => Record<string, unknown>;
    try {
      validate = compileArgumentValidator({ name: resolved.name, inputSchema });
    } catch (e) {
      if (resolved.kind === 'upstream' && isGatewayError(e, 'config_invalid')) {
        const err = new GatewayError(
          'upstream_mcp_error',
          `upstream MCP server "${resolved.upstream.name}" advertises an unusable inputSchema for "${resolved.name}": ${e.message}`,
        );
        return { kind: 'tool_error', result: toolErrorResult(err, this.#signInHint) };
      }
      throw e;
    }
    return { args: validate(rawArgs ?? {}) };
  }

  async #deny(audited: AuditEvent, reason: string, err: GatewayError, started: number): Promise<CallOutcome> {
    if (err.code === 'kill_switch') this.#metrics.killSwitchDenial(switchKind(err.details?.switch));
    await this.#recorder.denial(audited, reason, err, started);
    return { kind: 'denied', result: toolErrorResult(err, this.#signInHint), code: err.code };
  }

  /** Resolves once every queued audit record is durable (shutdown). */
  flush(): Promise<void> {
    return this.#recorder.flush();
  }

  /**
   * Shutdown. Calls in progress get up to `drainMs` to finish, so that a SaaS answer that was on its way
   * is recorded as the call's outcome rather than read as "outcome unknown" at the next start (a
   * desktop client sends SIGKILL 2 s after it closed stdin, or after its SIGTERM). Then closes the
   * upstream MCP connections (their `subscriptions/listen` streams would keep the process alive), and
   * waits for the queued audit records like flush().
   */
  async close(drainMs = CLOSE_DRAIN_MS): Promise<void> {
    if (this.#inProgress.size) {
      let timer: NodeJS.Timeout | undefined;
      const finished = await Promise.race([
        Promise.allSettled([...this.#inProgress]).then(() => true),
        new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), drainMs))),
      ]);
      clearTimeout(timer);
      if (!finished) {
        this.opts.logger.warn('tool calls still in progress at shutdown: their audit records will read "outcome unknown"', {
          calls: this.#inProgress.size,
          waitedMs: drainMs,
        });
      }
    }
    await Promise.all([this.#upstreamCalls.closeAll(), this.tools.close()]);
    await this.flush();
  }
}

/** How long close() waits for calls in progress: within the 2 s a desktop client gives before SIGKILL. */
export const CLOSE_DRAIN_MS = 1500;

/** The kill switch's kind as a metric label: a bounded word, never the user or agent it names. */
function switchKind(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value !== null && typeof value === 'object' && typeof (value as { kind?: unknown }).kind === 'string') return (value as { kind: string }).kind;
  return 'unknown';
}
