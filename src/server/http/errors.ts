import type { GatewayError } from '../../errors.js';

/**
 * The one place that turns refusals at the HTTP front door into responses: OAuth bearer challenges
 * (RFC 6750 §3, MCP authorization) and JSON-RPC error bodies for the Streamable HTTP transport.
 */

/** JSON-RPC error codes the SDK transport uses for transport-level refusals. */
export const JSONRPC_SERVER_ERROR = -32000;
export const JSONRPC_SESSION_NOT_FOUND = -32001;
export const JSONRPC_PARSE_ERROR = -32700;
export const JSONRPC_INVALID_REQUEST = -32600;

/** A JSON-RPC error without an id (MCP Streamable HTTP: transport errors carry no request id). */
export function jsonRpcError(status: number, code: number, message: string, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null }), {
    status,
    headers: { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', ...headers },
  });
}

/**
 * RFC 6750 §3: error_description is limited to %x20-21 / %x23-5B / %x5D-7E (no quote, no
 * backslash), so a reason like `claim "aud"` is rewritten rather than escaped; naive
 * WWW-Authenticate parsers in MCP clients would otherwise misread it.
 */
export function challengeText(s: string): string {
  return s
    .replace(/"/g, "'")
    .replace(/[^\x20-\x21\x23-\x5B\x5D-\x7E]/g, '')
    .slice(0, 200);
}

export interface Challenge {
  resourceMetadata: string;
  scopes: readonly string[];
  error?: 'invalid_token' | 'insufficient_scope';
  description?: string;
}

/** `WWW-Authenticate: Bearer ...` (RFC 6750 §3, RFC 9728 §5.1 resource_metadata, MCP scope hint). */
export function bearerChallenge(c: Challenge): string {
  const params: string[] = [];
  if (c.error) params.push(`error="${c.error}"`);
  if (c.description) params.push(`error_description="${challengeText(c.description)}"`);
  params.push(`resource_metadata="${c.resourceMetadata}"`);
  if (c.scopes.length) params.push(`scope="${c.scopes.join(' ')}"`);
  return `Bearer ${params.join(', ')}`;
}

/** 401 (no or bad token) and 403 (insufficient scope) with the challenge and an OAuth error body. */
export function bearerRefusal(status: 401 | 403, c: Challenge): Response {
  const body = c.error
    ? { error: c.error, ...(c.description ? { error_description: challengeText(c.description) } : {}) }
    : { error: 'unauthorized', error_description: 'a bearer token is required' };
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', 'WWW-Authenticate': bearerChallenge(c) },
  });
}

/** A failure that is not the caller's fault (store down, internal): 503/500 without details. */
export function unavailable(err: GatewayError): Response {
  if (err.code === 'store_unavailable')
    return jsonRpcError(503, JSONRPC_SERVER_ERROR, 'Service unavailable: the gateway cannot reach its store; try again shortly', { 'Retry-After': '5' });
  return jsonRpcError(500, JSONRPC_SERVER_ERROR, 'Internal error');
}
