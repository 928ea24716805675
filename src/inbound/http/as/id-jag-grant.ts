import { errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { ID_JAG_JWT_TYPE } from '../../../xaa/constants.js';
import type { IdpKeys } from './idp-keys.js';
import { isGatewayError } from '../../../errors.js';
import type { RegisteredClient } from '../../../store/types.js';
import type { AsContext } from './context.js';
import { oauthError } from './http.js';
import { GATEWAY_SCOPE, SUPPORTED_SCOPES } from './scopes.js';

/** draft-ietf-oauth-identity-assertion-authz-grant §7.2: listed in authorization_grant_profiles_supported. */
export const ID_JAG_GRANT_PROFILE = 'urn:ietf:params:oauth:grant-profile:id-jag';
/** Asymmetric JWS algorithms only (MCP EMA §7.4.1: an explicit allow-list, never `none` or HMAC). */
const ALGORITHMS = ['ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'EdDSA', 'Ed25519'];
const CLOCK_SKEW_S = 30;
/** A compact JWS longer than this is not an ID-JAG an IdP would issue (it is read before any check). */
const MAX_ASSERTION_CHARS = 16 * 1024;

export interface IdJagSignIn {
  /** The verified ID-JAG's claims. */
  claims: JWTPayload & { sub: string; jti: string; exp: number; iat: number; client_id: string };
  /** The gateway scopes granted: the request's ∩ the ID-JAG's ∩ what /mcp knows. */
  scopes: string[];
}

/**
 * Validates the `assertion` of a jwt-bearer request as an ID-JAG for this gateway
 * (draft-ietf-oauth-identity-assertion-authz-grant §4.4.1; MCP Enterprise-Managed Authorization §5.1,
 * §7.4): signed by the enterprise IdP (`iss` = idp.issuer, its JWKS), `typ` oauth-id-jag+jwt, `aud`
 * this authorization server only, `client_id` the authenticated client, `resource` (when present)
 * this gateway's /mcp, `exp`/`iat` in bounds, and `jti` never redeemed before on any instance
 * (replay: EMA §7.4.2 REQUIRED; draft-parecki-oauth-identity-assertion-gateways §4). Every refusal
 * is `invalid_grant` naming the claim; the assertion itself never appears in a message or a log.
 */
export async function verifyIdJagGrant(ctx: AsContext, keys: IdpKeys, client: RegisteredClient, form: URLSearchParams): Promise<IdJagSignIn> {
  // draft §4.4: the ID-JAG is issued for one client; a public client id is known to anyone, so
  // anyone holding a copy of the assertion could redeem it. Confidential clients only.
  if (client.tokenEndpointAuthMethod === 'none') {
    throw oauthError(
      'unauthorized_client',
      'the jwt-bearer grant (enterprise-managed sign-in) needs an authenticated client: register the client with a secret (server.clients[].clientSecret)',
    );
  }
  const assertion = form.get('assertion');
  if (!assertion) throw oauthError('invalid_request', 'assertion is required: the ID-JAG from the enterprise IdP (RFC 7523 §2.1)');
  if (assertion.length > MAX_ASSERTION_CHARS) throw oauthError('invalid_grant', `assertion is longer than ${MAX_ASSERTION_CHARS} characters`);
  const idpIssuer = ctx.runtime().config.idp.issuer;
  const limits = ctx.server().enterpriseManaged;
  const now = ctx.deps.now();

  let getKey: JWTVerifyGetKey;
  try {
    getKey = await keys.getKey();
  } catch (e) {
    if (isGatewayError(e, 'oauth_request')) throw e;
    throw oauthError('temporarily_unavailable', `the enterprise IdP ${idpIssuer} cannot be reached to verify the ID-JAG; try again shortly`, 503);
  }
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(assertion, getKey, {
      algorithms: ALGORITHMS,
      issuer: idpIssuer,
      audience: ctx.issuer(),
      typ: ID_JAG_JWT_TYPE,
      clockTolerance: CLOCK_SKEW_S,
      currentDate: new Date(now),
      requiredClaims: ['sub', 'jti', 'exp', 'iat', 'client_id'],
    }));
  } catch (e) {
    throw refusal(e, idpIssuer);
  }
  const claims = payload as IdJagSignIn['claims'];
  // draft §3.1: `aud` is the authorization server; a list naming others would let one assertion
  // serve several servers, each of which could redeem it first.
  if (Array.isArray(claims.aud) && claims.aud.length !== 1) throw invalidGrant('aud', 'must name this authorization server only');
  if (typeof claims.sub !== 'string' || !claims.sub) throw invalidGrant('sub', 'must be a non-empty string');
  if (typeof claims.jti !== 'string' || !claims.jti || claims.jti.length > 255) throw invalidGrant('jti', 'must be a non-empty string');
  if (claims.iat > now / 1000 + CLOCK_SKEW_S) throw invalidGrant('iat', 'is in the future');
  if (claims.exp - claims.iat > limits.maxAssertionLifetimeSeconds) {
    throw invalidGrant('exp', `is more than ${limits.maxAssertionLifetimeSeconds} s after iat (server.enterpriseManaged.maxAssertionLifetimeSeconds)`);
  }
  if (claims.client_id !== client.clientId) throw invalidGrant('client_id', `was issued to another client than "${client.clientId}"`);
  // MCP EMA §4.3: `resource`, when present, MUST be the MCP server's resource identifier.
  const resource = ctx.resource();
  if (claims['resource'] !== undefined && !sameResource(claims['resource'], resource)) throw invalidGrant('resource', `must be ${resource}`);
  const asked = form.get('resource');
  if (asked !== null && !sameResource(asked, resource)) throw oauthError('invalid_target', `resource must be ${resource}`);
  const scopes = grantedScopes(form.get('scope'), claims['scope']);

  // Last, after every check that does not spend the assertion: one redemption per (iss, jti), fleet-wide,
  // remembered for as long as jwtVerify above would still accept it (its exp plus the clock skew allowed).
  if (!(await ctx.store.redeemAssertion(idpIssuer, claims.jti, (claims.exp + CLOCK_SKEW_S) * 1000, now))) {
    throw oauthError('invalid_grant', 'this ID-JAG was already redeemed: ask the enterprise IdP for a fresh one (each is redeemed once)');
  }
  return { claims, scopes };
}

/**
 * MCP EMA §7.2.1: the access token's scopes are the intersection of the requested scopes and the
 * ID-JAG's; an ID-JAG without `scope` leaves the request (or the default) to decide. Scopes /mcp
 * does not know are dropped; nothing left is `invalid_scope`.
 */
function grantedScopes(requested: string | null, inAssertion: unknown): string[] {
  if (inAssertion !== undefined && typeof inAssertion !== 'string') throw invalidGrant('scope', 'must be a space-separated string');
  const split = (s: string) => s.split(' ').filter(Boolean);
  const fromIdp = inAssertion === undefined ? [...SUPPORTED_SCOPES] : split(inAssertion);
  const asked = requested === null ? fromIdp : split(requested);
  const granted = SUPPORTED_SCOPES.filter((s) => asked.includes(s) && fromIdp.includes(s));
  if (!granted.length) {
    throw oauthError(
      'invalid_scope',
      inAssertion === undefined || fromIdp.includes(GATEWAY_SCOPE)
        ? `scope must include ${GATEWAY_SCOPE}`
        : `the ID-JAG grants none of this gateway's scopes (${SUPPORTED_SCOPES.join(' ')})`,
    );
  }
  return granted;
}

function sameResource(value: unknown, resource: string): boolean {
  const strip = (s: string) => s.replace(/\/+$/, '');
  const one = Array.isArray(value) && value.length === 1 ? value[0] : value;
  return typeof one === 'string' && strip(one) === strip(resource);
}

function invalidGrant(claim: string, why: string) {
  return oauthError('invalid_grant', `the ID-JAG's "${claim}" ${why}`);
}

/** jose's refusals as `invalid_grant` with the reason; an IdP whose keys cannot be fetched is 503. */
function refusal(e: unknown, idpIssuer: string) {
  if (e instanceof joseErrors.JWTExpired) return invalidGrant('exp', 'has passed: the ID-JAG expired');
  if (e instanceof joseErrors.JWTClaimValidationFailed) {
    if (e.claim === 'iss') return invalidGrant('iss', `must be the enterprise IdP ${idpIssuer}`);
    if (e.claim === 'aud') return invalidGrant('aud', "must be this gateway's authorization server");
    if (e.claim === 'typ') return oauthError('invalid_grant', `the assertion is not an ID-JAG: its typ must be ${ID_JAG_JWT_TYPE}`);
    return invalidGrant(e.claim, e.reason === 'missing' ? 'is missing' : 'is not accepted');
  }
  if (e instanceof joseErrors.JWSSignatureVerificationFailed || e instanceof joseErrors.JWKSNoMatchingKey) {
    return oauthError('invalid_grant', `the ID-JAG is not signed by the enterprise IdP ${idpIssuer}`);
  }
  if (e instanceof joseErrors.JOSEAlgNotAllowed) return oauthError('invalid_grant', `the ID-JAG's alg is not accepted (${ALGORITHMS.join(', ')})`);
  if (e instanceof joseErrors.JWKSTimeout || e instanceof joseErrors.JWKSInvalid || e instanceof TypeError) {
    return oauthError('temporarily_unavailable', `the enterprise IdP's keys cannot be fetched right now; try again shortly`, 503);
  }
  return oauthError('invalid_grant', 'the assertion is not a well-formed signed JWT');
}
