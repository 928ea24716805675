import { errors, jwtVerify, type JWTPayload } from 'jose';
import type { IdpContext } from './context.js';
import { gatewayOperatedBy } from './gateways.js';
import { ID_JAG_TTL, ID_JAG_TYP, requestedResource, requestedScopes, signIdJag, TOKEN_TYPE_ID_JAG } from './id-jag.js';
import { OAuthError, requireParam, tokenResponse } from '../oauth.js';

/**
 * The Chained Identity Assertion Request (draft-parecki-oauth-identity-assertion-gateways §3.2):
 * a gateway presents, as subject_token, an ID-JAG this IdP issued for the gateway's own
 * authorization server, and gets an ID-JAG for an upstream app, with `act` naming itself and the
 * client the user signed in with. One hop only, never a refresh token, never outliving the subject.
 */

interface SubjectIdJag extends JWTPayload {
  sub: string;
  aud: string;
  exp: number;
  client_id: string;
}

/** §3.2 step 2: an ID-JAG this IdP issued: its signature with our key, typ, iss, exp. */
async function validateSubjectIdJag(ctx: IdpContext, token: string): Promise<SubjectIdJag> {
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, ctx.verifyKey, {
      issuer: ctx.issuer,
      typ: ID_JAG_TYP,
      algorithms: ['ES256'],
      requiredClaims: ['sub', 'aud', 'exp', 'iat', 'jti', 'client_id'],
    }));
  } catch (e) {
    throw new OAuthError('invalid_grant', subjectRefusal(e));
  }
  if (typeof payload.aud !== 'string') throw new OAuthError('invalid_grant', 'subject_token must name exactly one audience');
  if (typeof payload.client_id !== 'string') throw new OAuthError('invalid_grant', 'subject_token has no client_id');
  return payload as SubjectIdJag;
}

function subjectRefusal(e: unknown): string {
  if (e instanceof errors.JWTExpired) return 'subject_token is expired';
  if (e instanceof errors.JWSSignatureVerificationFailed) return "subject_token's signature does not verify with this IdP's key";
  if (e instanceof errors.JWTClaimValidationFailed && e.claim === 'typ') return `subject_token is not an ID-JAG (typ must be ${ID_JAG_TYP})`;
  if (e instanceof errors.JWTClaimValidationFailed && e.claim === 'iss') return 'subject_token was not issued by this IdP';
  return `subject_token is not a valid ID-JAG of this IdP (${(e as Error).message})`;
}

/** §Errors: an unknown audience and one not permitted look the same (no enumeration of the apps). */
const notPermitted = (clientId: string) => new OAuthError('invalid_target', `the audience is unknown or not permitted for ${clientId}`);

export async function chainedExchangeGrant(ctx: IdpContext, clientId: string, form: URLSearchParams): Promise<Response> {
  // §3.2 step 1: the token endpoint authenticated the client; it is the acting party (the gateway).
  // §3.2 step 2: the subject token is an ID-JAG of this IdP.
  const subject = await validateSubjectIdJag(ctx, requireParam(form, 'subject_token'));
  // §3.2 step 6: one hop only. Checked before step 3 because it is a property of the token alone.
  if (subject.act !== undefined) {
    throw new OAuthError('invalid_grant', 'subject_token already has an act claim: it was chained once, and may not be chained again');
  }
  // §3.2 step 3: the subject was issued to an authorization server this client operates.
  if (!gatewayOperatedBy(ctx, subject.aud, clientId)) {
    throw new OAuthError('invalid_grant', `subject_token was not issued to an authorization server operated by ${clientId}`);
  }
  const audience = requireParam(form, 'audience');
  // §3.2 step 5: no chaining back to an authorization server of the client itself (checked before
  // step 4, whose audience check would refuse it too, but without saying why).
  if (gatewayOperatedBy(ctx, audience, clientId)) {
    throw new OAuthError('invalid_target', `audience "${audience}" is an authorization server operated by ${clientId}: a gateway may not chain to itself`);
  }

  // §3.2 step 4, policy: for the subject (active, assigned to the app) ...
  const user = ctx.state.userBySub(subject.sub);
  if (!user) throw new OAuthError('invalid_grant', 'subject_token names no known user');
  if (!user.active) throw new OAuthError('invalid_grant', 'user account is inactive');
  // ... for the requested audience (the gateway's connection to that app) ...
  const app = ctx.apps.find((a) => a.issuer === audience);
  if (!app || !ctx.state.connectionEnabled(clientId, app.name)) throw notPermitted(clientId);
  if (!user.apps.includes(app.name)) throw new OAuthError('access_denied', `user is not assigned to ${app.name}`);
  // ... and for the original client (its connection to the gateway is still enabled).
  if (!ctx.state.gatewayConnectionEnabled(subject.client_id)) {
    throw new OAuthError('access_denied', `the connection ${subject.client_id} -> gateway is disabled by the administrator`);
  }
  const resource = requestedResource(form, audience, app.resources);
  const scopes = requestedScopes(form, app.name, app.scopes);

  // A chained ID-JAG never outlives its subject token. The subject is not single use here (no jti is
  // spent): the gateway presents it again for each upstream app while it is valid.
  const now = Math.floor(Date.now() / 1000);
  const exp = Math.min(now + ID_JAG_TTL, subject.exp);
  const idJag = await signIdJag(ctx, {
    sub: subject.sub,
    aud: audience,
    clientId,
    resource,
    scope: scopes,
    email: user.email,
    // RFC 8693 §4.1: the outer act is the current actor (the gateway), the nested one the client before it.
    act: { sub: clientId, act: { sub: subject.client_id } },
    iat: now,
    exp,
  });
  ctx.state.stats.chainedExchanges += 1;
  // No refresh_token, ever: the gateway asks again with the subject token, or the client brings a fresh one.
  return tokenResponse({
    access_token: idJag,
    issued_token_type: TOKEN_TYPE_ID_JAG,
    token_type: 'N_A',
    expires_in: exp - now,
    scope: scopes.join(' '),
  });
}
