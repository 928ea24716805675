import { decodeJwt, decodeProtectedHeader, type JWTPayload } from 'jose';
import { GatewayError } from '../errors.js';
import { ID_JAG_JWT_TYPE } from './constants.js';

export interface IdJagExpectations {
  /** The IdP's issuer: the ID-JAG's `iss`. */
  issuer: string;
  /** The resource AS issuer that was requested as `audience`. */
  audience: string;
  /** The gateway's client id at that AS, when known: the ID-JAG's `client_id` must equal it. */
  expectedClientId?: string;
  /** Epoch ms. */
  now: number;
}

export interface IdJagClaims extends JWTPayload {
  jti: string;
  exp: number;
  client_id: string;
  scope?: string;
  resource?: string;
}

function invalid(claim: string, why: string): GatewayError {
  return new GatewayError('invalid_token_response', `The ID-JAG from the IdP is unusable: ${claim} ${why}`, {
    details: { claim },
  });
}

/**
 * Decode an ID-JAG without verifying it (the gateway is not its audience; the AS verifies the signature)
 * and check what the gateway relies on (draft-ietf-oauth-identity-assertion-authz-grant §3.1), so a wrong
 * grant fails here, with a clear reason, rather than at the AS. Messages name claims, never values that
 * could be secret.
 */
export function inspectIdJag(idJag: string, expect: IdJagExpectations): IdJagClaims {
  let header: ReturnType<typeof decodeProtectedHeader>;
  let claims: JWTPayload;
  try {
    header = decodeProtectedHeader(idJag);
    claims = decodeJwt(idJag);
  } catch {
    throw invalid('access_token', 'is not a JWT');
  }
  // RFC 7515 §4.1.9: typ is case-insensitive and may carry the "application/" prefix.
  const typ = typeof header.typ === 'string' ? header.typ.toLowerCase().replace(/^application\//, '') : undefined;
  if (typ !== ID_JAG_JWT_TYPE) throw invalid('typ', `must be "${ID_JAG_JWT_TYPE}" (got "${String(header.typ)}")`);
  if (claims.iss !== expect.issuer) throw invalid('iss', `must equal the IdP issuer ${expect.issuer}`);
  const aud = claims.aud;
  const audOk = aud === expect.audience || (Array.isArray(aud) && aud.length === 1 && aud[0] === expect.audience);
  if (!audOk) throw invalid('aud', `must equal the requested audience ${expect.audience}`);
  const clientId = claims['client_id'];
  if (typeof clientId !== 'string' || clientId === '') throw invalid('client_id', 'is missing');
  if (expect.expectedClientId !== undefined && clientId !== expect.expectedClientId) {
    throw invalid('client_id', `must equal the gateway's client id at ${expect.audience} ("${expect.expectedClientId}", got "${clientId}")`);
  }
  if (typeof claims.jti !== 'string' || claims.jti === '') throw invalid('jti', 'is missing');
  if (typeof claims.exp !== 'number') throw invalid('exp', 'is missing');
  if (claims.exp * 1000 <= expect.now) throw invalid('exp', 'is in the past');
  const scope = claims['scope'];
  if (scope !== undefined && typeof scope !== 'string') throw invalid('scope', 'must be a string');
  return claims as IdJagClaims;
}
