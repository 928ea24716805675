import { randomUUID } from 'node:crypto';
import { errors as joseErrors, exportJWK, generateKeyPair, importJWK, jwtVerify, SignJWT, decodeProtectedHeader, type JWK } from 'jose';
import type { Deps } from '../../deps.js';
import { GatewayError } from '../../errors.js';
import type { SigningKey, Store } from '../../store/types.js';
import type { GatewayAccessTokenClaims } from './types.js';

/** Tokens larger than this are refused before any parsing (a JWT of ours is well under 1 KiB). */
export const MAX_TOKEN_BYTES = 4096;
/** A retired key keeps verifying this long after it stopped signing: longer than any token it signed lives. */
const VERIFY_AFTER_RETIRE_MS = 60 * 60_000;
const CLOCK_SKEW_S = 30;
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

export type IssueInput = Pick<GatewayAccessTokenClaims, 'sub' | 'idp_iss' | 'client_id' | 'sid' | 'scope'>;

/**
 * The gateway's access tokens for MCP clients: JWTs (RFC 9068 shape) signed ES256 with a key kept
 * encrypted in the store. Verification accepts only our issuer, our resource as audience, ES256
 * with a known `kid`, an unexpired token, a jti not revoked and a session not signed out.
 */
export class AccessTokenService {
  #keys?: { signing: SigningKey; all: SigningKey[]; loadedAt: number };

  constructor(private readonly opts: AccessTokenServiceOptions) {}

  /** Loads keys from the store, creating the first one. Keys are re-read at most every 30 s (rotation by another instance). */
  async #keyring(force = false): Promise<{ signing: SigningKey; all: SigningKey[] }> {
    const now = this.opts.deps.now();
    if (!force && this.#keys && now - this.#keys.loadedAt < 30_000) return this.#keys;
    let all = await this.opts.store.listSigningKeys();
    let signing = all.filter((k) => !k.retiredAt).sort((a, b) => b.createdAt - a.createdAt)[0];
    if (!signing) {
      signing = await this.#newKey(now);
      await this.opts.store.addSigningKey(signing);
      all = await this.opts.store.listSigningKeys();
    }
    this.#keys = { signing, all, loadedAt: now };
    return this.#keys;
  }

  async #newKey(now: number): Promise<SigningKey> {
    const { publicKey, privateKey } = await generateKeyPair(ALG, { extractable: true });
    const kid = randomUUID();
    const pub = { ...(await exportJWK(publicKey)), kid, alg: ALG, use: 'sig' };
    const priv = { ...(await exportJWK(privateKey)), kid, alg: ALG };
    return { kid, alg: ALG, privateJwk: priv, publicJwk: pub, createdAt: now };
  }

  /** Starts signing with a new key; the old one keeps verifying until its tokens have expired. */
  async rotate(): Promise<string> {
    const now = this.opts.deps.now();
    const { signing } = await this.#keyring(true);
    const next = await this.#newKey(now);
    await this.opts.store.addSigningKey(next);
    await this.opts.store.retireSigningKey(signing.kid, now, now + Math.max(VERIFY_AFTER_RETIRE_MS, this.opts.ttlSeconds() * 1000));
    await this.#keyring(true);
    return next.kid;
  }

  /** RFC 7517 JWK Set of every key that may still verify. */
  async jwks(): Promise<{ keys: JWK[] }> {
    const now = this.opts.deps.now();
    const { all } = await this.#keyring();
    return { keys: all.filter((k) => !k.verifyUntil || k.verifyUntil > now).map((k) => k.publicJwk as JWK) };
  }

  async issue(input: IssueInput): Promise<{ token: string; claims: GatewayAccessTokenClaims }> {
    const { signing } = await this.#keyring();
    const iat = Math.floor(this.opts.deps.now() / 1000);
    const claims: GatewayAccessTokenClaims = {
      iss: this.opts.issuer,
      aud: this.opts.resource,
      ...input,
      jti: randomUUID(),
      iat,
      exp: iat + this.opts.ttlSeconds(),
    };
    const key = await importJWK(signing.privateJwk as JWK, ALG);
    // RFC 9068 §2.1: typ "at+jwt" so an ID token or another JWT cannot pass as an access token.
    const token = await new SignJWT({ ...claims }).setProtectedHeader({ alg: ALG, kid: signing.kid, typ: 'at+jwt' }).sign(key);
    return { token, claims };
  }

  /** Verifies a bearer token; every refusal is GatewayError('invalid_token') with a reason safe to show. */
  async verify(token: string): Promise<GatewayAccessTokenClaims> {
    const refuse = (reason: string, cause?: unknown) => new GatewayError('invalid_token', reason, cause ? { cause } : {});
    if (token.length > MAX_TOKEN_BYTES) throw refuse('token too large');
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
    if (!key) key = (await this.#keyring(true)).all.find((k) => k.kid === kid); // rotated by another instance
    if (!key || (key.verifyUntil && key.verifyUntil <= now)) throw refuse('unknown signing key');
    let claims: GatewayAccessTokenClaims;
    try {
      const { payload } = await jwtVerify(token, await importJWK(key.publicJwk as JWK, ALG), {
        algorithms: [ALG],
        issuer: this.opts.issuer,
        audience: this.opts.resource,
        typ: 'at+jwt',
        clockTolerance: CLOCK_SKEW_S,
        currentDate: new Date(now),
        requiredClaims: ['sub', 'client_id', 'sid', 'jti', 'exp', 'iat'],
      });
      claims = payload as unknown as GatewayAccessTokenClaims;
    } catch (e) {
      if (e instanceof joseErrors.JWTExpired) throw refuse('token expired', e);
      if (e instanceof joseErrors.JWTClaimValidationFailed) throw refuse(`claim "${e.claim}" ${e.reason === 'check_failed' ? 'is not accepted' : e.reason}`, e);
      if (e instanceof joseErrors.JWSSignatureVerificationFailed) throw refuse('bad signature', e);
      throw refuse('malformed token', e);
    }
    if (await this.opts.store.isAccessTokenRevoked(claims.jti)) throw refuse('token revoked');
    const session = await this.opts.store.getUserSession(claims.sid);
    if (!session || session.revokedAt) throw refuse('session signed out');
    return claims;
  }
}
