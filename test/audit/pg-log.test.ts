import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runAuditVerify } from '../../src/audit/cli.js';
import { openPgAuditLog, type PgAuditLog } from '../../src/audit/pg-log.js';
import { PgAuditSource } from '../../src/audit/pg-source.js';
import { queryAudit, tailAudit } from '../../src/audit/query.js';
import type { AuditRecord } from '../../src/audit/types.js';
import { REASON_HASH, REASON_PREV, verifyAuditDir, wrongInstance } from '../../src/audit/verify.js';
import { GENESIS_HASH, recordHash } from '../../src/audit/chain.js';
import { Checkpointer } from '../../src/audit/checkpointer.js';
import { VALUES_MAX } from '../../src/audit/pg-round.js';
import { AuditSigningKey } from '../../src/audit/signing-key.js';
import { join } from 'node:path';
import { cleanup, clock, ev, tempDir } from './helpers.js';

const databaseUrl = process.env.XAA_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = `audit_test_${randomBytes(6).toString('hex')}`;
/** No PostgreSQL on this machine: skipped (tools/testkit/services.ts says so; mandatory under CI). */
const skipPostgres = process.env.XAA_SKIP_POSTGRES === '1';
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
    for (const t of ['audit_records', 'audit_checkpoints']) await c.query(`ALTER TABLE ${t} DISABLE TRIGGER USER`);
    await c.query(sql, params);
    for (const t of ['audit_records', 'audit_checkpoints']) await c.query(`ALTER TABLE ${t} ENABLE TRIGGER USER`);
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
  if (skipPostgres) return;
  await admin(async (c) => void (await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)));
});
afterAll(async () => {
  await Promise.all(logs.map((l) => l.close()));
  if (skipPostgres) return;
  await admin(async (c) => void (await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)));
});

describe.skipIf(skipPostgres)('PostgreSQL audit sink', () => {
  it("appends each instance's chain to audit_records; concurrent appends share commits; verify and query read every chain", async () => {
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
    const rows = await admin((cl) =>
      cl.query<{ instance: string; n: string }>('SELECT instance, count(*) AS n FROM audit_records GROUP BY instance ORDER BY instance'),
    );
    expect(rows.rows).toEqual([
      { instance: 'pg-a', n: '2' },
      { instance: 'pg-b', n: '40' },
    ]);

    const src = source();
    try {
      expect(await verifyAuditDir(src)).toMatchObject({
        ok: true,
        count: 42,
        chains: [
          { instance: 'pg-a', count: 2 },
          { instance: 'pg-b', count: 40, head: { seq: 40, hash: burst[39]!.hash } },
        ],
      });
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

  it('tail -f over the table follows every instance, also one that starts while it follows', async () => {
    const a = await open('pg-tail-a');
    await a.append(ev(1));
    const src = source();
    const ac = new AbortController();
    const seen: string[] = [];
    const following = (async () => {
      // Every record so far, then new ones: each of the three shows once, whether it was written before the
      // tail took its cursors (printed first) or after (followed).
      for await (const r of tailAudit(src, { lines: 100_000, follow: true, signal: ac.signal, pollMs: 10 })) {
        if (!String(r.instance).startsWith('pg-tail-')) continue;
        seen.push(`${r.instance}:${r.traceId}`);
        if (seen.length === 3) ac.abort();
      }
    })();
    const b = await open('pg-tail-b');
    await b.append(ev(2));
    await a.append(ev(3));
    await following;
    await src.close();
    expect(seen.sort()).toEqual(['pg-tail-a:t1', 'pg-tail-a:t3', 'pg-tail-b:t2']);
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
    expect(warnings[0]).toMatch(
      /^audit chain "pg-twin" in .*: its head moved under this writer \(another live instance uses the name "pg-twin", or a commit was lost in a database crash\); continuing after seq \d+$/,
    );
    const src = source();
    try {
      const r = await verifyAuditDir(src);
      expect(r.ok).toBe(true);
      expect(r.chains.find((c) => c.instance === 'pg-twin')).toMatchObject({ count: 20 });
    } finally {
      await src.close();
    }
  });

  // Rounds up to VALUES_MAX records go out as a VALUES list, larger ones as arrays (pg-round.ts): both link
  // only to the chain's head.
  it.each([1, 2, VALUES_MAX, VALUES_MAX + 1, 3 * VALUES_MAX])(
    'a head lost with an unflushed commit (database crash) is re-read before a round of %i record(s): no gap in the chain',
    async (n) => {
      const warnings: string[] = [];
      const instance = `pg-lost-${n}`;
      const a = await open(instance, undefined, { onWarning: (m) => warnings.push(m) });
      await Promise.all(Array.from({ length: n }, (_, i) => a.append(ev(i))));
      await a.append(ev(100));
      await tamper(`DELETE FROM audit_records WHERE instance = $1 AND seq = $2`, [instance, n + 1]);
      const round = await Promise.all(Array.from({ length: n }, (_, i) => a.append(ev(200 + i))));
      expect(round.map((r) => r.seq)).toEqual(Array.from({ length: n }, (_, i) => n + 1 + i));
      expect(warnings).toHaveLength(1);
      const src = source();
      try {
        const r = await verifyAuditDir(src);
        expect(r.ok).toBe(true);
        expect(r.chains.find((c) => c.instance === instance)).toMatchObject({ count: 2 * n, head: { seq: 2 * n, hash: round.at(-1)!.hash } });
      } finally {
        await src.close();
      }
    },
  );

  it('a round connection killed while idle is opened again: the next append commits, after the head read anew', async () => {
    const a = await open('pg-reconnect');
    await a.append(ev(1));
    // This instance's round connection (its application_name names the instance; the round, its last statement).
    const pids = await admin(async (c) => {
      const { rows } = await c.query<{ pid: number }>(
        `SELECT pid FROM pg_stat_activity WHERE application_name = 'xaa-gateway-audit pg-reconnect' AND query LIKE 'INSERT INTO audit_records%'`,
      );
      for (const { pid } of rows) await c.query('SELECT pg_terminate_backend($1)', [pid]);
      return rows.map((r) => r.pid);
    });
    expect(pids).toHaveLength(1);
    // Gone from the server: the connection's end reached this process in the same round trips.
    await vi.waitFor(async () => expect((await admin((c) => c.query('SELECT 1 FROM pg_stat_activity WHERE pid = ANY($1)', [pids]))).rowCount).toBe(0));
    await expect(a.append(ev(2))).resolves.toMatchObject({ seq: 2 });
    expect(await a.append(ev(3))).toMatchObject({ seq: 3 });
  });

  it.each([
    [
      'one changed byte',
      `UPDATE audit_records SET record = replace(record, '"tool-2"', '"tool-X"') WHERE instance = 'pg-tamper' AND seq = 2`,
      { line: 2, seq: 2, reason: REASON_HASH },
    ],
    ['a deleted middle record', `DELETE FROM audit_records WHERE instance = 'pg-tamper' AND seq = 2`, { line: 3, seq: 3, reason: REASON_PREV }],
    [
      'two swapped records',
      `UPDATE audit_records a SET record = b.record, hash = b.hash FROM audit_records b
      WHERE a.instance = 'pg-tamper' AND b.instance = a.instance AND ((a.seq = 2 AND b.seq = 3) OR (a.seq = 3 AND b.seq = 2))`,
      { line: 2, seq: 3, reason: REASON_PREV },
    ],
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

describe.skipIf(skipPostgres)('PostgreSQL audit sink: signed checkpoints, tampering by a database owner', () => {
  let key: AuditSigningKey;
  beforeAll(async () => {
    key = await AuditSigningKey.load(join(await tempDir(), 'audit-signing-key.json'));
  });
  afterAll(cleanup);

  /** Records 1-3, checkpoint 1 (seq 3) and its record (seq 4), records 5-8, the final checkpoint 2 (seq 8). */
  async function signedChain(instance: string): Promise<void> {
    const c = clock(`${DAY}T10:00:00Z`);
    const log = await openPgAuditLog(c, { databaseUrl, schema, instance });
    const cp = new Checkpointer({
      sink: log,
      key,
      intervalMs: 60_000,
      now: c.now,
      onError: (e) => {
        throw e;
      },
    });
    for (let i = 1; i <= 7; i++) {
      c.set(new Date(Date.parse(`${DAY}T10:00:00Z`) + i * 1000).toISOString());
      await log.append(ev(i));
      if (i === 3) await cp.checkpoint();
    }
    await cp.stop();
    await log.close();
  }

  const rows: Array<[string, (i: string) => string, string | RegExp]> = [
    [
      'one changed byte',
      (i) => `UPDATE audit_records SET record = replace(record, '"tool-2"', '"tool-X"') WHERE instance = '${i}' AND seq = 2`,
      `audit_records:2 (seq 2): ${REASON_HASH}`,
    ],
    ['a deleted middle record', (i) => `DELETE FROM audit_records WHERE instance = '${i}' AND seq = 3`, `audit_records:4 (seq 4): ${REASON_PREV}`],
    [
      'two swapped records',
      (i) =>
        `UPDATE audit_records a SET record = b.record, hash = b.hash FROM audit_records b WHERE a.instance = '${i}' AND b.instance = a.instance AND ((a.seq = 5 AND b.seq = 6) OR (a.seq = 6 AND b.seq = 5))`,
      `audit_records:5 (seq 6): ${REASON_PREV}`,
    ],
    [
      'the last record deleted',
      (i) => `DELETE FROM audit_records WHERE instance = '${i}' AND seq = 8`,
      'audit_records:7 (seq 7): checkpoint 2 signed the chain up to seq 8, but it ends at seq 7: records 8..8 were cut off',
    ],
    [
      'the last 3 records deleted',
      (i) => `DELETE FROM audit_records WHERE instance = '${i}' AND seq > 5`,
      'audit_records:5 (seq 5): checkpoint 2 signed the chain up to seq 8, but it ends at seq 5: records 6..8 were cut off',
    ],
    [
      'the last record cut in half',
      (i) => `UPDATE audit_records SET record = left(record, 100) WHERE instance = '${i}' AND seq = 8`,
      /^audit_records:8 \(seq 7\): checkpoint 2 signed the chain up to seq 8, but it ends at seq 7: records 8\.\.8 were cut off; the record at seq 8 is cut short/,
    ],
    [
      'a checkpoint removed',
      (i) => `DELETE FROM audit_checkpoints WHERE instance = '${i}' AND n = 1`,
      'audit_checkpoints:2: checkpoint 2 does not follow checkpoint 0 (a checkpoint was removed, inserted or reordered)',
    ],
    [
      'every checkpoint removed',
      (i) => `DELETE FROM audit_checkpoints WHERE instance = '${i}'`,
      'audit_records:4 (seq 4): the chain records checkpoint 1, which is missing from audit_checkpoints (removed or replaced)',
    ],
  ];

  it.each(rows)('%s: detected, exit 1, the place named', async (label, sql, expected) => {
    const instance = `pg-sig-${rows.findIndex((r) => r[0] === label)}`;
    await signedChain(instance);
    await tamper(sql(instance));
    const src = source();
    try {
      const out: string[] = [];
      expect(await runAuditVerify(src, { stdout: (x) => out.push(x), stderr: (x) => out.push(x) }, { keys: key.jwks })).toBe(1);
      const line = out.find((l) => l.startsWith(`BROKEN: [${instance}] `));
      expect(line?.slice(`BROKEN: [${instance}] `.length)).toEqual(typeof expected === 'string' ? expected : expect.stringMatching(expected));
    } finally {
      await src.close();
      // Out of the way of the next row: the table holds every row's chain.
      await tamper(`DELETE FROM audit_records WHERE instance = '${instance}'`);
      await tamper(`DELETE FROM audit_checkpoints WHERE instance = '${instance}'`);
    }
  });

  it('a chain rewritten with fresh hashes (every row re-sealed) is caught by the checkpoint signatures', async () => {
    const instance = 'pg-sig-rehash';
    await signedChain(instance);
    // What someone with the database but not the signing key can do: re-seal every record.
    const rows = await admin((c) =>
      c.query<{ seq: string; record: string }>(`SELECT seq, record FROM audit_records WHERE instance = $1 ORDER BY seq`, [instance]),
    );
    let prev = GENESIS_HASH;
    for (const r of rows.rows) {
      const { hash: _h, ...rec } = JSON.parse(r.record) as Record<string, unknown>;
      if (rec.seq === 2) rec.tool = 'tool-X';
      rec.prevHash = prev;
      const hash = recordHash(rec);
      prev = hash;
      await tamper(`UPDATE audit_records SET record = $1, hash = $2 WHERE instance = $3 AND seq = $4`, [
        JSON.stringify({ ...rec, hash }),
        hash,
        instance,
        r.seq,
      ]);
    }
    const src = source();
    try {
      const out: string[] = [];
      expect(await runAuditVerify(src, { stdout: (x) => out.push(x), stderr: (x) => out.push(x) }, { keys: key.jwks })).toBe(1);
      expect(out.find((l) => l.startsWith(`BROKEN: [${instance}]`))).toMatch(
        /^BROKEN: \[pg-sig-rehash\] audit_records:3 \(seq 3\): checkpoint 1 signed hash [0-9a-f]{16}… at seq 3, the chain has [0-9a-f]{16}… there: the chain was rewritten after it was signed$/,
      );
    } finally {
      await src.close();
      await tamper(`DELETE FROM audit_records WHERE instance = $1`, [instance]);
      await tamper(`DELETE FROM audit_checkpoints WHERE instance = $1`, [instance]);
    }
  });

  it("a record moved to another instance's chain is a break naming both", async () => {
    await signedChain('pg-sig-a');
    await signedChain('pg-sig-b');
    await tamper(
      `INSERT INTO audit_records (instance, seq, time, record, hash) SELECT 'pg-sig-b', 9, time, record, hash FROM audit_records WHERE instance = 'pg-sig-a' AND seq = 5`,
    );
    const src = source();
    try {
      const out: string[] = [];
      expect(await runAuditVerify(src, { stdout: (x) => out.push(x), stderr: (x) => out.push(x) }, { keys: key.jwks })).toBe(1);
      expect(out.find((l) => l.startsWith('BROKEN: [pg-sig-b]'))).toBe(`BROKEN: [pg-sig-b] audit_records:9 (seq 5): ${wrongInstance('pg-sig-a', 'pg-sig-b')}`);
    } finally {
      await src.close();
    }
  });
});
