/**
 * AccessTokenService remembers tokens it verified (by their exact text), so a client's repeated
 * token costs no ECDSA verification; everything that can change is still checked on every use.
 * Table-driven: what happens to a token that verified once, on its next use. Fake clock.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayError } from '../../../src/errors.js';
import { AccessTokenService } from '../../../src/inbound/http/tokens.js';
import { openStore, type Store } from '../../../src/store/index.js';

const ISSUER = 'https://gw.example';
const RESOURCE = `${ISSUER}/mcp`;
let clock = 1_800_000_000_000;
let store: Store;
let tokens: AccessTokenService;

beforeAll(async () => {
  // PostgreSQL where the machine has it; else the embedded store (tools/testkit/services.ts).
  const where =
    process.env.XAA_SKIP_POSTGRES === '1'
      ? { dataDir: mkdtempSync(join(tmpdir(), 'xaa-verify-cache-')) }
      : { databaseUrl: process.env.XAA_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test', dataDir: '/unused' };
  store = await openStore({
    ...where,
    schema: `verify_cache_${randomBytes(5).toString('hex')}`,
    encryptionKey: randomBytes(32).toString('base64'),
    now: () => clock,
  });
  tokens = new AccessTokenService({ store, deps: { now: () => clock }, issuer: ISSUER, resource: RESOURCE, ttlSeconds: () => 600 });
});
afterAll(async () => {
  const s = store as unknown as { sql: { schema: string; query(t: string): Promise<unknown> } };
  await s.sql.query(`DROP SCHEMA "${s.sql.schema}" CASCADE`).catch(() => {});
  await store?.close();
});

async function issued() {
  const session = await store.createUserSession({
    iss: 'https://idp.example',
    sub: `u-${randomBytes(3).toString('hex')}`,
    idToken: 'x',
    idTokenExpiresAt: clock + 3_600_000,
  });
  const { token, claims } = await tokens.issue({ sub: session.sub, idp_iss: session.iss, client_id: 'agent', sid: session.id, scope: 'mcp:tools' });
  return { token, claims, session };
}

const refusal = (p: Promise<unknown>) =>
  p.then(
    () => 'accepted',
    (e: unknown) => (e instanceof GatewayError ? `${e.code}: ${e.message}` : String(e)),
  );

describe('a token verified once, used again', () => {
  it.each([
    ['unchanged: accepted', async () => ({}), 'accepted'],
    [
      'its session signed out meanwhile',
      async ({ session }: Awaited<ReturnType<typeof issued>>) => void (await store.revokeUserSession(session.id, clock)),
      'invalid_token: session signed out',
    ],
    [
      'its jti revoked meanwhile',
      async ({ claims }: Awaited<ReturnType<typeof issued>>) => void (await store.revokeAccessToken(claims.jti, claims.exp * 1000)),
      'invalid_token: token revoked',
    ],
    [
      'its jti revoked as /revoke does, then the store purged 15 s past exp (still within the skew)',
      async ({ claims }: Awaited<ReturnType<typeof issued>>) => {
        await store.revokeAccessToken(claims.jti, tokens.acceptedUntil(claims));
        clock = (claims.exp + 15) * 1000;
        await store.purgeExpired(clock);
      },
      'invalid_token: token revoked',
    ],
    [
      'past exp + 30 s of skew',
      async ({ claims }: Awaited<ReturnType<typeof issued>>) => void (clock = (claims.exp + 30) * 1000),
      'invalid_token: token expired',
    ],
    [
      'its key retired and past verifyUntil',
      async () => {
        const r = await tokens.rotate();
        clock = r.verifyUntil;
      },
      'invalid_token: unknown signing key',
    ],
  ])('%s', async (_what, change, expected) => {
    const start = clock;
    const t = await issued();
    expect(await refusal(tokens.verify(t.token))).toBe('accepted');
    await change(t);
    expect(await refusal(tokens.verify(t.token))).toBe(expected);
    clock = start;
  });

  it('a forged copy (one byte of the signature changed) is not taken for the remembered token', async () => {
    const t = await issued();
    await tokens.verify(t.token);
    const last = t.token.at(-2) === 'A' ? 'B' : 'A';
    const forged = `${t.token.slice(0, -2)}${last}${t.token.at(-1)}`;
    expect(await refusal(tokens.verify(forged))).toBe('invalid_token: bad signature');
  });
});
