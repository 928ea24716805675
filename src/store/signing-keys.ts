/**
 * The keys that sign gateway access tokens (table signing_keys, the private JWK encrypted at rest,
 * bound to its kid). Rotation retires the old key, which keeps verifying until `verifyUntil`.
 */
import { GatewayError } from '../errors.js';
import type { SecretBox } from './crypto.js';
import { aad, json, num, optNum, parsed } from './rows.js';
import type { Queryable, Sql } from './sql.js';

export interface SigningKey {
  kid: string;
  alg: 'ES256';
  /** Private JWK, decrypted. Secret. */
  privateJwk: Record<string, unknown>;
  publicJwk: Record<string, unknown>;
  createdAt: number;
  /** No longer signs after this; still verifies until `verifyUntil`. */
  retiredAt?: number;
  verifyUntil?: number;
}

/** What `Store.rotateSigningKey` did. */
export interface SigningKeyRotation {
  /** False when the condition did not hold: the current key is young enough and stays. */
  rotated: boolean;
  /** The key that signs after the call. */
  signing: string;
  /** The key that signed before the call (absent for the first key). */
  previous?: string;
  /** Every key retired by the call (normally just `previous`). */
  retired: string[];
}

/** Signing keys for gateway access tokens; rotation keeps the old key verifying. */
export interface SigningKeyStore {
  listSigningKeys(): Promise<SigningKey[]>;
  addSigningKey(k: SigningKey): Promise<void>;
  retireSigningKey(kid: string, retiredAt: number, verifyUntil: number): Promise<void>;
  /**
   * Adds `next` and retires every unretired key (`retire.at`, verifying until `retire.verifyUntil`),
   * atomically and one rotation at a time across every instance sharing the store, so exactly one
   * key signs afterwards. With `condition`, only when the current signing key (the newest
   * unretired) was created at or before `signingCreatedAtOrBefore`, or there is none; this check
   * is made under the same lock, so instances that find the key due at once rotate it once.
   */
  rotateSigningKey(
    next: SigningKey,
    retire: { at: number; verifyUntil: number },
    condition?: { signingCreatedAtOrBefore: number },
  ): Promise<SigningKeyRotation>;
}

/** The signing (unretired) key first, then newest first; retired keys stay listed (for the JWKS) until `verifyUntil` passes and a purge runs. */
export async function listSigningKeys(q: Queryable, box: SecretBox): Promise<SigningKey[]> {
  const { rows } = await q.query('SELECT * FROM signing_keys ORDER BY (retired_at IS NULL) DESC, created_at DESC, kid');
  return rows.map((r) => {
    const kid = String(r.kid);
    return {
      kid,
      alg: r.alg as SigningKey['alg'],
      privateJwk: JSON.parse(box.decrypt(String(r.private_jwk_enc), aad.privateJwk(kid))) as Record<string, unknown>,
      publicJwk: parsed<Record<string, unknown>>(r.public_jwk),
      createdAt: num(r.created_at),
      retiredAt: optNum(r.retired_at),
      verifyUntil: optNum(r.verify_until),
    };
  });
}

export async function addSigningKey(q: Queryable, box: SecretBox, k: SigningKey): Promise<void> {
  await q.query(
    `INSERT INTO signing_keys (kid, alg, private_jwk_enc, public_jwk, created_at, retired_at, verify_until)
     VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7)`,
    [k.kid, k.alg, box.encrypt(json(k.privateJwk), aad.privateJwk(k.kid)), json(k.publicJwk), k.createdAt, k.retiredAt ?? null, k.verifyUntil ?? null],
  );
}

/**
 * Rotations are serialized by a transaction-scoped advisory lock (one per schema, like
 * migrations). A row lock would not do: under READ COMMITTED, a `SELECT ... FOR UPDATE` that
 * waited for another rotation re-checks only the rows it had found, never the key that rotation
 * inserted, so both would add a key and two would sign. After the advisory lock each statement
 * takes a fresh snapshot and sees the previous rotation's key. Retiring every other unretired
 * key (not just the newest) also heals a store where two keys were left signing.
 */
export async function rotateSigningKey(
  sql: Sql,
  box: SecretBox,
  next: SigningKey,
  retire: { at: number; verifyUntil: number },
  condition?: { signingCreatedAtOrBefore: number },
): Promise<SigningKeyRotation> {
  return sql.transaction(async (tx) => {
    await tx.query("SELECT pg_advisory_xact_lock(hashtext('xaa-gateway:signing-keys:' || current_schema()))");
    const { rows } = await tx.query('SELECT kid, created_at FROM signing_keys WHERE retired_at IS NULL ORDER BY created_at DESC, kid');
    const current = rows[0] && { kid: String(rows[0].kid), createdAt: num(rows[0].created_at) };
    if (current && condition && current.createdAt > condition.signingCreatedAtOrBefore) return { rotated: false, signing: current.kid, retired: [] };
    await addSigningKey(tx, box, next);
    const retired = await tx.query('UPDATE signing_keys SET retired_at = $2, verify_until = $3 WHERE retired_at IS NULL AND kid <> $1 RETURNING kid', [
      next.kid,
      retire.at,
      retire.verifyUntil,
    ]);
    return { rotated: true, signing: next.kid, ...(current ? { previous: current.kid } : {}), retired: retired.rows.map((r) => String(r.kid)).sort() };
  });
}

export async function retireSigningKey(q: Queryable, kid: string, retiredAt: number, verifyUntil: number): Promise<void> {
  const res = await q.query('UPDATE signing_keys SET retired_at = $2, verify_until = $3 WHERE kid = $1', [kid, retiredAt, verifyUntil]);
  if (res.rowCount === 0) throw new GatewayError('internal', `no signing key with kid ${kid}`);
}
