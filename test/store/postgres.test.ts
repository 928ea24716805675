/**
 * The contract against the machine's PostgreSQL. Unreachable PostgreSQL fails this file (it runs on
 * every machine and in CI); set XAA_SKIP_POSTGRES=1 to skip it knowingly.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIGRATIONS, openStore, type Store } from '../../src/store/index.js';
import { KEY, storeContract } from './contract.js';

const databaseUrl = process.env.XAA_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const skip = process.env.XAA_SKIP_POSTGRES === '1';
const schema = `store_test_${randomBytes(6).toString('hex')}`;
const raceSchema = `${schema}_race`;

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 5000 });
  try {
    await c.connect();
  } catch (err) {
    throw new Error(`PostgreSQL at ${databaseUrl} is unreachable (set XAA_SKIP_POSTGRES=1 to skip these tests): ${(err as Error).message}`, { cause: err });
  }
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

if (!skip) {
  beforeAll(() => admin(async (c) => void (await c.query('SELECT 1'))));
  afterAll(() => admin(async (c) => void (await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE; DROP SCHEMA IF EXISTS "${raceSchema}" CASCADE`))));
}

storeContract('PostgreSQL', (o) => openStore({ databaseUrl, dataDir: '/nonexistent-unused', schema, ...o }), { skip });

describe.skipIf(skip)('PostgreSQL: two gateway instances starting together', () => {
  it('migrate once under the advisory lock; both open', async () => {
    const open = () => openStore({ databaseUrl, dataDir: '/nonexistent-unused', schema: raceSchema, encryptionKey: KEY });
    const stores: Store[] = await Promise.all([open(), open(), open()]);
    try {
      const rows = await admin(async (c) => (await c.query(`SELECT version FROM "${raceSchema}".schema_migrations`)).rows);
      expect(rows.map((r) => Number(r.version)).sort((a, b) => a - b)).toEqual(MIGRATIONS.map((m) => m.version).sort((a, b) => a - b));
      const s = await stores[0]!.createUserSession({ iss: 'i', sub: 's', idToken: 't', idTokenExpiresAt: 1 });
      expect((await stores[2]!.getUserSession(s.id))?.idToken).toBe('t');
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it('an unreachable database is a clear store_unavailable error without the password', async () => {
    const err = await openStore({ databaseUrl: 'postgres://postgres:hunter2@127.0.0.1:1/test', dataDir: '/x', encryptionKey: KEY }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'store_unavailable' });
    expect((err as Error).message).toMatch(/PostgreSQL at 127\.0\.0\.1:1\/test/);
    expect((err as Error).message).not.toContain('hunter2');
  });
});
