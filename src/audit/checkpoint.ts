import { createHash } from 'node:crypto';
import { canonicalJson } from './canonical-json.js';
import { CompactSign, compactVerify, decodeProtectedHeader, importJWK, type CryptoKey } from 'jose';
import { GENESIS_HASH } from './chain.js';
import type { AuditSink } from './types.js';
import { AUDIT_KEY_ALG, type AuditJwks, type AuditSigningKey } from './signing-key.js';

/**
 * Signed checkpoints: a hash chain proves that no record in it was changed, removed or reordered, but not
 * that its end was not cut off, nor that the whole chain was not rewritten with fresh hashes. At an
 * interval, at start and at shutdown each instance signs its chain's head (the last durable record's seq
 * and hash) with the audit signing key (signing-key.ts), as a compact JWS (RFC 7515, EdDSA). Checkpoints
 * form a chain of their own (`n` from 1, `prev` the SHA-256 of the previous checkpoint's JWS), are stored
 * beside the records and are also emitted where a second party keeps them (the gateway's log, a copy
 * file on another disk). Like Certificate Transparency's signed tree heads or CloudTrail's digest files.
 *
 * What `audit verify` concludes (docs/audit.md):
 * - a checkpoint whose hash differs from the record at its seq: the chain was rewritten;
 * - a checkpoint whose seq is past the end of the chain: records signed for were cut off;
 * - a gap or fork in the checkpoints' own chain: a checkpoint was removed or inserted;
 * - records not covered by any checkpoint older than twice the interval plus a minute before the
 *   chain's newest record: a checkpoint is missing (removed, or the gateway could not write one);
 * - only the newest, never-signed records can be lost without trace (a crash; or a cut together with
 *   the checkpoints after it, which only the second party's copy can show).
 */

export const CHECKPOINT_TYP = 'xaa-audit-checkpoint';
/** Uncovered records may span at most 2 × interval + this before the chain's newest record. */
export const CHECKPOINT_GRACE_MS = 60_000;

export interface CheckpointClaims {
  typ: typeof CHECKPOINT_TYP;
  instance: string;
  /** Position in the instance's checkpoint chain, from 1. */
  n: number;
  /** The chain's head when signed: the last durable record (0 and 64 zeros for an empty chain). */
  seq: number;
  hash: string;
  /** When it was signed (ISO 8601). */
  time: string;
  /** SHA-256 (hex) of the previous checkpoint's JWS; 64 zeros for the first. */
  prev: string;
  /** The interval it was written at: verify's bound on records left without a checkpoint. */
  intervalSeconds: number;
  /** Written at a clean shutdown: nothing after it until the next start. */
  final?: boolean;
}

/** A checkpoint as stored and exported: its JWS, and the claims read from it (not yet verified). */
export interface StoredCheckpoint {
  jws: string;
  claims: CheckpointClaims;
}

export function checkpointDigest(jws: string): string {
  return createHash('sha256').update(jws, 'ascii').digest('hex');
}

export async function signCheckpoint(key: AuditSigningKey, claims: Omit<CheckpointClaims, 'typ'>): Promise<StoredCheckpoint> {
  const full: CheckpointClaims = { typ: CHECKPOINT_TYP, ...claims };
  const payload = new TextEncoder().encode(canonicalJson(full));
  const jws = await new CompactSign(payload).setProtectedHeader({ alg: AUDIT_KEY_ALG, kid: key.kid, typ: CHECKPOINT_TYP }).sign(key.privateKey);
  return { jws, claims: full };
}

/** The claims of a JWS without checking its signature (storage and listing); undefined if it is not a checkpoint. */
export function readCheckpoint(jws: string): StoredCheckpoint | undefined {
  const parts = jws.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const c = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as CheckpointClaims;
    if (c?.typ !== CHECKPOINT_TYP || typeof c.instance !== 'string' || !Number.isSafeInteger(c.n) || !Number.isSafeInteger(c.seq) || typeof c.hash !== 'string')
      return undefined;
    return { jws, claims: c };
  } catch {
    return undefined;
  }
}

/** The next checkpoint's n and prev after `last` (undefined: the first). */
export function nextLink(last: StoredCheckpoint | undefined): { n: number; prev: string } {
  return last ? { n: last.claims.n + 1, prev: checkpointDigest(last.jws) } : { n: 1, prev: GENESIS_HASH };
}

export type CheckpointChainResult = { ok: true; checkpoints: CheckpointClaims[] } | { ok: false; n: number; reason: string; checkpoints: CheckpointClaims[] };

/**
 * Check one instance's checkpoints, in order: each JWS verifies under a trusted key (by kid), names this
 * instance, follows the previous one (n + 1, prev digest) and does not move the head back.
 */
export async function verifyCheckpointChain(instance: string, jwsList: string[], trusted: AuditJwks): Promise<CheckpointChainResult> {
  const keys = new Map<string, Promise<CryptoKey | Uint8Array>>();
  const keyFor = (kid: string) => {
    const jwk = trusted.keys.find((k) => k.kid === kid);
    if (!jwk) return undefined;
    if (!keys.has(kid)) keys.set(kid, importJWK({ ...jwk, alg: AUDIT_KEY_ALG }, AUDIT_KEY_ALG));
    return keys.get(kid)!;
  };
  const done: CheckpointClaims[] = [];
  let prevDigest = GENESIS_HASH;
  let prevSeq = 0;
  for (const [i, jws] of jwsList.entries()) {
    const expectN = i + 1;
    const fail = (reason: string, n = expectN): CheckpointChainResult => ({ ok: false, n, reason, checkpoints: done });
    let kid: string | undefined;
    try {
      const h = decodeProtectedHeader(jws);
      if (h.alg !== AUDIT_KEY_ALG || h.typ !== CHECKPOINT_TYP)
        return fail(`checkpoint ${expectN}: not an audit checkpoint (alg ${String(h.alg)}, typ ${String(h.typ)})`);
      kid = typeof h.kid === 'string' ? h.kid : undefined;
    } catch {
      return fail(`checkpoint ${expectN}: not a JWS`);
    }
    const key = kid ? keyFor(kid) : undefined;
    if (!key) return fail(`checkpoint ${expectN}: signed by key ${kid ?? '(no kid)'}, which is not among the trusted audit keys`);
    let claims: CheckpointClaims;
    try {
      const { payload } = await compactVerify(jws, await key, { algorithms: [AUDIT_KEY_ALG] });
      claims = JSON.parse(new TextDecoder().decode(payload)) as CheckpointClaims;
    } catch {
      return fail(`checkpoint ${expectN}: the signature does not verify (forged or altered)`);
    }
    if (claims.instance !== instance)
      return fail(`checkpoint ${claims.n}: signs instance "${claims.instance}" but is stored with the chain of "${instance}"`, claims.n);
    if (claims.n !== expectN || claims.prev !== prevDigest) {
      return fail(`checkpoint ${claims.n} does not follow checkpoint ${expectN - 1} (a checkpoint was removed, inserted or reordered)`, claims.n);
    }
    if (claims.seq < prevSeq) return fail(`checkpoint ${claims.n} moves the head back from seq ${prevSeq} to ${claims.seq}`, claims.n);
    done.push(claims);
    prevDigest = checkpointDigest(jws);
    prevSeq = claims.seq;
  }
  return { ok: true, checkpoints: done };
}

/** `make` signs the chain's durable head (or returns undefined to skip); the sink stores what it returns. */
export type CheckpointMaker = (head: { seq: number; hash: string }, last: StoredCheckpoint | undefined) => Promise<StoredCheckpoint | undefined>;

/** A sink that stores signed checkpoints of its chain beside its records (file and PostgreSQL sinks). */
export interface CheckpointingSink extends AuditSink {
  readonly instance?: string;
  /**
   * In the chain's write order (after the records appended before it): make those records durable, read
   * the chain's last checkpoint, let `make` sign the head, and store the result durably beside the records.
   */
  checkpoint(make: CheckpointMaker): Promise<StoredCheckpoint | undefined>;
}
