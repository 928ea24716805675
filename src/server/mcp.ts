import {
  CLIENT_INFO_META_KEY,
  MissingRequiredClientCapabilityError,
  ProtocolError,
  ProtocolErrorCode,
  Server,
  type CallToolResult as SdkCallToolResult,
  type Implementation,
  type JSONRPCRequest,
  type Result,
  type ServerContext,
  type Tool as SdkTool,
} from '@modelcontextprotocol/server';
import { requiredCapabilitiesOf } from '../catalog/upstream.js';
import { isGatewayError } from '../errors.js';
import type { AgentIdentity } from '../inbound/identity.js';
import { toolErrorResult, type Gateway } from '../gateway/index.js';
import { argumentErrorIsToolResult } from './mcp/versions.js';

export const SERVER_INFO = { name: 'xaa-gateway', version: '0.1.0' };

export const INSTRUCTIONS =
  'Tools of enterprise SaaS apps, called for the signed-in user with short-lived tokens the enterprise IdP allowed. Every call is audited.';

/**
 * How long a client may reuse a tools/list result (2026-07-28 cache hints). Private: the list
 * depends on the user (upstream tools are listed with their token). Changes reach listening
 * clients at once as notifications/tools/list_changed; this bounds staleness for the others.
 */
export const TOOLS_LIST_CACHE = { ttlMs: 60_000, cacheScope: 'private' } as const;

export interface McpServerOptions {
  /**
   * The agent in every audit record. Over HTTP: the OAuth client holding the token. When absent
   * (stdio), the clientInfo the client sent (initialize, or the 2026-07-28 request envelope).
   */
  agent?: () => AgentIdentity;
  /**
   * The protocol version the request speaks when the instance cannot know it from its own
   * handshake: a 2025 session served by an instance that never saw its `initialize`.
   */
  protocolVersion?: () => string | undefined;
  /** `Mcp-Session-Id` of the 2025 session (spans). */
  sessionId?: string;
}

/**
 * Malformed tools/call params are a -32602 naming the field (JSON-RPC 2.0 §5.1, MCP tools/call),
 * answered before the SDK's own schema check, whose message is a raw zod issue dump.
 */
export function toolsCallParamsProblem(params: unknown): string | undefined {
  if (typeof params !== 'object' || params === null || Array.isArray(params))
    return 'Invalid params: tools/call params must be an object with "name" and "arguments"';
  const { name, arguments: args } = params as { name?: unknown; arguments?: unknown };
  if (typeof name !== 'string') return `Invalid params: "name" must be a string (got ${kindOf(name)})`;
  if (args !== undefined && (typeof args !== 'object' || args === null || Array.isArray(args)))
    return `Invalid params: "arguments" must be an object (got ${kindOf(args)})`;
  return undefined;
}

const kindOf = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'an array' : v === undefined ? 'nothing' : `a ${typeof v}`);

/** The SDK's Server, with tools/call params checked first (the SDK's documented `_wrapHandler` hook). */
class GatewayServer extends Server {
  protected override _wrapHandler(
    method: string,
    handler: (request: JSONRPCRequest, ctx: ServerContext) => Promise<Result>,
  ): (request: JSONRPCRequest, ctx: ServerContext) => Promise<Result> {
    const wrapped = super._wrapHandler(method, handler);
    if (method !== 'tools/call') return wrapped;
    return async (request, ctx) => {
      const problem = toolsCallParamsProblem(request.params);
      if (problem) throw new ProtocolError(ProtocolErrorCode.InvalidParams, problem);
      return wrapped(request, ctx);
    };
  }
}

/**
 * The one MCP server of the gateway, for every transport and both protocol eras: a low-level SDK
 * `Server` answering tools/list and tools/call from the Gateway. The serving entries (createMcpHandler,
 * the 2025 session leg, serveStdio) build one per request or per connection; nothing here knows
 * which era it serves except how an invalid-arguments error is reported (SEP-1303).
 */
export function createMcpServer(gateway: Gateway, opts: McpServerOptions = {}): Server {
  const server = new GatewayServer(SERVER_INFO, {
    capabilities: { tools: { listChanged: true } },
    instructions: INSTRUCTIONS,
    cacheHints: { 'tools/list': TOOLS_LIST_CACHE },
  });
  // A 2026-07-28 request names its client in its own envelope (no initialize: serveStdio does not backfill
  // getClientVersion as the HTTP handler does); a 2025 connection named it once, in initialize.
  const agentOf = (envelope: object | undefined): AgentIdentity => {
    if (opts.agent) return opts.agent();
    const info = (envelope as Record<string, Implementation | undefined> | undefined)?.[CLIENT_INFO_META_KEY] ?? server.getClientVersion();
    return info ? { name: info.name, version: info.version } : {};
  };
  const versionOf = () => opts.protocolVersion?.() ?? server.getNegotiatedProtocolVersion();

  server.setRequestHandler('tools/list', async (_req, ctx) => ({ tools: (await gateway.listTools({ authInfo: ctx.http?.authInfo })) as SdkTool[] }));
  server.setRequestHandler('tools/call', async (req, ctx) => {
    // MCP "Progress": when the caller sent a progressToken, an upstream tool's progress is relayed
    // under the caller's token as a notification related to this request (over HTTP the response
    // becomes an SSE stream). Notifications are best effort: a failed send never fails the call.
    const progressToken = req.params._meta?.progressToken;
    const onProgress =
      progressToken === undefined
        ? undefined
        : (p: { progress: number; total?: number; message?: string }) =>
            void ctx.mcpReq.notify({ method: 'notifications/progress', params: { progressToken, ...p } }).catch(() => {});
    try {
      const result = await gateway.callTool(
        {
          authInfo: ctx.http?.authInfo,
          agent: agentOf(ctx.mcpReq.envelope),
          ...(opts.sessionId ? { sessionId: opts.sessionId } : {}),
          requestId: ctx.mcpReq.id,
          meta: req.params._meta,
          ...(onProgress ? { onProgress } : {}),
        },
        req.params.name,
        req.params.arguments,
      );
      return result as SdkCallToolResult;
    } catch (e) {
      if (isGatewayError(e, 'unknown_tool')) throw new ProtocolError(ProtocolErrorCode.InvalidParams, e.message);
      // An upstream's -32021 stays that protocol error (2026-07-28: HTTP 400, the SDK maps it).
      const requiredCapabilities = requiredCapabilitiesOf(e);
      if (requiredCapabilities) throw new MissingRequiredClientCapabilityError({ requiredCapabilities }, (e as Error).message);
      if (isGatewayError(e, 'invalid_arguments')) {
        // SEP-1303 (2025-11-25 and later): invalid arguments are a tool execution error the model
        // can read and correct; older revisions expect a JSON-RPC -32602.
        if (argumentErrorIsToolResult(versionOf())) return toolErrorResult(e) as SdkCallToolResult;
        throw new ProtocolError(ProtocolErrorCode.InvalidParams, e.message);
      }
      throw e;
    }
  });
  return server;
}
