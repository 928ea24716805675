import { randomUUID } from 'node:crypto';
import { errors as joseErrors, exportJWK, generateKeyPair, importJWK, jwtVerify, SignJWT, decodeProtectedHeader, type JWK } from 'jose';
import type { Deps } from '../../deps.js';
import { ACCESS_TOKEN_TTL_MAX_S } from '../../config/schema.js';
import { GatewayError } from '../../errors.js';
import type { SigningKey, SigningKeyRotation, Store } from '../../store/types.js';
import type { GatewayAccessTokenClaims } from './types.js';

/** Tokens larger than this are refused before any parsing (a JWT of ours is well under 1 KiB). */
export const MAX_TOKEN_BYTES = 4096;
/**
 * A retired key keeps verifying this long after it stopped signing: longer than any token it signed
 * lives (at most 15 minutes), counting the up to 30 s another instance may still sign with it before
 * it re-reads the keyring.
 */
const VERIFY_AFTER_RETIRE_MS = 60 * 60_000;
const KEYRING_MAX_AGE_MS = 30_000;
const CLOCK_SKEW_S = 30;
/** Verified tokens remembered (see #verified): a few MiB at most. */
const MAX_VERIFIED_TOKENS = 10_000;
const ALG = 'ES256';

export interface AccessTokenServiceOptions {
  store: Store;
  deps: Pick<Deps, 'now'>;
  /** The gateway's AS issuer (server.publicUrl). */
  issuer: string;
  /** The gateway's MCP resource (`<publicUrl>/mcp`): the only accepted audience. */
  resource: string;
  ttlSeconds: () => number;
}

export type IssueInput = Pick<GatewayAccessTokenClaims, 'sub' | 'idp_iss' | 'client_id' | 'sid' | 'scope' | 'cnf'>;

/** A rotation made: `kid` signs from now on, `retired` keys verify until `verifyUntil` (epoch ms). */
export interface KeyRotation {
  kid: string;
  /** The key that signed before (absent when this was the first key). */
  previous?: string;
  retired: string[];
  verifyUntil: number;
}

/** A signing key as the admin API shows it: never its private part. Times in epoch ms. */
export interface SigningKeyView {
  kid: string;
  alg: 'ES256';
  createdAt: number;
  retiredAt: number | null;
  verifyUntil: number | null;
  /** The key new tokens are signed with (exactly one). */
  signing: boolean;
}

/**
 * The gateway's access tokens for MCP clients: JWTs (RFC 9068 shape) signed ES256 with a key kept
 * encrypted in the store. Verification accepts only our issuer, our resource as audience, ES256
 * with a known `kid`, an unexpired token, a jti not revoked and a session not signed out.
 */
/** Floor between store re-reads caused by tokens whose kid is not in the keyring. */
export const UNKNOWN_KID_RELOAD_MS = 1_000;

export class AccessTokenService {
  #keys?: { signing: SigningKey; all: SigningKey[]; loadedAt: number };
  /**
   * Imported keys by kid and use: importJWK is a WebCrypto import (a measurable share of a call's
   * CPU when repeated per request). A kid names one key for its whole life, so entries never go
   * stale; keys no longer in the keyring are dropped when it is re-read.
   */
  readonly #imported = new Map<string, Promise<CryptoKey | Uint8Array>>();
  /**
   * Tokens whose signature and static claims (iss, aud, typ, alg) were verified, by their exact
   * text: an MCP client sends the same token on every request until it refreshes, and an ECDSA
   * verification per request was the largest share of a warm call's CPU. A hit is as strong as a
   * verification (same bytes); what can change is checked again on every request: expiry, the
   * key still verifying, the jti not revoked, the session not signed out. Only tokens that
   * verified get in, so it cannot be filled from outside; oldest dropped first.
   */
  readonly #verified = new Map<string, { claims: GatewayAccessTokenClaims; kid: string }>();

  constructor(private readonly opts: AccessTokenServiceOptions) {}

  /** Loads keys from the store, creating the first one. Keys are re-read at most every 30 s (rotation by another instance). */
  async #keyring(force = false): Promise<{ signing: SigningKey; all: SigningKey[] }> {
    const now = this.opts.deps.now();
    if (!force && this.#keys && now - this.#keys.loadedAt < KEYRING_MAX_AGE_MS) return this.#keys;
    let all = await this.opts.store.listSigningKeys();
    if (!newestSigning(all)) {
      // The first key goes through the store's serialized rotation, "only if there is none", so
      // instances starting together on an empty PostgreSQL store make one key, not one each.
      await this.#storeRotation(now, { signingCreatedAtOrBefore: -Infinity });
      all = await this.opts.store.listSigningKeys();
    }
    const signing = newestSigning(all);
    if (!signing) throw new GatewayError('store_unavailable', 'the store holds no signing key after creating one');
    this.#keys = { signing, all, loadedAt: now };
    const live = new Set(all.flatMap((k) => [`${k.kid}:public`, `${k.kid}:private`]));
    for (const id of this.#imported.keys()) if (!live.has(id)) this.#imported.delete(id);
    return this.#keys;
  }

  #import(key: SigningKey, part: 'public' | 'private'): Promise<CryptoKey | Uint8Array> {
    const id = `${key.kid}:${part}`;
    let imported = this.#imported.get(id);
    if (!imported) {
      imported = importJWK((part === 'public' ? key.publicJwk : key.privateJwk) as JWK, ALG);
      imported.catch(() => this.#imported.delete(id));
      this.#imported.set(id, imported);
    }
    return imported;
  }

  async #newKey(now: number): Promise<SigningKey> {
    const { publicKey, privateKey } = await generateKeyPair(ALG, { extractable: true });
    const kid = randomUUID();
    const pub = { ...(await exportJWK(publicKey)), kid, alg: ALG, use: 'sig' };
    const priv = { ...(await exportJWK(privateKey)), kid, alg: ALG };
    return { kid, alg: ALG, privateJwk: priv, publicJwk: pub, createdAt: now };
  }

  async #storeRotation(now: number, condition?: { signingCreatedAtOrBefore: number }): Promise<{ r: SigningKeyRotation; verifyUntil: number }> {
    const verifyUntil = now + Math.max(VERIFY_AFTER_RETIRE_MS, this.opts.ttlSeconds() * 1000);
    const r = await this.opts.store.rotateSigningKey(await this.#newKey(now), { at: now, verifyUntil }, condition);
    return { r, verifyUntil };
  }

  async #rotate(condition?: { signingCreatedAtOrBefore: number }): Promise<KeyRotation | undefined> {
    const { r, verifyUntil } = await this.#storeRotation(this.opts.deps.now(), condition);
    await this.#keyring(true);
    if (!r.rotated) return undefined;
    return { kid: r.signing, ...(r.previous ? { previous: r.previous } : {}), retired: r.retired, verifyUntil };
  }

  /**
   * Starts signing with a new key; the old one keeps verifying until its tokens have expired.
   * Safe with several instances on one store: rotations are serialized there, and each retires
   * every other key, so exactly one key signs afterwards (two concurrent calls rotate twice).
   */
  async rotate(): Promise<KeyRotation> {
    const r = await this.#rotate();
    if (!r) throw new GatewayError('internal', 'an unconditional key rotation did not rotate');
    return r;
  }

  /**
   * Rotates when the signing key is at least `maxAgeMs` old (the periodic check of `serve`). The
   * age is checked again under the store's rotation lock, so instances that find the key due at
   * the same moment rotate it once. Undefined when the key is young enough.
   */
  async rotateIfOlderThan(maxAgeMs: number): Promise<KeyRotation | undefined> {
    const { signing } = await this.#keyring(true);
    const createdBy = this.opts.deps.now() - maxAgeMs;
    if (signing.createdAt > createdBy) return undefined;
    return this.#rotate({ signingCreatedAtOrBefore: createdBy });
  }

  /** The keys that still verify (as /jwks lists them), newest first, with the one that signs. */
  async keys(): Promise<SigningKeyView[]> {
    const now = this.opts.deps.now();
    const { signing, all } = await this.#keyring(true);
    return all
      .filter((k) => !k.verifyUntil || k.verifyUntil > now)
      .map((k) => ({
        kid: k.kid,
        alg: k.alg,
        createdAt: k.createdAt,
        retiredAt: k.retiredAt ?? null,
        verifyUntil: k.verifyUntil ?? null,
        signing: k.kid === signing.kid,
      }));
  }

  /** RFC 7517 JWK Set of every key that may still verify. */
  async jwks(): Promise<{ keys: JWK[] }> {
    const now = this.opts.deps.now();
    const { all } = await this.#keyring();
    return { keys: all.filter((k) => !k.verifyUntil || k.verifyUntil > now).map((k) => k.publicJwk as JWK) };
  }

  /**
   * `notAfter` (epoch s): the token expires then at the latest, e.g. with the ID-JAG it was issued for
   * (draft-parecki-oauth-identity-assertion-gateways §4: never outlive the assertion).
   */
  async issue(input: IssueInput, opts: { notAfter?: number } = {}): Promise<{ token: string; claims: GatewayAccessTokenClaims }> {
    const { signing } = await this.#keyring();
    const iat = Math.floor(this.opts.deps.now() / 1000);
    const exp = Math.min(iat + this.opts.ttlSeconds(), opts.notAfter ?? Infinity);
    const claims: GatewayAccessTokenClaims = {
      iss: this.opts.issuer,
      aud: this.opts.resource,
      ...input,
      jti: randomUUID(),
      iat,
      exp,
    };
    const key = await this.#import(signing, 'private');
    // RFC 9068 §2.1: typ "at+jwt" so an ID token or another JWT cannot pass as an access token.
    const token = await new SignJWT({ ...claims }).setProtectedHeader({ alg: ALG, kid: signing.kid, typ: 'at+jwt' }).sign(key);
    return { token, claims };
  }

  /**
   * The last moment (epoch ms) verify() could accept a token with these claims: its exp plus the clock
   * skew allowed. A revocation must be remembered until then, not only until exp, or the token would be
   * accepted again once the record is purged.
   */
  acceptedUntil(claims: Pick<GatewayAccessTokenClaims, 'exp'>): number {
    return (claims.exp + CLOCK_SKEW_S) * 1000;
  }

  /** Verifies a bearer token; every refusal is GatewayError('invalid_token') with a reason safe to show. */
  async verify(token: string): Promise<GatewayAccessTokenClaims> {
    const refuse = (reason: string, cause?: unknown) => new GatewayError('invalid_token', reason, cause ? { cause } : {});
    if (token.length > MAX_TOKEN_BYTES) throw refuse('token too large');
    const seen = this.#verified.get(token);
    if (seen) {
      const now = this.opts.deps.now();
      const key = (await this.#keyring()).all.find((k) => k.kid === seen.kid);
      if (key && (!key.verifyUntil || key.verifyUntil > now) && now < this.acceptedUntil(seen.claims)) return this.#live(seen.claims);
      this.#verified.delete(token); // expired or its key retired: the full check below says why
    }
    let kid: string | undefined;
    try {
      const header = decodeProtectedHeader(token);
      if (header.alg !== ALG) throw refuse(`unsupported alg ${String(header.alg)}`);
      if (header.typ !== 'at+jwt') throw refuse('not an access token (typ)');
      kid = header.kid;
    } catch (e) {
      if (e instanceof GatewayError) throw e;
      throw refuse('malformed token', e);
    }
    const now = this.opts.deps.now();
    let key = (await this.#keyring()).all.find((k) => k.kid === kid);
    // Rotated by another instance? Re-read the store, but at most once per UNKNOWN_KID_RELOAD_MS: a
    // flood of tokens with made-up kids must not become a flood of store queries.
    if (!key && (!this.#keys || now - this.#keys.loadedAt >= UNKNOWN_KID_RELOAD_MS)) key = (await this.#keyring(true)).all.find((k) => k.kid === kid);
    if (!key || (key.verifyUntil && key.verifyUntil <= now)) throw refuse('unknown signing key');
    let claims: GatewayAccessTokenClaims;
    try {
      const { payload } = await jwtVerify(token, await this.#import(key, 'public'), {
        algorithms: [ALG],
        issuer: this.opts.issuer,
        audience: this.opts.resource,
        typ: 'at+jwt',
        clockTolerance: CLOCK_SKEW_S,
        currentDate: new Date(now),
        requiredClaims: ['sub', 'client_id', 'sid', 'jti', 'exp', 'iat'],
      });
      claims = payload as unknown as GatewayAccessTokenClaims;
      const why = unacceptable(claims, this.opts.resource, now);
      if (why) throw refuse(why);
      if (this.#verified.size >= MAX_VERIFIED_TOKENS) this.#verified.delete(this.#verified.keys().next().value!);
      this.#verified.set(token, { claims: Object.freeze(claims), kid: key.kid });
    } catch (e) {
      if (e instanceof GatewayError) throw e;
      if (e instanceof joseErrors.JWTExpired) throw refuse('token expired', e);
      if (e instanceof joseErrors.JWTClaimValidationFailed) throw refuse(`claim "${e.claim}" ${e.reason === 'check_failed' ? 'is not accepted' : e.reason}`, e);
      if (e instanceof joseErrors.JWSSignatureVerificationFailed) throw refuse('bad signature', e);
      throw refuse('malformed token', e);
    }
    return this.#live(claims);
  }

  /** What can end a valid token before its expiry (in memory on a warm call: src/store/auth-state.ts). */
  async #live(claims: GatewayAccessTokenClaims): Promise<GatewayAccessTokenClaims> {
    const refuse = (reason: string) => new GatewayError('invalid_token', reason);
    if (await this.opts.store.isAccessTokenRevoked(claims.jti)) throw refuse('token revoked');
    const session = await this.opts.store.getUserSession(claims.sid);
    if (!session || session.revokedAt) throw refuse('session signed out');
    return claims;
  }
}

/**
 * What a correctly signed token may still not claim (jose checked iss, aud membership, typ, exp and nbf, and that iat and exp are numbers).
 * A token this gateway issued names only this resource, was issued in the past and lives at most as long as
 * `server.accessTokenTtlSeconds` allows: anything else was signed by a key that leaked or a signer that
 * misbehaves, and a lifetime of days would outlive every revocation that is not checked on each call.
 */
function unacceptable(claims: GatewayAccessTokenClaims, resource: string, nowMs: number): string | undefined {
  const aud = (claims as { aud?: unknown }).aud;
  // RFC 9068 §4 asks only that aud contain this resource; this gateway never issues a list naming others too,
  // and such a token would be accepted elsewhere as well.
  if (Array.isArray(aud) && (aud.length !== 1 || aud[0] !== resource)) return 'claim "aud" must name this resource only';
  if (claims.iat > nowMs / 1000 + CLOCK_SKEW_S) return 'claim "iat" is in the future';
  if (claims.exp - claims.iat > ACCESS_TOKEN_TTL_MAX_S) return `lifetime (exp - iat) longer than ${ACCESS_TOKEN_TTL_MAX_S} s`;
  // RFC 9449 §6.1: the binding is a SHA-256 JWK thumbprint (RFC 7638), 43 base64url characters; a
  // cnf of another shape would be read by the /mcp check as "unbound".
  const cnf = (claims as { cnf?: unknown }).cnf;
  if (cnf !== undefined && !(typeof cnf === 'object' && cnf !== null && /^[A-Za-z0-9_-]{43}$/.test(String((cnf as { jkt?: unknown }).jkt))))
    return 'claim "cnf" must hold a DPoP key thumbprint (jkt)';
  return undefined;
}

/** The key new tokens are signed with: the newest that is not retired. */
function newestSigning(keys: SigningKey[]): SigningKey | undefined {
  return keys.filter((k) => !k.retiredAt).sort((a, b) => b.createdAt - a.createdAt)[0];
}
