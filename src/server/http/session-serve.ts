import { isJSONRPCRequest, WebStandardStreamableHTTPServerTransport, type AuthInfo, type JSONRPCRequest, type Server } from '@modelcontextprotocol/server';
import type { GatewayAuthExtra } from '../../inbound/http/types.js';
import type { VerifiedBearer } from './auth.js';
import type { WarmServer } from './session-cache.js';
import { SessionTransport } from './session-transport.js';

/**
 * The two ways one request of a 2025-era session is answered: a plain JSON request (see plainRequest)
 * by the session's warm server, anything else by a fresh server over the SDK's stateless transport.
 */

/**
 * One POST, answered by a fresh server over the SDK's stateless transport: in JSON mode, except a
 * request that asked for progress (`_meta.progressToken`), whose relayed notifications/progress
 * need the per-request SSE stream (MCP "Progress"); the server closes when that stream ends.
 */
export async function serveStateless(server: Server, req: Request, body: unknown, authInfo: () => AuthInfo): Promise<Response> {
  const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: !wantsProgress(body) });
  await server.connect(transport);
  let streaming = false;
  try {
    const res = await transport.handleRequest(req, { authInfo: authInfo(), parsedBody: body });
    if (res.body && (res.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
      streaming = true;
      const close = () => void server.close().catch(() => {});
      const body = res.body.pipeThrough(new TransformStream<Uint8Array, Uint8Array>({ flush: close }));
      void req.signal?.addEventListener('abort', close, { once: true });
      return new Response(body, { status: res.status, statusText: res.statusText, headers: new Headers(res.headers) });
    }
    // A JSON or 202 response is complete once returned; copy it so headers can be added.
    return new Response(res.body ? await res.arrayBuffer() : null, { status: res.status, statusText: res.statusText, headers: new Headers(res.headers) });
  } finally {
    if (!streaming) await server.close().catch(() => {});
  }
}

/** Connects a session's warm server to its in-process transport (McpSessions#serveWarm waits for `ready`). */
export function warmUp(server: Server): WarmServer {
  const transport = new SessionTransport();
  return { server, transport, ready: server.connect(transport) };
}

/** One plain request on a ready warm server: the same JSON-RPC response the stateless path gives, in a JSON body. */
export async function serveOnWarm(warm: WarmServer, message: JSONRPCRequest, req: Request, authInfo: AuthInfo): Promise<Response> {
  const response = await warm.transport.request(message, { authInfo, request: req });
  return new Response(JSON.stringify(response), { status: 200, headers: { 'Content-Type': 'application/json' } });
}

/** The AuthInfo the MCP server sees for a request of this bearer (tools read the gateway session from `extra`). */
export function sessionAuthInfo(bearer: VerifiedBearer, clientName: string | undefined, resource: () => string): AuthInfo {
  const { claims } = bearer;
  const extra: GatewayAuthExtra = { sid: claims.sid, sub: claims.sub, idpIss: claims.idp_iss, jti: claims.jti, ...(clientName ? { clientName } : {}) };
  return {
    token: bearer.token,
    clientId: claims.client_id,
    scopes: bearer.scopes,
    expiresAt: claims.exp,
    resource: new URL(resource()),
    extra: { ...extra },
  };
}

export function isInitialize(body: unknown): boolean {
  return typeof body === 'object' && body !== null && !Array.isArray(body) && (body as { method?: unknown }).method === 'initialize';
}

/**
 * The common 2025 request: one JSON-RPC request in a POST (not a batch, not a notification or a
 * response) without a progress token, from a client that accepts a JSON answer. Anything else is left
 * to the SDK's Streamable HTTP transport (#serve), which also gives every refusal its exact answer
 * (406 without both media types in Accept, -32700 for a malformed message...).
 */
export function plainRequest(req: Request, body: unknown): JSONRPCRequest | undefined {
  if (req.method !== 'POST' || Array.isArray(body) || !isJSONRPCRequest(body) || wantsProgress(body)) return undefined;
  const accept = req.headers.get('accept') ?? '';
  return accept.includes('application/json') && accept.includes('text/event-stream') ? body : undefined;
}

/** A request (or a batch member) carrying `_meta.progressToken`. */
function wantsProgress(body: unknown): boolean {
  const msgs = Array.isArray(body) ? body : [body];
  return msgs.some(
    (m) => typeof m === 'object' && m !== null && (m as { params?: { _meta?: { progressToken?: unknown } } }).params?._meta?.progressToken !== undefined,
  );
}
