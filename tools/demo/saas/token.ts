import { decodeProtectedHeader, errors, jwtVerify, SignJWT, type JWTPayload } from 'jose';
import { randomBytes } from 'node:crypto';
import type { SaasContext } from './context.js';
import { tokenEndpointProof } from './dpop.js';
import { authenticateClient, OAuthError, readForm, requireParam, splitScope, tokenResponse } from '../oauth.js';

/**
 * The app AS token endpoint: only the JWT bearer grant (RFC 7523 §2.1) with an ID-JAG as the
 * assertion, validated per draft-ietf-oauth-identity-assertion-authz-grant §"Access Token Request"
 * "Processing Rules" (which include RFC 7521 §5.2 and RFC 7523 §3). With a DPoP proof (RFC 9449 §5)
 * the token is bound to the proof's key.
 */

export const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
export const ACCESS_TOKEN_TTL = 600;
const SKEW = 60;

export async function jwtBearerToken(ctx: SaasContext, req: Request): Promise<Response> {
  const form = await readForm(req);
  const binding = await tokenEndpointProof(ctx, req);
  const clientId = await authenticateClient(req, form, {
    lookup: ctx.lookupClient,
    assertionAudiences: [ctx.origin, `${ctx.origin}/token`],
    jtis: ctx.assertionJtis,
  });
  const grantType = requireParam(form, 'grant_type');
  if (grantType !== JWT_BEARER) throw new OAuthError('unsupported_grant_type', `only ${JWT_BEARER} is supported here`);
  ctx.state.stats.jwtBearerGrants[ctx.def.name] += 1;
  const claims = await validateIdJag(ctx, requireParam(form, 'assertion'), clientId);

  // The draft: the AS follows RFC 6749 §3.3; we grant requested ⊆ ID-JAG scope ∩ app scopes.
  const jagScope = splitScope(typeof claims.scope === 'string' ? claims.scope : '').filter((s) => ctx.def.scopes.includes(s));
  const requested = form.has('scope') ? splitScope(form.get('scope')) : jagScope;
  const notGranted = requested.filter((s) => !jagScope.includes(s));
  if (notGranted.length) throw new OAuthError('invalid_scope', `scope not granted by the ID-JAG: ${notGranted.join(' ')}`);
  if (!requested.length) throw new OAuthError('invalid_scope', 'no scope of this app is granted by the ID-JAG');

  const jagResources = claims.resource === undefined ? [] : ([] as unknown[]).concat(claims.resource);
  const resource = form.get('resource') ?? (jagResources[0] as string | undefined) ?? ctx.resources[0]!;
  if (!ctx.resources.includes(resource) || (jagResources.length && !jagResources.includes(resource))) {
    throw new OAuthError('invalid_target', `resource "${resource}" is not covered by this grant`);
  }

  const now = Math.floor(Date.now() / 1000);
  // RFC 9068 JWT access token, audience-restricted to the one resource (RFC 8707 §2).
  const accessToken = await new SignJWT({
    client_id: clientId,
    scope: requested.join(' '),
    ...(typeof claims.email === 'string' ? { email: claims.email } : {}),
    gen: ctx.state.accessTokenGeneration[ctx.def.name],
    // RFC 9449 §6.1: the key's thumbprint; the resource servers then want a proof by that key.
    ...(binding.jkt ? { cnf: { jkt: binding.jkt } } : {}),
  })
    .setProtectedHeader({ alg: 'ES256', kid: ctx.kid, typ: 'at+jwt' })
    .setIssuer(ctx.origin)
    .setSubject(claims.sub!)
    .setAudience(resource)
    .setIssuedAt(now)
    .setExpirationTime(now + ACCESS_TOKEN_TTL)
    .setJti(randomBytes(16).toString('base64url'))
    .sign(ctx.signingKey);
  // No refresh token: the client mints again through the IdP, which keeps control.
  return tokenResponse(
    { access_token: accessToken, token_type: binding.jkt ? 'DPoP' : 'Bearer', expires_in: ACCESS_TOKEN_TTL, scope: requested.join(' ') },
    binding.headers,
  );
}

async function validateIdJag(ctx: SaasContext, assertion: string, clientId: string): Promise<JWTPayload> {
  let typ: unknown;
  try {
    typ = decodeProtectedHeader(assertion).typ;
  } catch {
    throw new OAuthError('invalid_grant', 'assertion is not a JWT');
  }
  // RFC 8725 §3.11 explicit typing, required by the draft.
  if (typ !== 'oauth-id-jag+jwt') throw new OAuthError('invalid_grant', `assertion typ must be "oauth-id-jag+jwt", got "${String(typ)}"`);
  let keys;
  try {
    keys = await ctx.idpKeys();
  } catch (e) {
    throw new OAuthError('temporarily_unavailable', `cannot reach the trusted IdP: ${(e as Error).message}`, 503);
  }
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(assertion, keys, {
      issuer: ctx.idpIssuer,
      audience: ctx.origin,
      typ: 'oauth-id-jag+jwt',
      clockTolerance: SKEW,
      requiredClaims: ['sub', 'exp', 'iat', 'jti', 'client_id'],
    }));
  } catch (e) {
    throw new OAuthError('invalid_grant', describeJoseError(e));
  }
  if (payload.iat! > Date.now() / 1000 + SKEW) throw new OAuthError('invalid_grant', 'ID-JAG iat is in the future');
  if (payload.client_id !== clientId) {
    throw new OAuthError('invalid_grant', 'ID-JAG client_id does not match the authenticated client');
  }
  if (!ctx.grantJtis.use(payload.jti!, payload.exp!)) throw new OAuthError('invalid_grant', 'ID-JAG was already used (jti replay)');
  const resources = payload.resource === undefined ? [] : ([] as unknown[]).concat(payload.resource);
  const foreign = resources.filter((r) => typeof r !== 'string' || !ctx.resources.includes(r));
  if (foreign.length) throw new OAuthError('invalid_grant', `ID-JAG resource is not one of this app's: ${foreign.join(' ')}`);
  return payload;
}

function describeJoseError(e: unknown): string {
  if (e instanceof errors.JWTExpired) return 'ID-JAG is expired';
  if (e instanceof errors.JWTClaimValidationFailed) return `ID-JAG claim "${e.claim}" is invalid (${e.reason}): ${e.message}`;
  if (e instanceof errors.JWSSignatureVerificationFailed) return 'ID-JAG signature verification failed';
  if (e instanceof errors.JWKSNoMatchingKey) return 'ID-JAG is signed by a key the trusted IdP does not publish';
  return `ID-JAG rejected: ${(e as Error).message}`;
}
