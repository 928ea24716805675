import { decodeProtectedHeader, jwtVerify, errors } from 'jose';
import { chainedExchangeGrant } from './chained-exchange.js';
import type { IdpContext } from './context.js';
import { userMayUseGateway } from './gateways.js';
import {
  ID_JAG_TTL,
  ID_JAG_TYP,
  requestedResource,
  requestedScopes,
  signIdJag,
  TOKEN_TYPE_ID_JAG,
  TOKEN_TYPE_ID_TOKEN,
  TOKEN_TYPE_REFRESH_TOKEN,
} from './id-jag.js';
import { OAuthError, requireParam, tokenResponse } from '../oauth.js';
import type { DemoUser } from '../seed.js';

/**
 * RFC 8693 token exchange for an Identity Assertion JWT Authorization Grant
 * (draft-ietf-oauth-identity-assertion-authz-grant §4.3 "Token Exchange"). The audience is an app's
 * AS or a trusted gateway's AS (draft-parecki-oauth-identity-assertion-gateways); an ID-JAG as subject
 * token is the chained exchange of that draft (chained-exchange.ts).
 */

export { ID_JAG_TTL, TOKEN_TYPE_ID_JAG, TOKEN_TYPE_ID_TOKEN, TOKEN_TYPE_REFRESH_TOKEN } from './id-jag.js';

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
    throw new OAuthError(
      'invalid_request',
      `unsupported subject_token_type; use ${TOKEN_TYPE_ID_TOKEN}, ${TOKEN_TYPE_REFRESH_TOKEN} or (chained exchange) ${TOKEN_TYPE_ID_JAG}`,
    );
  }
  let payload;
  try {
    if (decodeProtectedHeader(token).typ === ID_JAG_TYP) throw new Error('an ID-JAG is not an ID token');
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

interface Grant {
  resource: string | null;
  scopes: string[];
}

/**
 * Administrator policy for an app (the draft's processing rules): the user is assigned to the app and
 * the client -> app connection is enabled. The draft defers the code to RFC 6749 §5.2; we use
 * access_denied so a policy refusal is told apart from a bad grant.
 */
function appGrant(ctx: IdpContext, clientId: string, user: DemoUser, audience: string, form: URLSearchParams): Grant | undefined {
  const app = ctx.apps.find((a) => a.issuer === audience);
  if (!app) return undefined;
  const resource = requestedResource(form, audience, app.resources);
  const scopes = requestedScopes(form, app.name, app.scopes);
  if (!user.apps.includes(app.name)) throw new OAuthError('access_denied', `user is not assigned to ${app.name}`);
  if (!ctx.state.connectionEnabled(clientId, app.name)) {
    throw new OAuthError('access_denied', `the connection ${clientId} -> ${app.name} is disabled by the administrator`);
  }
  return { resource, scopes };
}

/**
 * An ID-JAG for a gateway's authorization server (draft-parecki-oauth-identity-assertion-gateways):
 * any active user (gateways.ts userMayUseGateway), to a client whose connection -> gateway is enabled.
 */
function gatewayGrant(ctx: IdpContext, clientId: string, user: DemoUser, audience: string, form: URLSearchParams): Grant | undefined {
  const gateway = ctx.gateways.get(audience);
  if (!gateway) return undefined;
  const resource = requestedResource(form, audience, [gateway.resource]);
  const scopes = requestedScopes(form, `the gateway ${audience}`, gateway.scopes);
  if (!userMayUseGateway(user)) throw new OAuthError('access_denied', 'user may not use the gateway');
  if (!ctx.state.gatewayConnectionEnabled(clientId)) {
    throw new OAuthError('access_denied', `the connection ${clientId} -> gateway is disabled by the administrator`);
  }
  return { resource, scopes };
}

export async function tokenExchangeGrant(ctx: IdpContext, clientId: string, form: URLSearchParams): Promise<Response> {
  ctx.state.stats.tokenExchanges += 1;
  if (requireParam(form, 'requested_token_type') !== TOKEN_TYPE_ID_JAG) {
    throw new OAuthError('invalid_request', `requested_token_type must be ${TOKEN_TYPE_ID_JAG}`);
  }
  if (form.has('actor_token')) throw new OAuthError('invalid_request', 'actor_token is not used by this profile');
  const subjectTokenType = requireParam(form, 'subject_token_type');
  if (subjectTokenType === TOKEN_TYPE_ID_JAG) return chainedExchangeGrant(ctx, clientId, form);
  const subject = await validateSubjectToken(ctx, clientId, requireParam(form, 'subject_token'), subjectTokenType);
  if (!ctx.state.sessionActive(subject.sid)) throw new OAuthError('invalid_grant', 'the session of subject_token was revoked');
  const user = ctx.state.users.get(subject.username)!;
  if (!user.active) throw new OAuthError('invalid_grant', 'user account is inactive');

  // audience = the resource AS issuer (RFC 8414 §2), resource = one of its resources (RFC 8707).
  const audience = requireParam(form, 'audience');
  const grant = appGrant(ctx, clientId, user, audience, form) ?? gatewayGrant(ctx, clientId, user, audience, form);
  if (!grant) throw new OAuthError('invalid_target', `unknown audience "${audience}"`);

  const now = Math.floor(Date.now() / 1000);
  const idJag = await signIdJag(ctx, {
    sub: user.sub,
    aud: audience,
    clientId,
    resource: grant.resource,
    scope: grant.scopes,
    email: user.email,
    iat: now,
    exp: now + ID_JAG_TTL,
  });
  return tokenResponse({
    access_token: idJag,
    issued_token_type: TOKEN_TYPE_ID_JAG,
    token_type: 'N_A',
    expires_in: ID_JAG_TTL,
    scope: grant.scopes.join(' '),
  });
}
