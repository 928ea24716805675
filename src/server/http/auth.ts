import type { MiddlewareHandler } from 'hono';
import { isGatewayError, toGatewayError } from '../../errors.js';
import { GATEWAY_SCOPE, SUPPORTED_SCOPES } from '../../inbound/http/as/index.js';
import type { AccessTokenService } from '../../inbound/http/tokens.js';
import type { GatewayAccessTokenClaims } from '../../inbound/http/types.js';
import type { Logger } from '../../log.js';
import { bearerRefusal, jsonRpcRefusal } from './errors.js';
import type { GatewayUrls } from './urls.js';

/** Scopes a token must carry to use /mcp. The set the gateway knows is SUPPORTED_SCOPES (the AS's scopes.ts). */
export const MCP_REQUIRED_SCOPES: readonly string[] = [GATEWAY_SCOPE];
export { SUPPORTED_SCOPES };

export interface VerifiedBearer {
  token: string;
  claims: GatewayAccessTokenClaims;
  scopes: string[];
}

export type BearerEnv = { Variables: { bearer: VerifiedBearer } };

/** RFC 6750 §2.1: `Bearer` 1*SP b64token, and nothing else (no second token, no other scheme). */
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

/**
 * The protected resource's front door (MCP authorization; RFC 6750; RFC 9728 §5.1): no token ->
 * 401 with resource_metadata and scope; a token that does not verify (signature, alg, kid, iss,
 * aud = this resource only, exp/nbf, revoked jti, signed-out session) -> 401 invalid_token; a token
 * without the required scope -> 403 insufficient_scope. A refused request reaches nothing behind it.
 */
export function bearerAuth(opts: { tokens: AccessTokenService; urls: () => GatewayUrls; logger: Logger }): MiddlewareHandler<BearerEnv> {
  return async (c, next) => {
    const resourceMetadata = opts.urls().resourceMetadata;
    const header = c.req.header('Authorization');
    if (header === undefined) return bearerRefusal({ resourceMetadata, scopes: MCP_REQUIRED_SCOPES });
    const invalid = (description: string) => bearerRefusal({ resourceMetadata, scopes: MCP_REQUIRED_SCOPES, error: 'invalid_token', description });
    const m = BEARER.exec(header);
    if (!m) return invalid('malformed Authorization header; expected "Bearer <token>"');
    const token = m[1]!;
    let claims: GatewayAccessTokenClaims;
    try {
      claims = await opts.tokens.verify(token);
    } catch (e) {
      if (isGatewayError(e, 'invalid_token')) return invalid(e.message);
      // Not a verdict on the token: the store (revocations, sessions) could not be asked.
      const err = toGatewayError(e, 'store_unavailable');
      opts.logger.error('bearer token could not be checked', { error: err.message, code: err.code });
      return jsonRpcRefusal(err);
    }
    const scopes = (claims.scope ?? '').split(' ').filter(Boolean);
    const missing = MCP_REQUIRED_SCOPES.filter((s) => !scopes.includes(s));
    if (missing.length) {
      return bearerRefusal({
        resourceMetadata,
        scopes: MCP_REQUIRED_SCOPES,
        error: 'insufficient_scope',
        description: `this token lacks the scope ${missing.join(' ')}; authorize again with scope "${MCP_REQUIRED_SCOPES.join(' ')}"`,
      });
    }
    c.set('bearer', { token, claims, scopes });
    await next();
  };
}
