import { calculateJwkThumbprint, decodeProtectedHeader, EmbeddedJWK, jwtVerify, type JWK } from 'jose';
import { accessTokenHash, htuOf } from './proof.js';

/**
 * Checking a DPoP proof as a server (RFC 9449 §4.3), for an authorization server's token endpoint
 * (§5) and a resource server (§7.1). Every failure names what was wrong; the caller answers
 * `invalid_dpop_proof` (or `use_dpop_nonce`, with a fresh nonce).
 */

/** Asymmetric algorithms accepted in proofs (§4.3 step 6: not none, not a MAC). */
export const PROOF_ALGS = ['ES256', 'ES384', 'PS256', 'RS256', 'EdDSA'] as const;

export interface ProofCheck {
  method: string;
  /** The URL the request was made to (as the server is known publicly): compared as `htu` (§4.3 step 9). */
  url: string;
  /** The access token presented with it: `ath` must be its hash (§4.3 step 11). */
  accessToken?: string;
  /** The key the token is bound to (`cnf.jkt`): the proof's key must be it (§7.1). */
  jkt?: string;
  /** Epoch ms. */
  now: number;
  /** How far `iat` may be from now, in seconds (§4.3 step 11 "reasonable window"); default 60 past, 5 ahead. */
  maxAgeSeconds?: number;
  skewSeconds?: number;
  /** When set, the proof must carry a nonce this accepts (§8, §9); a missing or stale one is `use_dpop_nonce`. */
  nonce?: (nonce: string | undefined) => boolean;
  /** Records the jti; false when it was seen within the window (a replayed proof, §11.1). */
  fresh: (jti: string, until: number) => boolean;
}

export type ProofResult = { ok: true; jkt: string; jti: string } | { ok: false; error: 'invalid_dpop_proof' | 'use_dpop_nonce'; description: string };

const fail = (description: string): ProofResult => ({ ok: false, error: 'invalid_dpop_proof', description });

/** `header` is the request's DPoP header value (null when absent); a request with two DPoP headers gives "a, b". */
export async function verifyProof(header: string | null, c: ProofCheck): Promise<ProofResult> {
  if (!header) return fail('the DPoP header is missing');
  if (!/^[\w-]+\.[\w-]+\.[\w-]+$/.test(header)) return fail('the DPoP header must hold exactly one proof JWT (RFC 9449 §4.3)');
  let alg: string | undefined;
  let jwk: JWK | undefined;
  try {
    const h = decodeProtectedHeader(header);
    if (h.typ !== 'dpop+jwt') return fail(`the proof's typ must be "dpop+jwt", got ${JSON.stringify(h.typ ?? null)}`);
    alg = h.alg;
    jwk = h.jwk as JWK | undefined;
  } catch {
    return fail('the DPoP proof is not a JWT');
  }
  if (!alg || !(PROOF_ALGS as readonly string[]).includes(alg))
    return fail(`the proof's alg must be one of ${PROOF_ALGS.join(', ')}, got ${JSON.stringify(alg ?? null)}`);
  if (!jwk || typeof jwk !== 'object') return fail('the proof header has no jwk (RFC 9449 §4.2)');
  if ('d' in jwk || 'p' in jwk || 'k' in jwk) return fail('the proof header jwk must be a public key');
  let payload: Record<string, unknown>;
  try {
    ({ payload } = await jwtVerify(header, EmbeddedJWK, { typ: 'dpop+jwt', algorithms: [...PROOF_ALGS] }));
  } catch (e) {
    return fail(`the proof's signature does not verify with its jwk: ${(e as Error).message}`);
  }
  const jti = payload.jti;
  if (typeof jti !== 'string' || jti.length < 8 || jti.length > 256) return fail('the proof needs a jti (a unique string)');
  if (payload.htm !== c.method.toUpperCase())
    return fail(`the proof's htm is ${JSON.stringify(payload.htm ?? null)}, the request's method ${c.method.toUpperCase()}`);
  let htu: string;
  try {
    htu = htuOf(String(payload.htu));
  } catch {
    return fail('the proof has no valid htu');
  }
  if (htu !== htuOf(c.url)) return fail(`the proof's htu is ${htu}, the request went to ${htuOf(c.url)}`);
  const iat = payload.iat;
  if (typeof iat !== 'number') return fail('the proof needs an iat');
  const now = c.now / 1000;
  if (iat > now + (c.skewSeconds ?? 5)) return fail('the proof was issued in the future (iat)');
  if (iat < now - (c.maxAgeSeconds ?? 60)) return fail(`the proof is too old (issued ${Math.round(now - iat)} s ago)`);
  if (c.accessToken !== undefined) {
    if (typeof payload.ath !== 'string') return fail('the proof has no ath: a proof sent with an access token must carry its hash');
    if (payload.ath !== accessTokenHash(c.accessToken)) return fail('the proof was made for another access token (ath)');
  }
  const jkt = await calculateJwkThumbprint(jwk);
  if (c.jkt !== undefined && jkt !== c.jkt) return fail('the proof was signed with another key than the one the token is bound to (cnf.jkt)');
  if (c.nonce && !c.nonce(typeof payload.nonce === 'string' ? payload.nonce : undefined)) {
    return { ok: false, error: 'use_dpop_nonce', description: payload.nonce === undefined ? 'a DPoP nonce is required' : 'the DPoP nonce is stale' };
  }
  if (!c.fresh(jti, (iat + (c.maxAgeSeconds ?? 60) + (c.skewSeconds ?? 5)) * 1000)) return fail('the proof was used before (jti replayed)');
  return { ok: true, jkt, jti };
}

/** Seen proof jtis, each until its proof is too old anyway; bounded (the oldest go first). */
export class ProofReplayCache {
  readonly #seen = new Map<string, number>();

  constructor(private readonly max = 100_000) {}

  /** false when `jti` is still remembered. */
  fresh(jti: string, until: number, now: number): boolean {
    const known = this.#seen.get(jti);
    if (known !== undefined && known > now) return false;
    if (this.#seen.size >= this.max) {
      for (const [k, t] of this.#seen) {
        if (t <= now || this.#seen.size >= this.max) this.#seen.delete(k);
        else break;
      }
    }
    this.#seen.set(jti, until);
    return true;
  }
}
