import type { MiddlewareHandler } from 'hono';
import { isGatewayError, toGatewayError } from '../../errors.js';
import { GATEWAY_SCOPE, SUPPORTED_SCOPES } from '../../inbound/http/as/index.js';
import { DPOP_SIGNING_ALGS, type InboundDpop } from '../../inbound/http/dpop.js';
import type { AccessTokenService } from '../../inbound/http/tokens.js';
import type { GatewayAccessTokenClaims } from '../../inbound/http/types.js';
import type { Logger } from '../../log.js';
import { bearerRefusal, jsonRpcRefusal, type AuthScheme, type Challenge } from './errors.js';
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

/** RFC 6750 §2.1 and RFC 9449 §7.1: `Bearer` or `DPoP`, 1*SP, a b64token, and nothing else. */
const CREDENTIALS = /^(Bearer|DPoP) +([A-Za-z0-9\-._~+/]+=*) *$/i;

/**
 * The protected resource's front door (MCP authorization; RFC 6750; RFC 9449 §7; RFC 9728 §5.1):
 * no token -> 401 with resource_metadata and scope, offering Bearer and DPoP (DPoP alone when
 * server.dpop.required); a token that does not verify (signature, alg, kid, iss, aud = this resource
 * only, exp/nbf, revoked jti, signed-out session) -> 401 invalid_token; a DPoP-bound token (cnf.jkt)
 * must come as `DPoP <token>` with a proof of its key for this request, an unbound one as `Bearer`
 * (and not at all when DPoP is required) -> else 401 invalid_token, invalid_dpop_proof or
 * use_dpop_nonce; a token without the required scope -> 403 insufficient_scope. A refused request
 * reaches nothing behind it.
 */
export function bearerAuth(opts: { tokens: AccessTokenService; urls: () => GatewayUrls; logger: Logger; dpop: InboundDpop }): MiddlewareHandler<BearerEnv> {
  return async (c, next) => {
    const urls = opts.urls();
    const required = opts.dpop.policy().required;
    const base = { resourceMetadata: urls.resourceMetadata, scopes: MCP_REQUIRED_SCOPES, algs: DPOP_SIGNING_ALGS };
    // The challenge names the scheme the token needs: a client told "Bearer" about a bound token
    // would only try again the same way.
    const refuse = (scheme: AuthScheme, error: NonNullable<Challenge['error']>, description: string, nonce?: string) =>
      bearerRefusal({ ...base, schemes: [scheme], error, description, ...(nonce ? { nonce } : {}) });
    const header = c.req.header('Authorization');
    if (header === undefined) return bearerRefusal({ ...base, schemes: required ? ['DPoP'] : ['Bearer', 'DPoP'] });
    const m = CREDENTIALS.exec(header);
    if (!m) {
      const scheme: AuthScheme = required || /^dpop\b/i.test(header) ? 'DPoP' : 'Bearer';
      return refuse(scheme, 'invalid_token', `malformed Authorization header; expected "${scheme} <token>"`);
    }
    const scheme: AuthScheme = m[1]!.toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer';
    const token = m[2]!;
    let claims: GatewayAccessTokenClaims;
    try {
      claims = await opts.tokens.verify(token);
    } catch (e) {
      if (isGatewayError(e, 'invalid_token')) return refuse(scheme, 'invalid_token', e.message);
      // Not a verdict on the token: the store (revocations, sessions) could not be asked.
      const err = toGatewayError(e, 'store_unavailable');
      opts.logger.error('bearer token could not be checked', { error: err.message, code: err.code });
      return jsonRpcRefusal(err);
    }
    const jkt = claims.cnf?.jkt;
    if (jkt === undefined) {
      if (required)
        return refuse('DPoP', 'invalid_token', 'this gateway accepts only DPoP-bound access tokens (server.dpop.required): get a token with a DPoP proof');
      if (scheme === 'DPoP') return refuse('Bearer', 'invalid_token', 'this token is not DPoP-bound: send it as "Authorization: Bearer <token>"');
    } else {
      // RFC 9449 §7.2: a bound token sent as a bearer token is refused, else a thief needs no key.
      if (scheme === 'Bearer') return refuse('DPoP', 'invalid_token', 'this token is DPoP-bound: send it as "Authorization: DPoP <token>" with a DPoP proof');
      const proof = await opts.dpop.check({ header: c.req.header('DPoP') ?? null, method: c.req.method, url: urls.resource, accessToken: token, jkt });
      if (!proof.ok) return refuse('DPoP', proof.error, proof.description, proof.error === 'use_dpop_nonce' ? opts.dpop.nonce() : undefined);
    }
    const scopes = (claims.scope ?? '').split(' ').filter(Boolean);
    const missing = MCP_REQUIRED_SCOPES.filter((s) => !scopes.includes(s));
    if (missing.length) {
      return refuse(
        scheme,
        'insufficient_scope',
        `this token lacks the scope ${missing.join(' ')}; authorize again with scope "${MCP_REQUIRED_SCOPES.join(' ')}"`,
      );
    }
    c.set('bearer', { token, claims, scopes });
    await next();
  };
}
