import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { GatewayError } from '../errors.js';

/**
 * What the user can do about it, by error: shown to the agent (and so to the user) with the error.
 * `signIn` is the transport's way to sign in again: `xaa-gateway login` is the stdio hint; remote
 * (HTTP) users reconnect their MCP client instead.
 */
function hint(err: GatewayError, signIn: string): string | undefined {
  switch (err.oauthError ?? err.code) {
    case 'access_denied':
      return 'The enterprise IdP does not allow this app for you or this connection is disabled; ask your IdP admin for access.';
    case 'invalid_grant':
      return err.code === 'token_exchange_failed' ? `Your sign-in is no longer accepted by the IdP; ${signIn}.` : undefined;
    case 'invalid_target':
      return 'The IdP does not know this resource; check `resources` in mcp.config.json.';
    case 'step_up_required':
    case 'insufficient_user_authentication':
      return `The IdP requires a stronger sign-in; ${signIn}.`;
    case 'idp_unreachable':
      return 'Nothing was sent to the SaaS; try again when the IdP is reachable.';
    case 'audit_unavailable':
      return 'The call was refused because it could not be recorded (fail closed); the gateway operator must fix the audit directory.';
    default:
      return undefined;
  }
}

/** A failed tool call as MCP reports it (`isError: true`), so the agent sees what happened and why. */
export function toolErrorResult(err: GatewayError, signIn = 'sign in again'): CallToolResult {
  const extra = hint(err, signIn);
  return {
    isError: true,
    content: [{ type: 'text', text: `[${err.code}] ${err.message}${extra ? `\n${extra}` : ''}` }],
  };
}
