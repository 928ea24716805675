import type { Context } from 'hono';
import type { AsContext } from './context.js';
import { NO_STORE, oauthError, readForm, sha256 } from './http.js';
import { clientIdOf, tokenEndpointError } from './token.js';

/**
 * POST /revoke (RFC 7009). A refresh token revokes its whole grant (its family and the access tokens
 * of the same sign-in); an access token (one of ours, issued to this client) is revoked by jti until
 * it would have expired. Unknown tokens and tokens of other clients get 200 and change nothing (§2.2).
 */
export async function revoke(ctx: AsContext, c: Context): Promise<Response> {
  try {
    const form = await readForm(c);
    await ctx.limits.consume('token', { address: ctx.address(c), clientId: clientIdOf(c, form) });
    const client = await ctx.clients.authenticate(c, form);
    const token = form.get('token');
    if (!token) throw oauthError('invalid_request', 'token is required');
    const hint = form.get('token_type_hint');
    const tryRefresh = async () => {
      const record = await ctx.store.getRefreshToken(sha256(token));
      if (!record || record.clientId !== client.clientId) return false;
      const now = ctx.deps.now();
      await ctx.store.revokeRefreshFamily(record.familyId, now);
      // RFC 7009 §2.1: revoking a refresh token SHOULD also invalidate the access tokens of the same
      // grant. A grant is one sign-in: idpCallback creates a gateway session per authorization request
      // and its single-use code starts the one refresh family of that session, so every access token
      // of the grant carries this `sid`; ending the session refuses them all at /mcp.
      await ctx.store.revokeUserSession(record.sessionId, now);
      ctx.logger.info('refresh token family and its session revoked', { clientId: client.clientId, sid: record.sessionId });
      return true;
    };
    const tryAccess = async () => {
      if (token.split('.').length !== 3) return false;
      const claims = await ctx.tokens.verify(token).catch(() => undefined);
      if (!claims || claims.client_id !== client.clientId) return false;
      // Remembered for as long as the token could still be accepted (exp plus the clock skew), not only until exp.
      await ctx.store.revokeAccessToken(claims.jti, ctx.tokens.acceptedUntil(claims));
      ctx.logger.info('access token revoked', { clientId: client.clientId, jti: claims.jti });
      return true;
    };
    // The hint only orders the search (RFC 7009 §2.1).
    if (hint === 'access_token') {
      if (!(await tryAccess())) await tryRefresh();
    } else if (!(await tryRefresh())) {
      await tryAccess();
    }
    return new Response(null, { status: 200, headers: NO_STORE });
  } catch (e) {
    return tokenEndpointError(ctx, c, e);
  }
}
