import * as oauth from 'oauth4webapi';
import { GatewayError } from '../errors.js';
import { NetworkFailure, describeNetworkError, redact, withTimeout } from './http.js';

/** Which token endpoint answered: the IdP (step a, RFC 8693) or a resource AS (step b, RFC 7523). */
export interface TokenEndpointPeer {
  role: 'idp' | 'as';
  issuer: string;
  /** Values that must never appear in an error message even if the peer echoes them. */
  secrets: readonly (string | undefined)[];
  /** The request's time budget, named in the error when it ran out. */
  timeoutMs?: number;
}

function label(peer: TokenEndpointPeer): string {
  return peer.role === 'idp' ? `IdP ${peer.issuer}` : `authorization server ${peer.issuer}`;
}

function step(peer: TokenEndpointPeer): string {
  return peer.role === 'idp' ? 'Token exchange (RFC 8693)' : 'JWT bearer grant (RFC 7523)';
}

function failureCode(peer: TokenEndpointPeer) {
  return peer.role === 'idp' ? ('token_exchange_failed' as const) : ('jwt_bearer_failed' as const);
}

/** An OAuth error response (RFC 6749 §5.2, RFC 8693 §2.2.2). */
export function tokenEndpointError(peer: TokenEndpointPeer, error: string, description: string | undefined, status: number): GatewayError {
  const safeError = redact(error, peer.secrets);
  const safeDescription = description === undefined ? undefined : redact(description, peer.secrets);
  const what = `${safeError}${safeDescription ? ` (${safeDescription})` : ''}`;
  // draft-ietf-oauth-identity-assertion-authz-grant: the IdP asks for a stronger sign-in.
  const code = error === 'insufficient_user_authentication' ? 'step_up_required' : failureCode(peer);
  return new GatewayError(code, `${step(peer)} at ${label(peer)} failed: ${what}`, {
    oauthError: safeError,
    oauthErrorDescription: safeDescription,
    status,
  });
}

/** A failure before any response arrived (network) or while preparing the request (bad metadata). */
export function tokenRequestFailure(peer: TokenEndpointPeer, e: unknown): GatewayError {
  if (e instanceof GatewayError) return e;
  if (e instanceof NetworkFailure) {
    const reason = withTimeout(describeNetworkError(e.cause), peer.timeoutMs, peer.role === 'idp' ? 'idp.timeoutMs' : "the resource's timeoutMs");
    if (peer.role === 'idp') {
      return new GatewayError('idp_unreachable', `Could not reach the ${label(peer)} token endpoint: ${reason}`, {
        cause: e.cause,
      });
    }
    return new GatewayError('jwt_bearer_failed', `Could not reach the ${label(peer)} token endpoint: ${reason}`, {
      cause: e.cause,
    });
  }
  const message = e instanceof Error ? e.message : String(e);
  return new GatewayError(failureCode(peer), `${step(peer)} at ${label(peer)} could not be sent: ${redact(message, peer.secrets)}`);
}

/**
 * Map what oauth4webapi threw while processing a token response. Causes carrying the response body are
 * dropped on purpose: a body may hold a token.
 */
export async function tokenResponseFailure(peer: TokenEndpointPeer, response: Response, e: unknown): Promise<GatewayError> {
  if (e instanceof GatewayError) return e;
  if (e instanceof oauth.ResponseBodyError) {
    return tokenEndpointError(peer, e.error, e.error_description, e.status);
  }
  if (e instanceof oauth.WWWAuthenticateChallengeError) {
    // e.g. 401 invalid_client with `WWW-Authenticate: Basic`: the OAuth error is still in the body.
    const body = await readOAuthErrorBody(e.response);
    if (body) return tokenEndpointError(peer, body.error, body.error_description, e.status);
    return statusFailure(peer, e.status);
  }
  if (response.status !== 200) return statusFailure(peer, response.status);
  const message = e instanceof Error ? e.message : String(e);
  return new GatewayError('invalid_token_response', `${label(peer)} returned a malformed token response: ${redact(message, peer.secrets)}`, {
    status: response.status,
  });
}

async function readOAuthErrorBody(response: Response): Promise<{ error: string; error_description?: string } | undefined> {
  try {
    const json = (await response.json()) as { error?: unknown; error_description?: unknown };
    if (typeof json?.error === 'string' && json.error) {
      return {
        error: json.error,
        error_description: typeof json.error_description === 'string' ? json.error_description : undefined,
      };
    }
  } catch {
    // not JSON: fall through to the status mapping
  }
  return undefined;
}

/** A non-200 answer without an OAuth error body (an HTML error page, a proxy error...). */
function statusFailure(peer: TokenEndpointPeer, status: number): GatewayError {
  if (peer.role === 'idp' && (status === 502 || status === 503 || status === 504)) {
    return new GatewayError('idp_unreachable', `The ${label(peer)} is unavailable (HTTP ${status})`, { status });
  }
  return new GatewayError(failureCode(peer), `${step(peer)} at ${label(peer)} failed: HTTP ${status} without an OAuth error response`, { status });
}
