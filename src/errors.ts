/**
 * The one error type of the gateway. Every failure carries a code from a closed set, so each surface
 * can map it: an MCP tool error (src/gateway/tool-error.ts), a JSON-RPC error or an HTTP response.
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
  // the remote gateway (HTTP): its protected resource and authorization server
  'invalid_token',
  'insufficient_scope',
  'oauth_request',
  'rate_limited',
  'forbidden_origin',
  'payload_too_large',
  'store_unavailable',
  // admin control and security events
  'kill_switch',
  'admin_unauthorized',
  'admin_forbidden',
  'admin_conflict',
  'admin_not_found',
  'admin_invalid',
  'security_event_invalid',
  'security_event_busy',
  // anything else
  'internal',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

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
