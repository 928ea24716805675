/**
 * The one error type of the gateway. Every failure carries a code from a closed set, and one table
 * (ERROR_TABLE below) says how each code reads on every surface it can reach: an MCP tool error
 * (src/gateway/tool-error.ts), a JSON-RPC refusal at /mcp (src/server/http/errors.ts), the admin
 * API, the OAuth endpoints, a bearer challenge, the Shared Signals receiver, the SCIM receiver.
 * Messages must never contain a token, an ID-JAG or a secret: they reach users and logs.
 */
export const ERROR_CODES = [
  // configuration
  'config_invalid',
  'config_secret',
  // inbound identity
  'not_signed_in',
  'login_failed',
  // the XAA protocol
  'discovery_failed',
  'idp_unreachable',
  'token_exchange_failed',
  'jwt_bearer_failed',
  'invalid_token_response',
  'step_up_required',
  // tool calls
  'unknown_tool',
  'invalid_arguments',
  'policy_denied',
  'audit_unavailable',
  'downstream_unreachable',
  'downstream_timeout',
  'downstream_redirect',
  'downstream_too_large',
  'downstream_error',
  'downstream_unauthorized',
  'upstream_mcp_error',
  // the remote gateway (HTTP): its front door, protected resource and authorization server
  'invalid_token',
  'insufficient_scope',
  'oauth_request',
  'rate_limited',
  'forbidden_origin',
  'forbidden_host',
  'payload_too_large',
  'store_unavailable',
  'shutting_down',
  'overloaded',
  // admin control and security events
  'kill_switch',
  'admin_unauthorized',
  'admin_forbidden',
  'admin_conflict',
  'admin_not_found',
  'admin_invalid',
  'security_event_invalid',
  'security_event_busy',
  // the SCIM receiver (src/scim)
  'scim_invalid',
  'scim_unauthorized',
  'scim_not_found',
  'scim_conflict',
  'scim_precondition_failed',
  // anything else
  'internal',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** Where a GatewayError can be shown to someone. */
export type ErrorSurface =
  /** An MCP tool result with isError (the agent, and so the user, reads it). */
  | 'tool'
  /** A JSON-RPC error body at /mcp, before or instead of MCP (MCP Streamable HTTP transport). */
  | 'jsonrpc'
  /** A `WWW-Authenticate: Bearer` challenge with an OAuth error body (RFC 6750 §3). */
  | 'bearer'
  /** The gateway's authorization server: an OAuth error body (RFC 6749 §5.2, RFC 7591 §3.2.2). */
  | 'oauth'
  /** The admin API: `{ error: <code>, message }`. */
  | 'admin'
  /** The Shared Signals receiver: an RFC 8935 §2.3 error body, or no answer that acknowledges. */
  | 'ssf'
  /** The SCIM receiver: an RFC 7644 §3.12 error body (`scimType` from the error's details). */
  | 'scim'
  /** The command line: the message on stderr, a non-zero exit. */
  | 'cli';

export interface ErrorSpec {
  /** The HTTP status when this error is the gateway's answer to an HTTP request. */
  status: number;
  /** The JSON-RPC error code when it ends an MCP request as a protocol error (not a tool result). */
  jsonRpc: number;
  /**
   * The OAuth `error` value on the OAuth surfaces (authorization server, bearer challenge).
   * `oauth_request` carries its own (`GatewayError.oauthError`).
   */
  oauth?: string;
  /**
   * What HTTP surfaces show instead of the message, when the message is for the operator's log only
   * (it may name a database host or an internal state).
   */
  shown?: string;
  /** Retry-After (seconds) sent with it, unless the error carries `details.retryAfterSeconds`. */
  retryAfterSeconds?: number;
  /**
   * What the user can do about it, shown after the message in a tool error. `signIn` is the
   * transport's way to sign in again (`xaa-gateway login` on stdio; reconnecting over HTTP).
   */
  hint?: (err: GatewayError, signIn: string) => string | undefined;
  /** The command line's exit status: 2 for a config the operator must fix, 1 (the default) otherwise. */
  exit?: 2;
  /** Every surface this code can reach (the error-table test renders it on each). */
  surfaces: readonly ErrorSurface[];
}

/** JSON-RPC 2.0 §5.1 and the MCP transport's server-error range. */
export const JSONRPC = { parseError: -32700, invalidRequest: -32600, invalidParams: -32602, internalError: -32603, serverError: -32000 } as const;

const S = JSONRPC.serverError;
const TOOL_AND_CLI = ['tool', 'cli'] as const;

/** Hints of the token requests, by the OAuth error the IdP or authorization server answered. */
function tokenHint(err: GatewayError, signIn: string): string | undefined {
  switch (err.oauthError) {
    case 'access_denied':
      return 'The enterprise IdP does not allow this app for you or this connection is disabled; ask your IdP admin for access.';
    case 'invalid_grant':
      return err.code === 'token_exchange_failed' ? `Your sign-in is no longer accepted by the IdP; ${signIn}.` : undefined;
    case 'invalid_target':
      return 'The IdP does not know this resource; check `resources` in mcp.config.json.';
    case 'insufficient_user_authentication':
      return `The IdP requires a stronger sign-in; ${signIn}.`;
    default:
      return undefined;
  }
}

/**
 * Every code on every surface. Statuses: 4xx for what the caller can fix, 502/504 for a peer that
 * failed (IdP, authorization server, SaaS, upstream), 503 with Retry-After for what passes, 500 for
 * the gateway's own faults.
 */
export const ERROR_TABLE: { readonly [C in ErrorCode]: ErrorSpec } = {
  config_invalid: { status: 500, jsonRpc: JSONRPC.internalError, exit: 2, surfaces: ['cli'] },
  // A client key that cannot be imported surfaces when a token is minted for a call.
  config_secret: { status: 500, jsonRpc: JSONRPC.internalError, exit: 2, surfaces: ['tool', 'cli'] },
  not_signed_in: { status: 401, jsonRpc: S, surfaces: TOOL_AND_CLI },
  login_failed: { status: 401, jsonRpc: S, surfaces: ['cli'] },
  discovery_failed: { status: 502, jsonRpc: S, surfaces: TOOL_AND_CLI },
  idp_unreachable: { status: 502, jsonRpc: S, surfaces: TOOL_AND_CLI, hint: () => 'Nothing was sent to the SaaS; try again when the IdP is reachable.' },
  token_exchange_failed: { status: 502, jsonRpc: S, surfaces: TOOL_AND_CLI, hint: tokenHint },
  jwt_bearer_failed: { status: 502, jsonRpc: S, surfaces: ['tool'], hint: tokenHint },
  invalid_token_response: { status: 502, jsonRpc: S, surfaces: ['tool'] },
  step_up_required: { status: 403, jsonRpc: S, surfaces: ['tool'], hint: (_e, signIn) => `The IdP requires a stronger sign-in; ${signIn}.` },
  // Protocol errors in every revision (the transports answer -32602); invalid arguments are a tool error from 2025-11-25 on (SEP-1303).
  unknown_tool: { status: 400, jsonRpc: JSONRPC.invalidParams, surfaces: ['jsonrpc'] },
  invalid_arguments: { status: 400, jsonRpc: JSONRPC.invalidParams, surfaces: ['tool', 'jsonrpc'] },
  policy_denied: { status: 403, jsonRpc: S, surfaces: ['tool'] },
  audit_unavailable: {
    status: 503,
    jsonRpc: S,
    retryAfterSeconds: 5,
    surfaces: ['tool', 'admin', 'scim'],
    hint: () => 'The call was refused because it could not be recorded (fail closed); the gateway operator must fix the audit directory.',
  },
  downstream_unreachable: { status: 502, jsonRpc: S, surfaces: ['tool'] },
  downstream_timeout: { status: 504, jsonRpc: S, surfaces: ['tool'] },
  downstream_redirect: { status: 502, jsonRpc: S, surfaces: ['tool'] },
  downstream_too_large: { status: 502, jsonRpc: S, surfaces: ['tool'] },
  downstream_error: { status: 502, jsonRpc: S, surfaces: ['tool'] },
  downstream_unauthorized: { status: 502, jsonRpc: S, surfaces: ['tool'] },
  upstream_mcp_error: { status: 502, jsonRpc: S, surfaces: ['tool'] },
  invalid_token: { status: 401, jsonRpc: S, oauth: 'invalid_token', surfaces: ['bearer'] },
  insufficient_scope: { status: 403, jsonRpc: S, oauth: 'insufficient_scope', surfaces: ['bearer'] },
  oauth_request: { status: 400, jsonRpc: S, oauth: 'invalid_request', surfaces: ['oauth'] },
  rate_limited: { status: 429, jsonRpc: S, oauth: 'temporarily_unavailable', retryAfterSeconds: 60, surfaces: ['tool', 'oauth'] },
  forbidden_origin: { status: 403, jsonRpc: S, surfaces: ['jsonrpc'] },
  forbidden_host: { status: 403, jsonRpc: S, surfaces: ['jsonrpc'] },
  payload_too_large: { status: 413, jsonRpc: S, oauth: 'invalid_request', surfaces: ['jsonrpc', 'oauth', 'admin', 'scim'] },
  store_unavailable: {
    status: 503,
    jsonRpc: S,
    oauth: 'temporarily_unavailable',
    shown: 'Service unavailable: the gateway cannot reach its store; try again shortly',
    retryAfterSeconds: 5,
    surfaces: ['jsonrpc', 'oauth', 'admin', 'scim'],
  },
  shutting_down: { status: 503, jsonRpc: S, retryAfterSeconds: 5, surfaces: ['jsonrpc'] },
  // Admission control (docs/overload.md): the error carries the Retry-After the instance expects.
  overloaded: { status: 503, jsonRpc: S, retryAfterSeconds: 1, surfaces: ['jsonrpc'] },
  kill_switch: { status: 403, jsonRpc: S, surfaces: ['tool'] },
  admin_unauthorized: { status: 401, jsonRpc: S, surfaces: ['admin', 'cli'] },
  admin_forbidden: { status: 403, jsonRpc: S, surfaces: ['admin'] },
  admin_conflict: { status: 409, jsonRpc: S, surfaces: ['admin'] },
  admin_not_found: { status: 404, jsonRpc: S, surfaces: ['admin'] },
  admin_invalid: { status: 400, jsonRpc: S, surfaces: ['admin'] },
  security_event_invalid: { status: 400, jsonRpc: S, surfaces: ['ssf'] },
  // Any failure that is not a verdict on the SET: the transmitter delivers it again later (RFC 8935 §2.3).
  security_event_busy: { status: 503, jsonRpc: S, retryAfterSeconds: 30, surfaces: ['ssf'] },
  // RFC 7644 §3.12: the status, and a scimType (details.scimType) where the RFC defines one.
  scim_invalid: { status: 400, jsonRpc: S, surfaces: ['scim'] },
  scim_unauthorized: { status: 401, jsonRpc: S, surfaces: ['scim'] },
  scim_not_found: { status: 404, jsonRpc: S, surfaces: ['scim'] },
  scim_conflict: { status: 409, jsonRpc: S, surfaces: ['scim'] },
  scim_precondition_failed: { status: 412, jsonRpc: S, surfaces: ['scim'] },
  internal: {
    status: 500,
    jsonRpc: JSONRPC.internalError,
    oauth: 'server_error',
    shown: 'Internal error',
    surfaces: ['tool', 'jsonrpc', 'oauth', 'admin', 'scim', 'cli'],
  },
};

/** Retry-After of an error: its own `details.retryAfterSeconds`, else the table's; undefined when it has none. */
export function retryAfterOf(err: GatewayError): number | undefined {
  const own = err.details?.retryAfterSeconds;
  return typeof own === 'number' && Number.isFinite(own) ? Math.max(1, Math.ceil(own)) : ERROR_TABLE[err.code].retryAfterSeconds;
}

export interface GatewayErrorOptions {
  cause?: unknown;
  /** OAuth `error` value returned by an IdP or AS (RFC 6749 §5.2, RFC 8693 §2.2.2). */
  oauthError?: string;
  /** OAuth `error_description`, as sent by the server. */
  oauthErrorDescription?: string;
  /** HTTP status of the peer's response, when one was received. */
  status?: number;
  /** Extra, non-secret facts for logs and audit records. */
  details?: Record<string, unknown>;
}

export class GatewayError extends Error {
  override readonly name = 'GatewayError';
  readonly code: ErrorCode;
  readonly oauthError?: string;
  readonly oauthErrorDescription?: string;
  readonly status?: number;
  readonly details?: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: GatewayErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.oauthError = options.oauthError;
    this.oauthErrorDescription = options.oauthErrorDescription;
    this.status = options.status;
    this.details = options.details;
  }

  /** The error code recorded in audit records: the OAuth error when there is one. */
  get auditCode(): string {
    return this.oauthError ? `${this.code}:${this.oauthError}` : this.code;
  }
}

export function isGatewayError(e: unknown, code?: ErrorCode): e is GatewayError {
  return e instanceof GatewayError && (code === undefined || e.code === code);
}

/** Wrap anything thrown into a GatewayError without losing the original as `cause`. */
export function toGatewayError(e: unknown, fallback: ErrorCode = 'internal'): GatewayError {
  if (e instanceof GatewayError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new GatewayError(fallback, message, { cause: e });
}

/**
 * A request body over its limit (HTTP 413 on every surface): the one message, naming the limit and
 * the setting that raises it, if any.
 */
export function payloadTooLarge(maxBytes: number, setting: string | undefined = 'server.maxBodyBytes'): GatewayError {
  return new GatewayError('payload_too_large', `Payload too large: request bodies are limited to ${maxBytes} bytes${setting ? ` (${setting})` : ''}`, {
    details: { maxBytes },
  });
}

/**
 * How the command line ends on an error: a GatewayError's message (it names the field and the fix)
 * and the table's exit status; anything else with its stack, exit 1.
 */
export function cliFailure(e: unknown): { message: string; exitCode: 1 | 2 } {
  if (e instanceof GatewayError) return { message: `xaa-gateway: ${e.message}`, exitCode: ERROR_TABLE[e.code].exit ?? 1 };
  return { message: `xaa-gateway: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`, exitCode: 1 };
}
