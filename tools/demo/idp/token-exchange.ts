import { decodeProtectedHeader, jwtVerify, SignJWT, errors } from 'jose';
import { randomToken, type IdpContext } from './context.js';
import { OAuthError, requireParam, splitScope, tokenResponse } from '../oauth.js';

/**
 * RFC 8693 token exchange for an Identity Assertion JWT Authorization Grant
 * (draft-ietf-oauth-identity-assertion-authz-grant §4.3 "Token Exchange").
 */

export const TOKEN_TYPE_ID_JAG = 'urn:ietf:params:oauth:token-type:id-jag';
export const TOKEN_TYPE_ID_TOKEN = 'urn:ietf:params:oauth:token-type:id_token';
export const TOKEN_TYPE_REFRESH_TOKEN = 'urn:ietf:params:oauth:token-type:refresh_token';
export const ID_JAG_TTL = 300;

interface Subject {
  username: string;
  sid: string;
}

/** The draft: the IdP MUST validate the subject token and that its audience is the authenticated client. */
async function validateSubjectToken(ctx: IdpContext, clientId: string, token: string, type: string): Promise<Subject> {
  if (type === TOKEN_TYPE_REFRESH_TOKEN) {
    const rt = ctx.refreshTokens.get(token);
    if (!rt) throw new OAuthError('invalid_grant', 'subject_token is not a valid refresh token');
    if (rt.clientId !== clientId) throw new OAuthError('invalid_grant', 'subject_token was issued to another client');
    return { username: rt.username, sid: rt.sid };
  }
  if (type !== TOKEN_TYPE_ID_TOKEN) {
    throw new OAuthError('invalid_request', `unsupported subject_token_type; use ${TOKEN_TYPE_ID_TOKEN} or ${TOKEN_TYPE_REFRESH_TOKEN}`);
  }
  let payload;
  try {
    if (decodeProtectedHeader(token).typ === 'oauth-id-jag+jwt') throw new Error('an ID-JAG is not an ID token');
    ({ payload } = await jwtVerify(token, ctx.verifyKey, {
      issuer: ctx.issuer,
      algorithms: ['ES256'],
      requiredClaims: ['sub', 'aud', 'exp', 'iat'],
    }));
  } catch (e) {
    const why = e instanceof errors.JWTExpired ? 'subject_token is expired' : `subject_token is not a valid ID token of this IdP (${(e as Error).message})`;
    throw new OAuthError('invalid_grant', why);
  }
  const aud = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
  if (aud.length !== 1 || aud[0] !== clientId) throw new OAuthError('invalid_grant', 'subject_token was issued to another client');
  const user = ctx.state.userBySub(payload.sub!);
  if (!user || typeof payload.sid !== 'string') throw new OAuthError('invalid_grant', 'subject_token names no known session');
  return { username: user.username, sid: payload.sid };
}

export async function tokenExchangeGrant(ctx: IdpContext, clientId: string, form: URLSearchParams): Promise<Response> {
  ctx.state.stats.tokenExchanges += 1;
  if (requireParam(form, 'requested_token_type') !== TOKEN_TYPE_ID_JAG) {
    throw new OAuthError('invalid_request', `requested_token_type must be ${TOKEN_TYPE_ID_JAG}`);
  }
  if (form.has('actor_token')) throw new OAuthError('invalid_request', 'actor_token is not used by this profile');
  const subject = await validateSubjectToken(ctx, clientId, requireParam(form, 'subject_token'), requireParam(form, 'subject_token_type'));
  if (!ctx.state.sessionActive(subject.sid)) throw new OAuthError('invalid_grant', 'the session of subject_token was revoked');
  const user = ctx.state.users.get(subject.username)!;
  if (!user.active) throw new OAuthError('invalid_grant', 'user account is inactive');

  // audience = the resource AS issuer (RFC 8414 §2), resource = one of its resources (RFC 8707).
  const audience = requireParam(form, 'audience');
  const app = ctx.apps.find((a) => a.issuer === audience);
  if (!app) throw new OAuthError('invalid_target', `unknown audience "${audience}"`);
  const resource = form.get('resource');
  if (resource !== null && !app.resources.includes(resource)) {
    throw new OAuthError('invalid_target', `resource "${resource}" does not belong to ${audience}`);
  }
  const requested = form.has('scope') ? splitScope(form.get('scope')) : [...app.scopes];
  const unknown = requested.filter((s) => !app.scopes.includes(s));
  if (unknown.length) throw new OAuthError('invalid_scope', `scopes not defined by ${app.name}: ${unknown.join(' ')}`);

  // Administrator policy (the draft's processing rules): the user is assigned to the app and the
  // client -> app connection is enabled. The draft defers the code to RFC 6749 §5.2; we use
  // access_denied so a policy refusal is told apart from a bad grant.
  if (!user.apps.includes(app.name)) throw new OAuthError('access_denied', `user is not assigned to ${app.name}`);
  if (!ctx.state.connectionEnabled(clientId, app.name)) {
    throw new OAuthError('access_denied', `the connection ${clientId} -> ${app.name} is disabled by the administrator`);
  }

  const now = Math.floor(Date.now() / 1000);
  const idJag = await new SignJWT({
    // The demo registers the gateway under the same client id at the IdP and at every app
    // (the draft's §"Cross-Domain Client ID Handling" mapping is the identity here).
    client_id: clientId,
    ...(resource ? { resource } : {}),
    scope: requested.join(' '),
    email: user.email,
  })
    .setProtectedHeader({ alg: 'ES256', kid: ctx.kid, typ: 'oauth-id-jag+jwt' })
    .setIssuer(ctx.issuer)
    .setSubject(user.sub)
    .setAudience(app.issuer)
    .setJti(randomToken(16))
    .setIssuedAt(now)
    .setExpirationTime(now + ID_JAG_TTL)
    .sign(ctx.signingKey);
  return tokenResponse({
    access_token: idJag,
    issued_token_type: TOKEN_TYPE_ID_JAG,
    token_type: 'N_A',
    expires_in: ID_JAG_TTL,
    scope: requested.join(' '),
  });
}
