import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { createHash, randomBytes } from 'node:crypto';

/**
 * DPoP proofs (RFC 9449) as a client makes them: a key pair held in memory, one signed `dpop+jwt`
 * per request (§4.2), and the nonces servers hand out (§8, §9), remembered per origin.
 */

export const DPOP_ALG = 'ES256';

/** A DPoP key: the private key never leaves this process; `jkt` is its RFC 7638 thumbprint (`cnf.jkt`). */
export interface DpopKey {
  privateKey: CryptoKey;
  publicJwk: JWK;
  jkt: string;
}

/** A fresh key, per process: tokens bound to it die with it (they live minutes anyway). */
export async function generateDpopKey(): Promise<DpopKey> {
  const { privateKey, publicKey } = await generateKeyPair(DPOP_ALG, { extractable: true });
  const { kty, crv, x, y } = await exportJWK(publicKey);
  const publicJwk: JWK = { kty: kty!, crv: crv!, x: x!, y: y! };
  return { privateKey, publicJwk, jkt: await calculateJwkThumbprint(publicJwk) };
}

/** RFC 9449 §4.2 `htu`: the target URI without query and fragment. */
export function htuOf(url: URL | string): string {
  const u = new URL(url);
  return `${u.origin}${u.pathname}`;
}

/** RFC 9449 §4.2 `ath`: base64url(SHA-256(the access token's ASCII)). */
export function accessTokenHash(accessToken: string): string {
  return createHash('sha256').update(accessToken, 'ascii').digest('base64url');
}

export interface ProofInput {
  htm: string;
  htu: string;
  /** The access token the request carries (adds `ath`). */
  accessToken?: string;
  nonce?: string;
  /** Epoch ms. */
  now: number;
}

export async function signProof(key: DpopKey, p: ProofInput): Promise<string> {
  return new SignJWT({
    jti: randomBytes(16).toString('base64url'),
    htm: p.htm.toUpperCase(),
    htu: p.htu,
    iat: Math.floor(p.now / 1000),
    ...(p.nonce ? { nonce: p.nonce } : {}),
    ...(p.accessToken ? { ath: accessTokenHash(p.accessToken) } : {}),
  })
    .setProtectedHeader({ typ: 'dpop+jwt', alg: DPOP_ALG, jwk: key.publicJwk })
    .sign(key.privateKey);
}

const MAX_ORIGINS = 256;

/**
 * The client side of DPoP for one key: a proof for each request, with the last nonce each origin
 * gave (an authorization server's and a resource server's are separate origins, §8 and §9).
 */
export class DpopClient {
  readonly #nonces = new Map<string, string>();

  constructor(
    readonly key: DpopKey,
    private readonly now: () => number,
  ) {}

  /** The `DPoP` header for a request. */
  proof(method: string, url: URL | string, accessToken?: string): Promise<string> {
    const nonce = this.#nonces.get(new URL(url).origin);
    return signProof(this.key, { htm: method, htu: htuOf(url), ...(accessToken ? { accessToken } : {}), ...(nonce ? { nonce } : {}), now: this.now() });
  }

  /** Keeps the `DPoP-Nonce` a response carries, for the next proof to that origin. Returns whether there was one. */
  remember(response: Response, url: URL | string): boolean {
    return this.rememberNonce(response.headers.get('dpop-nonce'), url);
  }

  /** {@link remember} given the `DPoP-Nonce` header's value (absent: nothing to keep). */
  rememberNonce(nonce: string | null | undefined, url: URL | string): boolean {
    if (!nonce || !/^[\x21\x23-\x5B\x5D-\x7E]{1,512}$/.test(nonce)) return false;
    const origin = new URL(url).origin;
    this.#nonces.delete(origin);
    if (this.#nonces.size >= MAX_ORIGINS) this.#nonces.delete(this.#nonces.keys().next().value!);
    this.#nonces.set(origin, nonce);
    return true;
  }
}

/**
 * Whether a response asks for a retry with a nonce: a resource server's `401` with
 * `WWW-Authenticate: DPoP error="use_dpop_nonce"` (§9), or an authorization server's `400`
 * `{"error": "use_dpop_nonce"}` (§8; the body is read from a clone).
 */
export async function isNonceChallenge(response: Response): Promise<boolean> {
  if (!response.headers.get('dpop-nonce')) return false;
  if (response.status === 401) return isResourceNonceChallenge(401, response.headers.get('dpop-nonce'), response.headers.get('www-authenticate'));
  if (response.status !== 400) return false;
  try {
    const body = (await response.clone().json()) as { error?: unknown };
    return body.error === 'use_dpop_nonce';
  } catch {
    return false;
  }
}

/** A resource server's nonce challenge (§9): `401`, a `DPoP-Nonce`, and `WWW-Authenticate: DPoP error="use_dpop_nonce"`. */
export function isResourceNonceChallenge(status: number, dpopNonce: string | null | undefined, wwwAuthenticate: string | null | undefined): boolean {
  return status === 401 && !!dpopNonce && /^\s*DPoP\b[^]*error="use_dpop_nonce"/i.test(wwwAuthenticate ?? '');
}
