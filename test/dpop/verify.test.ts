import { base64url, SignJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { accessTokenHash, DpopNonces, generateDpopKey, ProofReplayCache, signProof, verifyProof, type DpopKey, type ProofCheck } from '../../src/dpop/index.js';

/** RFC 9449 §4.3, each check of a proof as src/dpop makes it: one misuse per row, with the reason named. */

const NOW = 1_800_000_000_000;
const URL_ = 'https://gw.example/mcp';
const TOKEN = 'access-token-1';
let key: DpopKey;
let other: DpopKey;
const nonces = new DpopNonces(Buffer.alloc(32, 1));

beforeAll(async () => {
  key = await generateDpopKey();
  other = await generateDpopKey();
});

const check = (over: Partial<ProofCheck> = {}): ProofCheck => {
  const replay = new ProofReplayCache();
  return { method: 'POST', url: URL_, accessToken: TOKEN, jkt: key.jkt, now: NOW, fresh: (jti, until) => replay.fresh(jti, until, NOW), ...over };
};
const proof = (over: Partial<Parameters<typeof signProof>[1]> = {}, k = key) => signProof(k, { htm: 'POST', htu: URL_, accessToken: TOKEN, now: NOW, ...over });

/** A proof with a hand-made header or payload (what signProof would never make). */
async function forged(header: Record<string, unknown>, payload: Record<string, unknown>, k = key) {
  return new SignJWT({ jti: 'jti-forged-123', htm: 'POST', htu: URL_, iat: NOW / 1000, ath: accessTokenHash(TOKEN), ...payload })
    .setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk: k.publicJwk, ...header } as never)
    .sign(k.privateKey);
}

describe('verifyProof', () => {
  it('a good proof: ok, with its key thumbprint', async () => {
    expect(await verifyProof(await proof(), check())).toMatchObject({ ok: true, jkt: key.jkt });
  });

  it.each<[string, () => Promise<string | null>, Partial<ProofCheck>, string, string]>([
    ['no header', async () => null, {}, 'invalid_dpop_proof', 'missing'],
    ['two proofs in one header', async () => `${await proof()}, ${await proof()}`, {}, 'invalid_dpop_proof', 'exactly one'],
    ['typ JWT', () => forged({ typ: 'JWT' }, {}), {}, 'invalid_dpop_proof', 'typ must be "dpop+jwt"'],
    ['no jwk', () => forged({ jwk: undefined }, {}), {}, 'invalid_dpop_proof', 'no jwk'],
    ['a private jwk', () => forged({ jwk: { ...key.publicJwk, d: 'AAAA' } }, {}), {}, 'invalid_dpop_proof', 'public key'],
    ['signed by another key than its jwk', () => forged({ jwk: other.publicJwk }, {}), {}, 'invalid_dpop_proof', 'signature does not verify'],
    ['wrong htm', () => proof({ htm: 'GET' }), {}, 'invalid_dpop_proof', 'htm'],
    ['wrong htu', () => proof({ htu: 'https://gw.example/other' }), {}, 'invalid_dpop_proof', 'htu'],
    ['iat in the future', () => proof({ now: NOW + 60_000 }), {}, 'invalid_dpop_proof', 'future'],
    ['too old', () => proof({ now: NOW - 120_000 }), {}, 'invalid_dpop_proof', 'too old'],
    ['no ath with a token', () => proof({ accessToken: undefined as never }), {}, 'invalid_dpop_proof', 'no ath'],
    ['ath of another token', () => proof({ accessToken: 'another-token' }), {}, 'invalid_dpop_proof', 'another access token'],
    ['another key than cnf.jkt', () => proof({}, other), {}, 'invalid_dpop_proof', 'another key'],
    ['no nonce when one is required', () => proof(), { nonce: (n) => nonces.valid(n, NOW) }, 'use_dpop_nonce', 'required'],
    ['a stale nonce', () => proof({ nonce: nonces.issue(NOW - 3_600_000) }), { nonce: (n) => nonces.valid(n, NOW) }, 'use_dpop_nonce', 'stale'],
    ['no jti', () => forged({}, { jti: undefined }), {}, 'invalid_dpop_proof', 'jti'],
  ])('%s', async (_name, make, over, error, words) => {
    const r = await verifyProof(await make(), check(over));
    expect(r.ok).toBe(false);
    expect(r).toMatchObject({ error });
    expect((r as { description: string }).description).toContain(words);
  });

  it('a replayed proof: the second use is refused', async () => {
    const c = check();
    const p = await proof();
    expect((await verifyProof(p, c)).ok).toBe(true);
    expect(await verifyProof(p, c)).toMatchObject({ ok: false, error: 'invalid_dpop_proof', description: expect.stringContaining('replayed') });
  });

  it('alg none and HMAC are refused before any signature check', async () => {
    const none = `${base64url.encode(JSON.stringify({ typ: 'dpop+jwt', alg: 'none', jwk: key.publicJwk }))}.${base64url.encode('{}')}.sig`;
    expect(await verifyProof(none, check())).toMatchObject({ ok: false, description: expect.stringContaining('alg must be one of') });
  });

  it('nonces: valid in their step and the next, from any instance with the secret; not after', () => {
    const n = nonces.issue(NOW);
    expect([nonces.valid(n, NOW), nonces.valid(n, NOW + 300_000), nonces.valid(n, NOW + 600_000)]).toEqual([true, true, false]);
    expect(new DpopNonces(Buffer.alloc(32, 1)).valid(n, NOW)).toBe(true);
    expect(new DpopNonces(Buffer.alloc(32, 2)).valid(n, NOW)).toBe(false);
    expect(nonces.valid(`${n}x`, NOW)).toBe(false);
  });
});
