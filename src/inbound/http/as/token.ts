import { createHash } from 'node:crypto';
import type { Context } from 'hono';
import { isGatewayError } from '../../../errors.js';
import type { RegisteredClient, UserSession } from '../../../store/types.js';
import type { AsContext } from './context.js';
import { allowsRefreshGrant } from './clients.js';
import { tokenRequestProof } from './dpop-proof.js';
import { jsonResponse, oauthError, oauthErrorResponse, randomToken, readForm, sha256 } from './http.js';
import { safeEqual } from '../../../security.js';
import { OFFLINE_ACCESS } from './scopes.js';
import { GRANT_TYPE_JWT_BEARER } from '../../../xaa/constants.js';
import { verifyIdJagGrant } from './id-jag-grant.js';

/**
 * POST /token (OAuth 2.1 §3.2): authorization_code with PKCE S256, refresh_token with rotation
 * (reuse of a rotated token revokes its family: OAuth 2.1 §4.3.1, RFC 9700 §4.14.2), and, when
 * server.enterpriseManaged is on, the jwt-bearer grant with an ID-JAG (id-jag-grant.ts). A request
 * with a DPoP proof gets a DPoP-bound access token (RFC 9449 §5, dpop-proof.ts).
 */
export async function token(ctx: AsContext, c: Context): Promise<Response> {
  try {
    const form = await readForm(c);
    await ctx.limits.consume('token', { address: ctx.address(c), clientId: clientIdOf(c, form) });
    const client = await ctx.clients.authenticate(c, form);
    const grantType = form.get('grant_type');
    if (grantType === null) throw oauthError('invalid_request', 'grant_type is required');
    const jwtBearer = ctx.server().enterpriseManaged.enabled && grantType === GRANT_TYPE_JWT_BEARER;
    if (grantType !== 'authorization_code' && grantType !== 'refresh_token' && !jwtBearer)
      throw oauthError('unsupported_grant_type', `supported grant types: ${supportedGrantTypes(ctx).join(', ')}`);
    // Before the code, refresh token or ID-JAG is touched: a refused proof, or a nonce challenge the
    // client answers by retrying, must not spend the single-use code or assertion, nor rotate the refresh token.
    const jkt = await tokenRequestProof(ctx, c, client);
    const response =
      grantType === 'authorization_code'
        ? await authorizationCodeGrant(ctx, client, form, jkt)
        : grantType === 'refresh_token'
          ? await refreshTokenGrant(ctx, client, form, jkt)
          : await idJagGrant(ctx, client, form, jkt);
    // RFC 9449 §8: a fresh nonce with each answer spares the client a use_dpop_nonce round trip later.
    if (ctx.dpop.policy().nonce) response.headers.set('DPoP-Nonce', ctx.dpop.nonce());
    return response;
  } catch (e) {
    return tokenEndpointError(ctx, c, e);
  }
}

export function tokenEndpointError(ctx: AsContext, c: Context, e: unknown): Response {
  if (!isGatewayError(e, 'oauth_request') && !isGatewayError(e, 'rate_limited')) ctx.logger.error('token endpoint failure', { error: e });
  const headers: Record<string, string> = {};
  // RFC 6749 §5.2: a client that tried HTTP Basic gets the matching challenge with invalid_client.
  if (isGatewayError(e, 'oauth_request') && e.oauthError === 'invalid_client' && c.req.header('authorization'))
    headers['WWW-Authenticate'] = 'Basic realm="xaa-gateway"';
  // RFC 9449 §8: the nonce to put in the next proof.
  if (isGatewayError(e, 'oauth_request') && e.oauthError === 'use_dpop_nonce') headers['DPoP-Nonce'] = ctx.dpop.nonce();
  return oauthErrorResponse(e, headers);
}

/** The client id a request claims, before authentication (rate limits only). */
export function clientIdOf(c: Context, form: URLSearchParams): string | undefined {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)/i.exec(c.req.header('authorization') ?? '');
  if (m) {
    const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
    return decoded.slice(0, Math.max(0, decoded.indexOf(':'))) || undefined;
  }
  return form.get('client_id') ?? undefined;
}

/** `jkt`: the key of the request's DPoP proof, when it carried one (RFC 9449 §5). */
async function authorizationCodeGrant(ctx: AsContext, client: RegisteredClient, form: URLSearchParams, jkt: string | undefined): Promise<Response> {
  const code = form.get('code');
  const verifier = form.get('code_verifier');
  const redirectUri = form.get('redirect_uri');
  if (!code) throw oauthError('invalid_request', 'code is required');
  if (!verifier) throw oauthError('invalid_request', 'code_verifier is required (PKCE)');
  if (!/^[A-Za-z0-9._~-]{43,128}$/.test(verifier)) throw oauthError('invalid_request', 'code_verifier must be 43-128 unreserved characters (RFC 7636 §4.1)');
  // Single use: consumed atomically before any check, so a replay finds nothing (RFC 6749 §4.1.2).
  const codeHash = sha256(code);
  const record = await ctx.store.consumeAuthorizationCode(codeHash, ctx.deps.now());
  if (!record) {
    // A second use means the code leaked (or the client is confused): revoke what the first use got,
    // i.e. end the sign-in it started, which refuses its access tokens and refresh family (OAuth 2.1 §4.1.3).
    const sid = await ctx.store.usedAuthorizationCodeSession(codeHash);
    if (sid) {
      const now = ctx.deps.now();
      await ctx.store.revokeUserSession(sid, now);
      await ctx.store.revokeRefreshTokensOf({ sessionId: sid }, now);
      ctx.logger.warn('authorization code replayed: the tokens issued from it are revoked', { clientId: client.clientId, sid });
      throw oauthError('invalid_grant', 'the authorization code was already used; the tokens issued from it are now revoked');
    }
    throw oauthError('invalid_grant', 'the authorization code is invalid, expired or already used');
  }
  if (record.clientId !== client.clientId) throw oauthError('invalid_grant', 'the authorization code was issued to another client');
  if (redirectUri !== null && redirectUri !== record.redirectUri)
    throw oauthError('invalid_grant', 'redirect_uri differs from the one of the authorization request');
  if (!safeEqual(createHash('sha256').update(verifier).digest('base64url'), record.codeChallenge)) {
    throw oauthError('invalid_grant', 'code_verifier does not match the code_challenge (PKCE)');
  }
  checkResource(form, record.resource);
  const session = await liveSession(ctx, record.sessionId);
  // SEP-2207: a refresh token when offline_access was granted or the client registered the grant (scopes.ts).
  // RFC 9449 §5: a public client's refresh tokens are bound to its DPoP key (a confidential client's
  // are already bound to its credentials). The binding is the family's, kept through rotation.
  const dpopJkt = jkt !== undefined && client.tokenEndpointAuthMethod === 'none' ? jkt : undefined;
  const refresh =
    record.scopes.includes(OFFLINE_ACCESS) || allowsRefreshGrant(client) ? { familyId: randomToken(16), ...(dpopJkt ? { dpopJkt } : {}) } : undefined;
  return issueTokens(ctx, client, session, record.scopes, record.resource, refresh, jkt);
}

async function refreshTokenGrant(ctx: AsContext, client: RegisteredClient, form: URLSearchParams, jkt: string | undefined): Promise<Response> {
  const presented = form.get('refresh_token');
  if (!presented) throw oauthError('invalid_request', 'refresh_token is required');
  const hash = sha256(presented);
  const current = await ctx.store.getRefreshToken(hash);
  // Bound to the client it was issued to (OAuth 2.1 §4.3.1): another client's attempt changes nothing.
  if (!current || current.clientId !== client.clientId) throw oauthError('invalid_grant', 'the refresh token is invalid');
  // RFC 9449 §5: a bound refresh token is refused without a proof of its key (and stays unspent).
  if (current.dpopJkt !== undefined && current.dpopJkt !== jkt) {
    throw oauthError(
      'invalid_dpop_proof',
      jkt === undefined
        ? 'the refresh token is bound to a DPoP key: send a DPoP proof signed with that key (RFC 9449 §5)'
        : 'the refresh token is bound to another DPoP key than the one that signed this proof (RFC 9449 §5)',
    );
  }
  const scopes = narrowScopes(form.get('scope'), current.scopes);
  checkResource(form, current.resource);
  const session = await liveSession(ctx, current.sessionId);
  const now = ctx.deps.now();
  const next = randomToken();
  const rotated = await ctx.store.rotateRefreshToken(
    hash,
    { tokenHash: sha256(next), scopes, resource: current.resource, createdAt: now, expiresAt: now + ctx.server().refreshTokenTtlSeconds * 1000 },
    now,
  );
  if (!rotated.ok) {
    if (rotated.reason === 'reused') {
      // The family is revoked by the store; its access tokens carry the session's sid, so ending the
      // session refuses them too (OAuth 2.1 §4.3.1: a reused refresh token means the grant leaked).
      await ctx.store.revokeUserSession(current.sessionId, now);
      ctx.logger.warn('refresh token reused: its family and its session are revoked', { clientId: client.clientId, sid: current.sessionId });
    }
    throw oauthError(
      'invalid_grant',
      rotated.reason === 'reused' ? 'the refresh token was already used; every token of its grant is now revoked' : `the refresh token is ${rotated.reason}`,
    );
  }
  return issueTokens(ctx, client, session, scopes, current.resource, { refreshToken: next }, jkt);
}

/** RFC 8414 grant_types_supported: what /token takes under the current config. */
export function supportedGrantTypes(ctx: AsContext): string[] {
  return ['authorization_code', 'refresh_token', ...(ctx.server().enterpriseManaged.enabled ? [GRANT_TYPE_JWT_BEARER] : [])];
}

/**
 * Enterprise-managed sign-in (MCP Enterprise-Managed Authorization, SEP-990): the ID-JAG the client
 * brought from the IdP becomes a gateway session holding it, so the user's tool calls get downstream
 * ID-JAGs by the chained exchange (draft-parecki-oauth-identity-assertion-gateways §3). §4 of that
 * draft: the access token never outlives the ID-JAG, no refresh token (it would), and the ID-JAG is
 * wiped when it expires (store.wipeExpiredAssertions) or the session ends.
 */
async function idJagGrant(ctx: AsContext, client: RegisteredClient, form: URLSearchParams, jkt: string | undefined): Promise<Response> {
  const { claims, scopes } = await verifyIdJagGrant(ctx, ctx.idpKeys, client, form);
  const str = (v: unknown) => (typeof v === 'string' && v ? v : undefined);
  const email = str(claims['email']);
  const name = str(claims['name']);
  const session = await ctx.store.createUserSession({
    iss: ctx.runtime().config.idp.issuer,
    sub: claims.sub,
    ...(email ? { email } : {}),
    ...(name ? { name } : {}),
    idToken: form.get('assertion')!,
    idTokenExpiresAt: claims.exp * 1000,
    subjectTokenType: 'id-jag',
  });
  ctx.logger.info('enterprise-managed sign-in', { clientId: client.clientId, sub: claims.sub, sid: session.id, idJagJti: claims.jti });
  return issueTokens(ctx, client, session, scopes, ctx.resource(), undefined, jkt, claims.exp);
}

/** RFC 8707 §2.2: a `resource` at the token endpoint must be the one the grant was for. */
function checkResource(form: URLSearchParams, granted: string): void {
  const resource = form.get('resource');
  if (resource !== null && resource.replace(/\/$/, '') !== granted.replace(/\/$/, '')) {
    throw oauthError('invalid_target', `resource must be ${granted}`);
  }
}

/** RFC 6749 §6: a refresh may ask for fewer scopes, never more. */
function narrowScopes(requested: string | null, granted: readonly string[]): string[] {
  if (requested === null) return [...granted];
  const asked = requested.split(' ').filter(Boolean);
  const extra = asked.filter((s) => !granted.includes(s));
  if (extra.length || !asked.length) throw oauthError('invalid_scope', `scope may only narrow the original grant (${granted.join(' ')})`);
  return asked;
}

async function liveSession(ctx: AsContext, sessionId: string): Promise<UserSession> {
  const session = await ctx.store.getUserSession(sessionId);
  if (!session || session.revokedAt) throw oauthError('invalid_grant', "the user's session has ended; sign in again");
  return session;
}

async function issueTokens(
  ctx: AsContext,
  client: RegisteredClient,
  session: UserSession,
  scopes: string[],
  resource: string,
  /** A new family (code grant, with its DPoP binding), the rotated token (refresh grant), or none (no refresh token for this grant). */
  refresh: { familyId: string; dpopJkt?: string } | { refreshToken: string } | undefined,
  /** The DPoP key the access token is bound to (`cnf.jkt`, RFC 9449 §6.1). */
  jkt: string | undefined,
  /** Epoch s the access token must not outlive (the ID-JAG's `exp`). */
  notAfter?: number,
): Promise<Response> {
  const scope = scopes.join(' ');
  const { token: accessToken, claims } = await ctx.tokens.issue(
    {
      sub: session.sub,
      idp_iss: session.iss,
      client_id: client.clientId,
      sid: session.id,
      scope,
      ...(jkt !== undefined ? { cnf: { jkt } } : {}),
    },
    notAfter !== undefined ? { notAfter } : {},
  );
  let refreshToken: string | undefined;
  if (refresh && 'familyId' in refresh) {
    refreshToken = randomToken();
    const now = ctx.deps.now();
    await ctx.store.saveRefreshToken({
      tokenHash: sha256(refreshToken),
      familyId: refresh.familyId,
      sessionId: session.id,
      clientId: client.clientId,
      scopes,
      resource,
      ...(refresh.dpopJkt ? { dpopJkt: refresh.dpopJkt } : {}),
      createdAt: now,
      expiresAt: now + ctx.server().refreshTokenTtlSeconds * 1000,
    });
  } else {
    refreshToken = refresh?.refreshToken;
  }
  ctx.logger.info('tokens issued', { clientId: client.clientId, sub: session.sub, sid: session.id, jti: claims.jti, dpop: jkt !== undefined });
  return jsonResponse({
    access_token: accessToken,
    // RFC 9449 §5.1: the token type tells the client which scheme /mcp expects.
    token_type: jkt !== undefined ? 'DPoP' : 'Bearer',
    expires_in: claims.exp - claims.iat,
    ...(refreshToken ? { refresh_token: refreshToken } : {}),
    scope,
  });
}
