import { hkdfSync } from 'node:crypto';
import type { RuntimeConfig, ServerConfig } from '../../config/index.js';
import { DpopNonces, PROOF_ALGS, ProofReplayCache, verifyProof, type ProofResult } from '../../dpop/index.js';
import { GatewayError } from '../../errors.js';
import { parseEncryptionKey } from '../../store/crypto.js';

/**
 * Inbound DPoP (RFC 9449): the proofs MCP clients send to the gateway's /token (§5) and /mcp (§7),
 * checked against `server.dpop`. Nonces (§8, §9) are stateless HMACs under a key derived from
 * `server.encryptionKey`, so every instance of a fleet accepts the nonces the others handed out;
 * the jtis of accepted proofs are remembered per instance (§11.1: a replay on another instance
 * still needs a fresh iat within `proofMaxAgeSeconds`, and a bound token besides).
 */

export type DpopPolicy = ServerConfig['dpop'];

/** The algorithms a proof may be signed with: AS and resource metadata, and the `algs` of challenges. */
export const DPOP_SIGNING_ALGS: readonly string[] = PROOF_ALGS;

/** RFC 5869 §3.2 `info`: the nonce key is bound to this one use of the store key. */
const NONCE_KEY_INFO = 'xaa-gateway dpop-nonce v1';

/** The HMAC key of DPoP nonces: HKDF-SHA256 of `server.encryptionKey` (the same on every instance sharing the store). */
export function dpopNonceSecret(encryptionKey: string): Buffer {
  return Buffer.from(hkdfSync('sha256', parseEncryptionKey(encryptionKey), Buffer.alloc(0), NONCE_KEY_INFO, 32));
}

export interface ProofRequest {
  /** The request's `DPoP` header; null when absent (two headers arrive joined, and are refused). */
  header: string | null;
  method: string;
  /** The URL as the gateway is known publicly (`<publicUrl>/token`, `<publicUrl>/mcp`): the expected `htu`. */
  url: string;
  /** The access token sent with the proof (`ath`, §7.1). */
  accessToken?: string;
  /** The token's `cnf.jkt`: the proof must be signed by that key. */
  jkt?: string;
}

export class InboundDpop {
  readonly #replay = new ProofReplayCache();
  #nonces?: { encryptionKey: string; nonces: DpopNonces };

  constructor(private readonly opts: { runtime: () => RuntimeConfig; now: () => number }) {}

  /** `server.dpop`, read per request so a hot reload applies to the next one. */
  policy(): DpopPolicy {
    const dpop = this.opts.runtime().config.server?.dpop;
    if (!dpop) throw new GatewayError('config_invalid', 'the "server" section is missing from the config; it is needed to serve over HTTP');
    return dpop;
  }

  /** A nonce for the `DPoP-Nonce` header (§8, §9). */
  nonce(): string {
    return this.#nonceService().issue(this.opts.now());
  }

  check(r: ProofRequest): Promise<ProofResult> {
    const policy = this.policy();
    const now = this.opts.now();
    const nonces = policy.nonce ? this.#nonceService() : undefined;
    return verifyProof(r.header, {
      method: r.method,
      url: r.url,
      ...(r.accessToken !== undefined ? { accessToken: r.accessToken } : {}),
      ...(r.jkt !== undefined ? { jkt: r.jkt } : {}),
      now,
      maxAgeSeconds: policy.proofMaxAgeSeconds,
      ...(nonces ? { nonce: (n: string | undefined) => nonces.valid(n, now) } : {}),
      fresh: (jti, until) => this.#replay.fresh(jti, until, now),
    });
  }

  #nonceService(): DpopNonces {
    const key = this.opts.runtime().encryptionKey;
    if (!key) throw new GatewayError('config_invalid', 'server.encryptionKey is missing: DPoP nonces are derived from it');
    if (this.#nonces?.encryptionKey !== key) this.#nonces = { encryptionKey: key, nonces: new DpopNonces(dpopNonceSecret(key)) };
    return this.#nonces.nonces;
  }
}
