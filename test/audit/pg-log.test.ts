import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAuditVerify } from '../../src/audit/cli.js';
import { openPgAuditLog, type PgAuditLog } from '../../src/audit/pg-log.js';
import { PgAuditSource } from '../../src/audit/pg-source.js';
import { queryAudit } from '../../src/audit/query.js';
import type { AuditRecord } from '../../src/audit/types.js';
import { REASON_HASH, REASON_PREV, verifyAuditDir } from '../../src/audit/verify.js';
import { clock, ev } from './helpers.js';

const databaseUrl = process.env.XAA_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = `audit_test_${randomBytes(6).toString('hex')}`;
const DAY = '2026-12-06';

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: databaseUrl });
  await c.connect();
  try {
    await c.query(`SET search_path TO "${schema}"`);
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** As a database owner who drops the guard: the trigger is disabled for this statement only. */
const tamper = (sql: string, params: unknown[] = []) =>
  admin(async (c) => {
    await c.query('BEGIN');
    await c.query('ALTER TABLE audit_records DISABLE TRIGGER USER');
    await c.query(sql, params);
    await c.query('ALTER TABLE audit_records ENABLE TRIGGER USER');
    await c.query('COMMIT');
  });

const logs: PgAuditLog[] = [];
async function open(instance: string, c = clock(`${DAY}T10:00:00Z`), extra: { onWarning?: (m: string) => void } = {}) {
  const log = await openPgAuditLog(c, { databaseUrl, schema, instance, ...extra });
  logs.push(log);
  return log;
}
const source = () => new PgAuditSource({ databaseUrl, schema });

beforeAll(async () => {
  await admin(async (c) => void (await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)));
});
afterAll(async () => {
  await Promise.all(logs.map((l) => l.close()));
  await admin(async (c) => void (await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)));
});

describe('PostgreSQL audit sink', () => {
  it('appends each instance\'s chain to audit_records; concurrent appends share commits; verify and query read every chain', async () => {
    const c = clock(`${DAY}T10:00:00Z`);
    const a = await open('pg-a', c);
    const b = await open('pg-b', c);
    const first = await a.append(ev(1));
    expect(first).toMatchObject({ instance: 'pg-a', seq: 1, prevHash: '0'.repeat(64) });
    c.set(`${DAY}T10:00:01Z`);
    const burst = await Promise.all(Array.from({ length: 40 }, (_, i) => b.append(ev(100 + i), { durability: i % 2 ? 'deferred' : 'sync' })));
    expect(burst.map((r) => r.seq)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    c.set(`${DAY}T10:00:02Z`);
    await a.append(ev(2));
    const rows = await admin((cl) => cl.query<{ instance: string; n: string }>('SELECT instance, count(*) AS n FROM audit_records GROUP BY instance ORDER BY instance'));
    expect(rows.rows).toEqual([{ instance: 'pg-a', n: '2' }, { instance: 'pg-b', n: '40' }]);

    const src = source();
    try {
      expect(await verifyAuditDir(src)).toMatchObject({ ok: true, count: 42, chains: [{ instance: 'pg-a', count: 2 }, { instance: 'pg-b', count: 40, head: { seq: 40, hash: burst[39]!.hash } }] });
      const merged: AuditRecord[] = [];
      for await (const r of queryAudit(src, { limit: 3 })) merged.push(r);
      expect(merged.map((r) => `${r.instance}:${r.traceId}`)).toEqual(['pg-a:t1', 'pg-b:t100', 'pg-b:t101']);
      const out: string[] = [];
      expect(await runAuditVerify(src, { stdout: (s) => out.push(s), stderr: (s) => out.push(s) })).toBe(0);
      expect(out[0]).toBe('OK: 42 records in 2 files in 2 chain(s), chain intact');
    } finally {
      await src.close();
    }
  });

  it('a restarted instance continues its chain from the table', async () => {
    const a = await open('pg-restart');
    await a.append(ev(1));
    await a.close();
    const again = await open('pg-restart');
    expect(await again.append(ev(2))).toMatchObject({ seq: 2 });
  });

  it.each([
    ['UPDATE', `UPDATE audit_records SET record = 'x' WHERE instance = 'pg-a'`],
    ['DELETE', `DELETE FROM audit_records WHERE instance = 'pg-a'`],
    ['TRUNCATE', 'TRUNCATE audit_records'],
  ])('refuses %s: the table is append-only', async (op, sql) => {
    await expect(admin((c) => c.query(sql))).rejects.toMatchObject({ code: '42501', message: `the audit tables are append-only (${op} on audit_records)` });
  });

  it('two live writers with one instance name never fork the chain: the loser re-reads the head and says why', async () => {
    const warnings: string[] = [];
    const x = await open('pg-twin', undefined, { onWarning: (m) => warnings.push(m) });
    const y = await open('pg-twin', undefined, { onWarning: (m) => warnings.push(m) });
    for (let i = 0; i < 10; i++) await Promise.all([x.append(ev(i)), y.append(ev(100 + i))]);
    expect(warnings.length).toBeGreaterThan(0);
    expect(warnings[0]).toMatch(/^audit chain "pg-twin" in .*: its head moved under this writer \(another live instance uses the name "pg-twin", or a commit was lost in a database crash\); continuing after seq \d+$/);
    const src = source();
    try {
      const r = await verifyAuditDir(src);
      expect(r.ok).toBe(true);
      expect(r.chains.find((c) => c.instance === 'pg-twin')).toMatchObject({ count: 20 });
    } finally {
      await src.close();
    }
  });

  it('a head lost with an unflushed commit (database crash) is re-read: no gap in the chain', async () => {
    const warnings: string[] = [];
    const a = await open('pg-lost', undefined, { onWarning: (m) => warnings.push(m) });
    await a.append(ev(1));
    await a.append(ev(2));
    await tamper(`DELETE FROM audit_records WHERE instance = 'pg-lost' AND seq = 2`);
    expect(await a.append(ev(3))).toMatchObject({ seq: 2 });
    expect(warnings).toHaveLength(1);
    const src = source();
    try {
      expect((await verifyAuditDir(src)).ok).toBe(true);
    } finally {
      await src.close();
    }
  });

  it.each([
    ['one changed byte', `UPDATE audit_records SET record = replace(record, '"tool-2"', '"tool-X"') WHERE instance = 'pg-tamper' AND seq = 2`, { line: 2, seq: 2, reason: REASON_HASH }],
    ['a deleted middle record', `DELETE FROM audit_records WHERE instance = 'pg-tamper' AND seq = 2`, { line: 3, seq: 3, reason: REASON_PREV }],
    ['two swapped records', `UPDATE audit_records a SET record = b.record, hash = b.hash FROM audit_records b
      WHERE a.instance = 'pg-tamper' AND b.instance = a.instance AND ((a.seq = 2 AND b.seq = 3) OR (a.seq = 3 AND b.seq = 2))`, { line: 2, seq: 3, reason: REASON_PREV }],
  ])('verify names the place of %s', async (_label, sql, broken) => {
    const instance = 'pg-tamper';
    const a = await open(instance);
    for (let i = 1; i <= 4; i++) await a.append(ev(i));
    await a.close();
    await tamper(sql);
    const src = source();
    try {
      const out: string[] = [];
      expect(await runAuditVerify(src, { stdout: (s) => out.push(s), stderr: (s) => out.push(s) })).toBe(1);
      expect(out[0]).toBe(`BROKEN: [${instance}] audit_records:${broken.line} (seq ${broken.seq}): ${broken.reason}`);
    } finally {
      await src.close();
    }
    await tamper(`DELETE FROM audit_records WHERE instance = $1`, [instance]);
  });

  it('an unreachable database: open and readiness fail naming it; appends fail closed', async () => {
    // A port nothing listens on.
    const dead = 'postgres://postgres@127.0.0.1:9/test';
    await expect(openPgAuditLog(clock(`${DAY}T10:00:00Z`), { databaseUrl: dead, schema, instance: 'pg-dead', queryTimeoutMs: 1000 })).rejects.toMatchObject({
      code: 'audit_unavailable',
      message: expect.stringMatching(/^cannot open the audit table in postgres:\/\/127\.0\.0\.1:9\/test \(schema audit_test_[0-9a-f]+\): .*ECONNREFUSED/),
    });
    const a = await open('pg-check');
    expect(await a.check()).toBeUndefined();
    await a.close();
    expect(await a.check()).toMatch(/is closed$/);
    await expect(a.append(ev(1))).rejects.toMatchObject({ code: 'audit_unavailable' });
  });
});
