import { ERROR_TABLE, GatewayError, JSONRPC, retryAfterOf } from '../../errors.js';

/**
 * The one place that turns refusals at the HTTP front door into responses: OAuth bearer and DPoP
 * challenges (RFC 6750 §3, RFC 9449 §7.1, MCP authorization) and JSON-RPC error bodies for the
 * Streamable HTTP transport.
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

/** The authentication schemes /mcp takes: RFC 6750 bearer tokens and RFC 9449 DPoP-bound ones. */
export type AuthScheme = 'Bearer' | 'DPoP';

export interface Challenge {
  resourceMetadata: string;
  scopes: readonly string[];
  /** RFC 6750 §3.1, and RFC 9449 §7.1 (invalid_dpop_proof) and §9 (use_dpop_nonce). */
  error?: 'invalid_token' | 'insufficient_scope' | 'invalid_dpop_proof' | 'use_dpop_nonce';
  description?: string;
  /** One challenge per scheme, in this order (RFC 9110 §11.6.1); default Bearer only. */
  schemes?: readonly AuthScheme[];
  /** The DPoP challenge's `algs` (RFC 9449 §7.1): the proof algorithms accepted. */
  algs?: readonly string[];
  /** RFC 9449 §9: the nonce to put in the next proof, sent as `DPoP-Nonce`. */
  nonce?: string;
}

/** One scheme's challenge: its error (if any), RFC 9728 §5.1 resource_metadata and the MCP scope hint. */
function schemeChallenge(scheme: AuthScheme, c: Challenge): string {
  const params: string[] = [];
  if (c.error) params.push(`error="${c.error}"`);
  if (c.description) params.push(`error_description="${challengeText(c.description)}"`);
  if (scheme === 'DPoP' && c.algs?.length) params.push(`algs="${c.algs.join(' ')}"`);
  params.push(`resource_metadata="${c.resourceMetadata}"`);
  if (c.scopes.length) params.push(`scope="${c.scopes.join(' ')}"`);
  return `${scheme} ${params.join(', ')}`;
}

/** `WWW-Authenticate: Bearer ...` (RFC 6750 §3, RFC 9728 §5.1 resource_metadata, MCP scope hint). */
export function bearerChallenge(c: Challenge): string {
  return schemeChallenge('Bearer', c);
}

/**
 * The whole `WWW-Authenticate` value: one challenge per offered scheme, comma-separated in one field
 * (RFC 9110 §11.6.1), Bearer first so clients that read only the first challenge still find theirs.
 */
export function authChallenge(c: Challenge): string {
  return (c.schemes ?? ['Bearer']).map((s) => schemeChallenge(s, c)).join(', ');
}

/**
 * The challenge with an OAuth error body, at the error table's status: 401 without a token or with a
 * bad one (invalid_token, and the DPoP proof errors, RFC 9449 §7.1), 403 for insufficient_scope
 * (RFC 6750 §3.1).
 */
export function bearerRefusal(c: Challenge): Response {
  const status = c.error === 'insufficient_scope' ? ERROR_TABLE.insufficient_scope.status : ERROR_TABLE.invalid_token.status;
  const body = c.error
    ? { error: c.error, ...(c.description ? { error_description: challengeText(c.description) } : {}) }
    : {
        error: 'unauthorized',
        error_description: c.schemes?.includes('Bearer') === false ? 'a DPoP-bound access token is required' : 'a bearer token is required',
      };
  return new Response(JSON.stringify(body), {
    status,
    headers: {
      'Content-Type': 'application/json',
      'Cache-Control': 'no-store',
      'WWW-Authenticate': authChallenge(c),
      ...(c.nonce ? { 'DPoP-Nonce': c.nonce } : {}),
    },
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
