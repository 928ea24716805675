import { ERROR_TABLE, GatewayError, JSONRPC, retryAfterOf } from '../../errors.js';

/**
 * The one place that turns refusals at the HTTP front door into responses: OAuth bearer challenges
 * (RFC 6750 §3, MCP authorization) and JSON-RPC error bodies for the Streamable HTTP transport.
 */

/** JSON-RPC error codes the SDK transport uses for transport-level refusals. */
export const JSONRPC_SERVER_ERROR = JSONRPC.serverError;
export const JSONRPC_SESSION_NOT_FOUND = -32001;
export const JSONRPC_PARSE_ERROR = JSONRPC.parseError;
export const JSONRPC_INVALID_REQUEST = JSONRPC.invalidRequest;

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

/**
 * The challenge with an OAuth error body, at the error table's status: 401 without a token or with a
 * bad one (invalid_token), 403 for insufficient_scope (RFC 6750 §3.1).
 */
export function bearerRefusal(c: Challenge): Response {
  const status = c.error ? ERROR_TABLE[c.error].status : ERROR_TABLE.invalid_token.status;
  const body = c.error
    ? { error: c.error, ...(c.description ? { error_description: challengeText(c.description) } : {}) }
    : { error: 'unauthorized', error_description: 'a bearer token is required' };
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', 'WWW-Authenticate': bearerChallenge(c) },
  });
}

/**
 * A GatewayError as the /mcp front door refuses with it: the error table's status and JSON-RPC code,
 * its Retry-After, and the message (which says what to fix). Only codes whose message is meant for
 * the caller are shown; anything else (internal) is a bare 500.
 */
export function jsonRpcRefusal(err: GatewayError, headers: Record<string, string> = {}): Response {
  const spec = ERROR_TABLE[err.code];
  if (!spec.surfaces.includes('jsonrpc')) return jsonRpcRefusal(new GatewayError('internal', err.message), headers);
  const retry = retryAfterOf(err);
  return jsonRpcError(spec.status, spec.jsonRpc, spec.shown ?? err.message, { ...(retry === undefined ? {} : { 'Retry-After': String(retry) }), ...headers });
}
