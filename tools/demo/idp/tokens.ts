import { SignJWT } from 'jose';
import { createHash } from 'node:crypto';
import { randomToken, type IdpContext } from './context.js';
import { OAuthError, requireParam, safeEqual, tokenResponse } from '../oauth.js';

/** The OIDC grants of the IdP's token endpoint: authorization_code and refresh_token. */

const ID_TOKEN_TTL = 3600;
const ACCESS_TOKEN_TTL = 3600;

async function mintIdToken(
  ctx: IdpContext,
  o: { clientId: string; username: string; sid: string; authTime: number; nonce?: string | undefined },
): Promise<string> {
  const user = ctx.state.users.get(o.username)!;
  const now = Math.floor(Date.now() / 1000);
  // OIDC Core §2: iss, sub, aud, exp, iat (+ nonce when sent); `sid` ties the token to the IdP session.
  return new SignJWT({
    email: user.email,
    email_verified: true,
    name: user.name,
    preferred_username: user.username,
    // The gateway admits members of its admin group to /admin (admin.group, admin.groupsClaim).
    groups: [...user.groups],
    sid: o.sid,
    auth_time: o.authTime,
    ...(o.nonce ? { nonce: o.nonce } : {}),
  })
    .setProtectedHeader({ alg: 'ES256', kid: ctx.kid, typ: 'JWT' })
    .setIssuer(ctx.issuer)
    .setSubject(user.sub)
    .setAudience(o.clientId)
    .setIssuedAt(now)
    .setExpirationTime(now + ID_TOKEN_TTL)
    .setJti(randomToken(12))
    .sign(ctx.signingKey);
}

async function issueTokens(
  ctx: IdpContext,
  o: { clientId: string; username: string; sid: string; scope: string[]; authTime: number; nonce?: string | undefined },
): Promise<Record<string, unknown>> {
  const accessToken = randomToken();
  ctx.accessTokens.set(accessToken, { username: o.username, scope: o.scope, expiresAt: Date.now() + ACCESS_TOKEN_TTL * 1000 });
  const body: Record<string, unknown> = {
    access_token: accessToken,
    token_type: 'Bearer',
    expires_in: ACCESS_TOKEN_TTL,
    scope: o.scope.join(' '),
  };
  if (o.scope.includes('openid')) body.id_token = await mintIdToken(ctx, o);
  // OIDC Core §11: a refresh token only when offline_access was asked for.
  if (o.scope.includes('offline_access')) {
    const rt = randomToken();
    ctx.refreshTokens.set(rt, { clientId: o.clientId, username: o.username, sid: o.sid, scope: o.scope, authTime: o.authTime });
    body.refresh_token = rt;
  }
  return body;
}

export async function authorizationCodeGrant(ctx: IdpContext, clientId: string, form: URLSearchParams): Promise<Response> {
  const code = requireParam(form, 'code');
  const grant = ctx.codes.get(code);
  ctx.codes.delete(code); // single use, even when the request below fails
  if (!grant || grant.expiresAt < Date.now()) throw new OAuthError('invalid_grant', 'authorization code is invalid or expired');
  if (grant.clientId !== clientId) throw new OAuthError('invalid_grant', 'authorization code was issued to another client');
  if (form.get('redirect_uri') !== grant.redirectUri) throw new OAuthError('invalid_grant', 'redirect_uri differs from the authorization request');
  const verifier = requireParam(form, 'code_verifier');
  // RFC 7636 §4.6: BASE64URL(SHA256(code_verifier)) must equal the stored challenge.
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  if (!safeEqual(challenge, grant.codeChallenge)) throw new OAuthError('invalid_grant', 'PKCE verification failed');
  const user = ctx.state.users.get(grant.username);
  if (!user?.active) throw new OAuthError('invalid_grant', 'user account is inactive');
  return tokenResponse(await issueTokens(ctx, { ...grant, clientId }));
}

export async function refreshTokenGrant(ctx: IdpContext, clientId: string, form: URLSearchParams): Promise<Response> {
  const rt = requireParam(form, 'refresh_token');
  const grant = ctx.refreshTokens.get(rt);
  if (!grant || grant.clientId !== clientId) throw new OAuthError('invalid_grant', 'refresh token is invalid or was issued to another client');
  if (!ctx.state.sessionActive(grant.sid)) throw new OAuthError('invalid_grant', 'the session of this refresh token was revoked');
  if (!ctx.state.users.get(grant.username)?.active) throw new OAuthError('invalid_grant', 'user account is inactive');
  // Rotation (OAuth 2.1 §4.3.1): the old refresh token dies when the new one is issued.
  ctx.refreshTokens.delete(rt);
  return tokenResponse(await issueTokens(ctx, { ...grant, clientId }));
}

/** RFC 7009: revoking an unknown token is not an error; another client's token is left alone. */
export function revokeToken(ctx: IdpContext, clientId: string, form: URLSearchParams): Response {
  const token = requireParam(form, 'token');
  const rt = ctx.refreshTokens.get(token);
  if (rt?.clientId === clientId) ctx.refreshTokens.delete(token);
  const at = ctx.accessTokens.get(token);
  if (at) ctx.accessTokens.delete(token);
  return new Response(null, { status: 200 });
}
