import { compactVerify, decodeJwt, decodeProtectedHeader, errors, type JWTVerifyGetKey, type ProtectedHeaderParameters } from 'jose';
import { isGatewayError } from '../errors.js';
import { SET_TYP } from './constants.js';
import { setError } from './errors.js';
import { subjectOf, type SubjectId } from './subject.js';

/**
 * Validation of one Security Event Token (RFC 8417) before anything is done with it. Each refusal
 * carries the RFC 8935 §2.4 code the transmitter is told:
 * - invalid_request: not a compact JWS, wrong `typ`, a missing or bad claim, not exactly one event
 * - invalid_issuer: `iss` is not the configured transmitter
 * - invalid_key: an unacceptable `alg`, or a `kid` the transmitter's JWKS does not have
 * - authentication_failed: the signature does not verify
 * - invalid_audience: `aud` does not name this receiver
 */

/** Asymmetric algorithms only: a SET is verified with the transmitter's public keys (RFC 8417 §5.1). */
export const SET_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];

export interface ValidateSetOptions {
  /** The configured transmitter issuer: `iss` must equal it exactly. */
  issuer: string;
  /** `aud` (a string or an array) must contain one of these. */
  audiences: readonly string[];
  /** Epoch ms. */
  now: number;
  skewSeconds: number;
  /** A SET whose `iat` is older than this is refused (and its `jti` need not be remembered longer). */
  maxAgeSeconds: number;
  getKey: JWTVerifyGetKey;
}

export interface VerifiedSet {
  iss: string;
  jti: string;
  /** Seconds since the epoch. */
  iat: number;
  aud: string[];
  eventType: string;
  event: Record<string, unknown>;
  subject: SubjectId;
  /** Optional RFC 8417 `txn`: ties SETs about one transaction. */
  txn?: string;
  header: ProtectedHeaderParameters;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export async function validateSet(jwt: string, opts: ValidateSetOptions): Promise<VerifiedSet> {
  // A compact JWS has three parts; five would be a JWE, which this receiver does not take.
  if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(jwt)) {
    throw setError('invalid_request', 'the body is not a SET: expected a signed JWT in compact serialization (RFC 8417 §2)');
  }
  let header: ProtectedHeaderParameters;
  let unverified: Record<string, unknown>;
  try {
    header = decodeProtectedHeader(jwt);
    unverified = decodeJwt(jwt) as Record<string, unknown>;
  } catch (e) {
    throw setError('invalid_request', 'the body is not a SET: its header or claims are not JSON objects', e);
  }
  // RFC 8417 §2.3: explicit typing keeps other JWTs (ID tokens, access tokens) from passing as SETs.
  if (header.typ !== SET_TYP) {
    throw setError(
      'invalid_request',
      `the JOSE header "typ" must be "${SET_TYP}" (RFC 8417 §2.3), got ${header.typ === undefined ? 'none' : `"${String(header.typ)}"`}`,
    );
  }
  if (typeof header.alg !== 'string' || !SET_ALGORITHMS.includes(header.alg)) {
    throw setError(
      'invalid_key',
      `the signing algorithm "${String(header.alg)}" is not accepted; use an asymmetric one (${SET_ALGORITHMS.slice(0, 3).join(', ')}, ...)`,
    );
  }
  // The issuer is checked before any key is looked up: an unknown issuer never costs a fetch.
  if (unverified.iss !== opts.issuer) {
    throw setError(
      'invalid_issuer',
      `"iss" ${typeof unverified.iss === 'string' ? `"${unverified.iss}"` : 'is missing; it'} must be the configured transmitter "${opts.issuer}"`,
    );
  }

  try {
    await verifySignature(jwt, opts.getKey);
  } catch (e) {
    throw verifyError(e);
  }
  return checkClaims(unverified, header, opts);
}

async function verifySignature(jwt: string, getKey: JWTVerifyGetKey): Promise<void> {
  try {
    await compactVerify(jwt, getKey, { algorithms: SET_ALGORITHMS });
  } catch (e) {
    // No `kid` and several keys of the JWKS fit: jose hands them over to be tried one by one.
    if (!(e instanceof errors.JWKSMultipleMatchingKeys)) throw e;
    for await (const key of e as unknown as AsyncIterable<CryptoKey>) {
      try {
        await compactVerify(jwt, key, { algorithms: SET_ALGORITHMS });
        return;
      } catch (inner) {
        if (!(inner instanceof errors.JWSSignatureVerificationFailed)) throw inner;
      }
    }
    throw new errors.JWSSignatureVerificationFailed();
  }
}

function verifyError(e: unknown): unknown {
  if (isGatewayError(e)) return e; // discovery_failed: transient
  if (e instanceof errors.JWKSNoMatchingKey) {
    return setError('invalid_key', "no key in the transmitter's JWKS matches the SET's header (kid/alg)", e);
  }
  if (e instanceof errors.JWSSignatureVerificationFailed) {
    return setError('authentication_failed', "the SET's signature does not verify with the transmitter's key", e);
  }
  if (e instanceof errors.JOSEAlgNotAllowed || e instanceof errors.JOSENotSupported) {
    return setError('invalid_key', `the SET's key or algorithm is not acceptable: ${(e as Error).message}`, e);
  }
  if (e instanceof errors.JWSInvalid) return setError('invalid_request', `the SET is not a valid JWS: ${e.message}`, e);
  // JWKS fetch failures (timeout, HTTP error, bad JSON): transient.
  return e;
}

function checkClaims(claims: Record<string, unknown>, header: ProtectedHeaderParameters, opts: ValidateSetOptions): VerifiedSet {
  const nowSec = Math.floor(opts.now / 1000);
  const aud = typeof claims.aud === 'string' ? [claims.aud] : Array.isArray(claims.aud) ? claims.aud.filter((a): a is string => typeof a === 'string') : [];
  if (!aud.some((a) => opts.audiences.includes(a))) {
    throw setError('invalid_audience', `"aud" must name this receiver (${opts.audiences.map((a) => `"${a}"`).join(' or ')})`);
  }
  if (typeof claims.jti !== 'string' || !claims.jti) throw setError('invalid_request', '"jti" is required (RFC 8417 §2.2)');
  if (typeof claims.iat !== 'number' || !Number.isFinite(claims.iat))
    throw setError('invalid_request', '"iat" is required and must be a number (RFC 8417 §2.2)');
  if (claims.iat > nowSec + opts.skewSeconds) throw setError('invalid_request', '"iat" is in the future');
  if (claims.iat < nowSec - opts.maxAgeSeconds) {
    throw setError('invalid_request', `the SET is too old: issued more than ${opts.maxAgeSeconds} s ago (ssf.maxAgeSeconds)`);
  }
  if (claims.exp !== undefined) {
    if (typeof claims.exp !== 'number') throw setError('invalid_request', '"exp" must be a number');
    if (claims.exp <= nowSec - opts.skewSeconds) throw setError('invalid_request', 'the SET has expired ("exp")');
  }
  // RFC 8417 §2.2 allows several events about one subject; SSF 1.0 §4.1 and the gateway take exactly one.
  if (!isObject(claims.events)) throw setError('invalid_request', '"events" is required and must be a JSON object (RFC 8417 §2.2)');
  const entries = Object.entries(claims.events);
  if (entries.length !== 1) throw setError('invalid_request', `"events" must hold exactly one event, found ${entries.length} (SSF 1.0 §4.1)`);
  const [eventType, event] = entries[0]!;
  if (!isObject(event)) throw setError('invalid_request', `the payload of event "${eventType}" must be a JSON object (RFC 8417 §2.2)`);
  const subject = subjectOf(claims, event);
  return {
    iss: claims.iss as string,
    jti: claims.jti,
    iat: claims.iat,
    aud,
    eventType,
    event,
    subject,
    ...(typeof claims.txn === 'string' ? { txn: claims.txn } : {}),
    header,
  };
}
