import { SignJWT } from 'jose';
import { randomToken, type IdpContext } from './context.js';
import { OAuthError, splitScope } from '../oauth.js';

/** The ID-JAG itself (draft-ietf-oauth-identity-assertion-authz-grant §3) and what every exchange shares. */

export const TOKEN_TYPE_ID_JAG = 'urn:ietf:params:oauth:token-type:id-jag';
export const TOKEN_TYPE_ID_TOKEN = 'urn:ietf:params:oauth:token-type:id_token';
export const TOKEN_TYPE_REFRESH_TOKEN = 'urn:ietf:params:oauth:token-type:refresh_token';
export const ID_JAG_TYP = 'oauth-id-jag+jwt';
export const ID_JAG_TTL = 300;

/** RFC 8693 §4.1: the current actor, and nested in it the one before. */
export interface ActClaim {
  sub: string;
  act?: ActClaim;
}

export interface IdJagClaims {
  sub: string;
  /** The audience: the authorization server's issuer (RFC 8414 §2). */
  aud: string;
  /**
   * The client's id at that AS. The demo registers each client under the same id at the IdP and at
   * the AS (the draft's §"Cross-Domain Client ID Handling" mapping is the identity here).
   */
  clientId: string;
  scope: readonly string[];
  resource?: string | null;
  email?: string;
  act?: ActClaim;
  /** Seconds since the epoch. */
  iat: number;
  exp: number;
}

export function signIdJag(ctx: IdpContext, c: IdJagClaims): Promise<string> {
  return new SignJWT({
    client_id: c.clientId,
    ...(c.resource ? { resource: c.resource } : {}),
    scope: c.scope.join(' '),
    ...(c.email ? { email: c.email } : {}),
    ...(c.act ? { act: c.act } : {}),
  })
    .setProtectedHeader({ alg: 'ES256', kid: ctx.kid, typ: ID_JAG_TYP })
    .setIssuer(ctx.issuer)
    .setSubject(c.sub)
    .setAudience(c.aud)
    .setJti(randomToken(16))
    .setIssuedAt(c.iat)
    .setExpirationTime(c.exp)
    .sign(ctx.signingKey);
}

/** RFC 8707: the `resource` asked for, which must be one of the audience's; null when none was asked. */
export function requestedResource(form: URLSearchParams, audience: string, resources: readonly string[]): string | null {
  const resource = form.get('resource');
  if (resource !== null && !resources.includes(resource)) {
    throw new OAuthError('invalid_target', `resource "${resource}" does not belong to ${audience}`);
  }
  return resource;
}

/** The scopes asked for (all the audience defines when none were), each defined by the audience. */
export function requestedScopes(form: URLSearchParams, name: string, defined: readonly string[]): string[] {
  const requested = form.has('scope') ? splitScope(form.get('scope')) : [...defined];
  const unknown = requested.filter((s) => !defined.includes(s));
  if (unknown.length) throw new OAuthError('invalid_scope', `scopes not defined by ${name}: ${unknown.join(' ')}`);
  return requested;
}
