import { appendFile, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GENESIS_HASH } from '../../src/audit/chain.js';
import { runAuditVerify } from '../../src/audit/cli.js';
import { RECOVERY_EVENT_TYPE, openAuditLog } from '../../src/audit/file-log.js';
import type { AuditRecord } from '../../src/audit/types.js';
import { REASON_JSON, verifyAuditDir } from '../../src/audit/verify.js';
import { GatewayError } from '../../src/errors.js';
import { cleanup, clock, ev, faultyFs, osError, readLinesOf, tempDir } from './helpers.js';

afterAll(cleanup);

const DAY = '2025-03-01';
const FILE = `audit-${DAY}.jsonl`;

describe('FileAuditLog: the chain', () => {
  it('writes records with time, id, seq from 1 and prevHash links; dir 0700, files 0600', async () => {
    const dir = join(await tempDir(), 'nested', 'audit');
    const log = await openAuditLog(dir, clock(`${DAY}T10:00:00Z`));
    const a = await log.append(ev(1));
    const b = await log.append(ev(2, { note: undefined, nested: { z: 1, a: [1, 'x'] } }));
    await log.close();
    expect(a).toMatchObject({ seq: 1, prevHash: GENESIS_HASH, time: `${DAY}T10:00:00.000Z`, type: 'tool_call', traceId: 't1' });
    expect(a.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(a.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(b).toMatchObject({ seq: 2, prevHash: a.hash });
    expect(b).not.toHaveProperty('note');
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect((await stat(join(dir, FILE))).mode & 0o777).toBe(0o600);
    const lines = (await readLinesOf(join(dir, FILE))).map((l) => JSON.parse(l) as AuditRecord);
    expect(lines).toEqual([a, b]);
    expect(await verifyAuditDir(dir)).toMatchObject({ ok: true, count: 2, files: 1, head: { seq: 2, hash: b.hash } });
  });

  it('reopening continues seq and prevHash from the last record', async () => {
    const dir = await tempDir();
    const c = clock(`${DAY}T10:00:00Z`);
    let log = await openAuditLog(dir, c);
    await log.append(ev(1));
    const last = await log.append(ev(2));
    await log.close();
    log = await openAuditLog(dir, c);
    expect(log.head).toEqual({ seq: 2, hash: last.hash });
    expect(await log.append(ev(3))).toMatchObject({ seq: 3, prevHash: last.hash });
    await log.close();
    expect(await verifyAuditDir(dir)).toMatchObject({ ok: true, count: 3 });
  });

  it('rolls over to one file per UTC day, the chain continuing across files', async () => {
    const dir = await tempDir();
    const c = clock('2025-03-01T23:59:58Z');
    let log = await openAuditLog(dir, c);
    await log.append(ev(1));
    await log.append(ev(2));
    c.set('2025-03-02T00:00:00Z');
    await log.append(ev(3));
    c.set('2025-03-04T08:00:00+02:00'); // 06:00Z: still the 4th in UTC
    const r4 = await log.append(ev(4));
    await log.close();
    expect(await readdir(dir)).toEqual(['audit-2025-03-01.jsonl', 'audit-2025-03-02.jsonl', 'audit-2025-03-04.jsonl']);
    expect((await readLinesOf(join(dir, 'audit-2025-03-02.jsonl'))).map((l) => (JSON.parse(l) as AuditRecord).seq)).toEqual([3]);
    expect(await verifyAuditDir(dir)).toMatchObject({ ok: true, count: 4, files: 3 });

    // Reopen days later; and a clock stepped back never writes into an earlier-named file.
    c.set('2025-03-05T01:00:00Z');
    log = await openAuditLog(dir, c);
    expect(await log.append(ev(5))).toMatchObject({ seq: 5, prevHash: r4.hash });
    c.set('2025-03-03T12:00:00Z');
    expect(await log.append(ev(6))).toMatchObject({ seq: 6, time: '2025-03-03T12:00:00.000Z' });
    await log.close();
    expect(await readdir(dir)).not.toContain('audit-2025-03-03.jsonl');
    expect((await readLinesOf(join(dir, 'audit-2025-03-05.jsonl'))).length).toBe(2);
    expect(await verifyAuditDir(dir)).toMatchObject({ ok: true, count: 6, files: 4 });
  });

  it('one group-commit round that spans midnight splits across the two files', async () => {
    const dir = await tempDir();
    let t = Date.parse('2025-03-01T23:59:59.998Z');
    const log = await openAuditLog(dir, { now: () => t++ });
    const records = await Promise.all([1, 2, 3, 4].map((i) => log.append(ev(i))));
    await log.close();
    expect(records.map((r) => r.seq)).toEqual([1, 2, 3, 4]);
    expect(await readdir(dir)).toEqual(['audit-2025-03-01.jsonl', 'audit-2025-03-02.jsonl']);
    expect(await verifyAuditDir(dir)).toMatchObject({ ok: true, count: 4, files: 2 });
  });

  it('rejects an event that sets a chain field, or is not JSON, without touching the chain', async () => {
    const dir = await tempDir();
    const log = await openAuditLog(dir, clock(`${DAY}T10:00:00Z`));
    await expect(log.append({ ...ev(1), seq: 7 })).rejects.toMatchObject({ code: 'internal', message: 'audit event must not set the chain field "seq"' });
    await expect(log.append({ ...ev(1), big: 1n })).rejects.toMatchObject({ code: 'internal' });
    expect(await log.append(ev(2))).toMatchObject({ seq: 1 });
    await log.close();
    await expect(log.append(ev(3))).rejects.toMatchObject({ code: 'audit_unavailable', message: `audit log ${dir} is closed` });
  });
});

describe('FileAuditLog: deferred durability (outcome records)', () => {
  it.each([
    [
      'a deferred record resolves once written; the next sync round makes it durable with its own fsync',
      async (log: Awaited<ReturnType<typeof openAuditLog>>, fs: ReturnType<typeof faultyFs>) => {
        await log.append(ev(1), { durability: 'deferred' });
        const afterDeferred = fs.fileSyncs;
        await log.append(ev(2)); // a decision: one fsync covers both
        return { afterDeferred, afterSync: fs.fileSyncs };
      },
      { afterDeferred: 0, afterSync: 1 },
    ],
    [
      'alone, it is synced by the deferred-sync timer',
      async (log: Awaited<ReturnType<typeof openAuditLog>>, fs: ReturnType<typeof faultyFs>) => {
        await log.append(ev(1), { durability: 'deferred' });
        const afterDeferred = fs.fileSyncs;
        while (fs.fileSyncs === afterDeferred) await new Promise((r) => setTimeout(r, 5));
        return { afterDeferred, afterSync: fs.fileSyncs };
      },
      { afterDeferred: 0, afterSync: 1 },
    ],
    [
      'close syncs what is still deferred',
      async (log: Awaited<ReturnType<typeof openAuditLog>>, fs: ReturnType<typeof faultyFs>) => {
        await log.append(ev(1), { durability: 'deferred' });
        const afterDeferred = fs.fileSyncs;
        await log.close();
        return { afterDeferred, afterSync: fs.fileSyncs };
      },
      { afterDeferred: 0, afterSync: 1 },
    ],
  ])('%s', async (_what, run, expected) => {
    const dir = await tempDir();
    const fs = faultyFs();
    const log = await openAuditLog(dir, clock(`${DAY}T10:00:00Z`), { fs, deferredSyncMs: 20 });
    const before = fs.fileSyncs;
    const got = await run(log, fs);
    await log.close();
    expect({ afterDeferred: got.afterDeferred - before, afterSync: got.afterSync - before }).toEqual(expected);
    expect(await verifyAuditDir(dir)).toMatchObject({ ok: true });
  });

  it('a deferred record whose write fails is rejected and never joins the chain', async () => {
    const dir = await tempDir();
    const fs = faultyFs();
    const log = await openAuditLog(dir, clock(`${DAY}T10:00:00Z`), { fs });
    fs.failWrite = { error: osError('ENOSPC', 'no space left on device'), mode: 'half' };
    await expect(log.append(ev(1), { durability: 'deferred' })).rejects.toMatchObject({ code: 'audit_unavailable' });
    fs.failWrite = undefined;
    expect((await log.append(ev(2))).seq).toBe(1);
    await log.close();
    expect(await verifyAuditDir(dir)).toMatchObject({ ok: true, count: 1 });
  });
});

describe('FileAuditLog: group commit', () => {
  it('100 concurrent appends -> seq 1..100 in call order, valid chain, fewer fsyncs than records', async () => {
    const dir = await tempDir();
    const fs = faultyFs();
    const log = await openAuditLog(dir, clock(`${DAY}T10:00:00Z`), { fs });
    const records = await Promise.all(Array.from({ length: 100 }, (_, i) => log.append(ev(i + 1))));
    await log.close();
    expect(records.map((r) => r.seq)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    expect(records.map((r) => r.traceId)).toEqual(Array.from({ length: 100 }, (_, i) => `t${i + 1}`));
    expect(await verifyAuditDir(dir)).toMatchObject({ ok: true, count: 100 });
    expect(fs.fileSyncs).toBeGreaterThan(0);
    expect(fs.fileSyncs).toBeLessThan(100);
  });

  it('appends queued while an fsync runs go out together in the next round', async () => {
    const dir = await tempDir();
    const fs = faultyFs();
    const log = await openAuditLog(dir, clock(`${DAY}T10:00:00Z`), { fs });
    let release!: () => void;
    fs.syncGate = new Promise((r) => (release = r));
    const first = log.append(ev(0));
    while (fs.fileSyncs === 0) await new Promise((r) => setImmediate(r)); // round 1 is in its fsync
    let settled = 0;
    const rest = Array.from({ length: 10 }, (_, i) => log.append(ev(i + 1)).finally(() => settled++));
    await new Promise((r) => setTimeout(r, 20));
    expect(settled).toBe(0); // nothing resolves before its fsync
    release();
    const all = await Promise.all([first, ...rest]);
    await log.close();
    expect(all.map((r) => r.seq)).toEqual(Array.from({ length: 11 }, (_, i) => i + 1));
    expect({ writes: fs.writes, fileSyncs: fs.fileSyncs }).toEqual({ writes: 2, fileSyncs: 2 });
  });
});

describe('FileAuditLog: fail closed', () => {
  const faults = [
    {
      name: 'write fails (ENOSPC)',
      set: (fs: ReturnType<typeof faultyFs>) => (fs.failWrite = { error: osError('ENOSPC', 'no space left on device, write'), mode: 'all' }),
      os: 'ENOSPC',
    },
    {
      name: 'write fails after half the bytes (ENOSPC)',
      set: (fs: ReturnType<typeof faultyFs>) => (fs.failWrite = { error: osError('ENOSPC', 'no space left on device, write'), mode: 'half' }),
      os: 'ENOSPC',
    },
    { name: 'fsync fails (EIO)', set: (fs: ReturnType<typeof faultyFs>) => (fs.failSync = osError('EIO', 'i/o error, fsync')), os: 'EIO' },
  ];

  it.each(faults)('$name: append rejects with audit_unavailable, nothing half-chained, recovers after', async ({ set, os }) => {
    const dir = await tempDir();
    const fs = faultyFs();
    const warnings: string[] = [];
    const log = await openAuditLog(dir, clock(`${DAY}T10:00:00Z`), { fs, onWarning: (w) => warnings.push(w) });
    await log.append(ev(1));
    const second = await log.append(ev(2));
    const before = await readFile(join(dir, FILE));

    set(fs);
    const failed = await Promise.allSettled([log.append(ev(3)), log.append(ev(4))]);
    for (const f of failed) {
      expect(f.status).toBe('rejected');
      const err = (f as PromiseRejectedResult).reason as GatewayError;
      expect(err).toBeInstanceOf(GatewayError);
      expect(err.code).toBe('audit_unavailable');
      expect(err.message).toBe(`cannot write audit log in ${dir} (${FILE}): ${os}: ${os === 'EIO' ? 'i/o error, fsync' : 'no space left on device, write'}`);
      expect(err.details).toEqual({ dir, osError: os });
    }
    expect(await readFile(join(dir, FILE))).toEqual(before);
    expect(log.head).toEqual({ seq: 2, hash: second.hash });

    fs.failWrite = undefined;
    fs.failSync = undefined;
    expect(await log.append(ev(5))).toMatchObject({ seq: 3, prevHash: second.hash, traceId: 't5' });
    await log.close();
    expect(await verifyAuditDir(dir)).toMatchObject({ ok: true, count: 3 });
    expect(warnings).toEqual([]);
  });

  it('a directory whose parent is a regular file: open rejects naming the dir and ENOTDIR', async () => {
    const base = await tempDir();
    await writeFile(join(base, 'file'), 'x');
    const dir = join(base, 'file', 'audit');
    const err = await openAuditLog(dir, clock(`${DAY}T10:00:00Z`)).catch((e: unknown) => e as GatewayError);
    expect(err).toBeInstanceOf(GatewayError);
    expect(err).toMatchObject({ code: 'audit_unavailable', details: { dir, osError: 'ENOTDIR' } });
    expect((err as GatewayError).message).toMatch(new RegExp(`^cannot create audit log directory ${dir}: ENOTDIR`));
  });

  it("a real write failure (the new day's file path is a directory): rejects, then continues once fixed", async () => {
    const dir = await tempDir();
    const c = clock(`${DAY}T10:00:00Z`);
    const log = await openAuditLog(dir, c);
    const r1 = await log.append(ev(1));
    await mkdir(join(dir, 'audit-2025-03-02.jsonl'));
    c.set('2025-03-02T00:00:01Z');
    await expect(log.append(ev(2))).rejects.toMatchObject({
      code: 'audit_unavailable',
      message: expect.stringMatching(new RegExp(`^cannot write audit log in ${dir} \\(audit-2025-03-02.jsonl\\): EISDIR`)),
    });
    await rm(join(dir, 'audit-2025-03-02.jsonl'), { recursive: true });
    expect(await log.append(ev(3))).toMatchObject({ seq: 2, prevHash: r1.hash, traceId: 't3' });
    await log.close();
    expect(await verifyAuditDir(dir)).toMatchObject({ ok: true, count: 2, files: 2 });
  });

  it('the directory removed under a running log: the next file cannot be created (ENOENT)', async () => {
    const dir = await tempDir();
    const c = clock(`${DAY}T10:00:00Z`);
    const log = await openAuditLog(dir, c);
    await log.append(ev(1));
    await rm(dir, { recursive: true });
    c.set('2025-03-02T10:00:00Z');
    await expect(log.append(ev(2))).rejects.toMatchObject({
      code: 'audit_unavailable',
      message: expect.stringMatching(new RegExp(`^cannot (write|read) audit log.* ${dir}.*: ENOENT`)),
    });
    await log.close();
  });

  it('refuses to extend a log whose last record was modified', async () => {
    const dir = await tempDir();
    const c = clock(`${DAY}T10:00:00Z`);
    const log = await openAuditLog(dir, c);
    await log.append(ev(1));
    await log.append(ev(2));
    await log.close();
    const path = join(dir, FILE);
    await writeFile(path, (await readFile(path, 'utf8')).replace('"traceId":"t2"', '"traceId":"tX"'));
    await expect(openAuditLog(dir, c)).rejects.toMatchObject({
      code: 'audit_unavailable',
      message: expect.stringContaining(`${FILE}:2 is not a valid record (hash mismatch (record was modified))`),
    });
  });
});

describe('FileAuditLog: torn tail (crash mid-write)', () => {
  it('keeps the torn line, chains from the last valid record on a fresh line, and verify says so', async () => {
    const dir = await tempDir();
    const c = clock(`${DAY}T10:00:00Z`);
    let log = await openAuditLog(dir, c);
    for (let i = 1; i <= 5; i++) await log.append(ev(i));
    const fifth = log.head;
    await log.close();
    const path = join(dir, FILE);
    const full = (await readLinesOf(path))[4]!;
    const half = full.slice(0, Math.floor(full.length / 2));
    await appendFile(path, half); // the crash

    expect(await verifyAuditDir(dir)).toMatchObject({ ok: true, count: 5, files: 1, head: fifth, tornTail: { file: FILE, line: 6 } });

    const warnings: string[] = [];
    log = await openAuditLog(dir, c, { onWarning: (w) => warnings.push(w) });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(`torn line ${FILE}:6 (${half.length} bytes)`);
    expect(log.warnings).toEqual(warnings);
    const r7 = await log.append(ev(7));
    await log.close();

    const lines = await readLinesOf(path);
    expect(lines).toHaveLength(8);
    expect(lines[5]).toBe(half); // evidence kept, byte for byte
    const recovery = JSON.parse(lines[6]!) as AuditRecord;
    expect(recovery).toMatchObject({
      type: RECOVERY_EVENT_TYPE,
      seq: 6,
      prevHash: fifth.hash,
      recovered: { afterSeq: 5, torn: [{ file: FILE, line: 6, bytes: half.length }] },
    });
    expect(r7).toMatchObject({ seq: 7, prevHash: recovery.hash });

    expect(await verifyAuditDir(dir)).toMatchObject({ ok: true, count: 7, files: 1, head: { seq: 7, hash: r7.hash }, recovered: [{ file: FILE, line: 6 }] });
    const out: string[] = [];
    const err: string[] = [];
    expect(await runAuditVerify(dir, { stdout: (s) => out.push(s), stderr: (s) => err.push(s) })).toBe(0);
    expect(out).toEqual([
      'OK: 7 records in 1 files, chain intact',
      `head: seq 7, hash ${r7.hash} (compare with a copy kept off this host to detect a cut end)`,
    ]);
    expect(err).toEqual([`note: torn line(s) from an interrupted write at ${FILE}:6, covered by a recovery record`]);

    // The torn bytes are bound to the recovery record: changing them afterwards is a break.
    await writeFile(path, lines.map((l, i) => `${i === 5 ? `${half.slice(0, -1)}#` : l}\n`).join(''));
    expect(await verifyAuditDir(dir)).toMatchObject({ ok: false, count: 5, broken: { file: FILE, line: 6, reason: REASON_JSON } });
  });

  it('a torn line that is the only content of the newest day file chains from the previous file', async () => {
    const dir = await tempDir();
    const c = clock(`${DAY}T10:00:00Z`);
    let log = await openAuditLog(dir, c);
    const r1 = await log.append(ev(1));
    await log.close();
    await writeFile(join(dir, 'audit-2025-03-02.jsonl'), '{"seq":2,"ti');
    c.set('2025-03-02T10:00:00Z');
    log = await openAuditLog(dir, c, { onWarning: () => {} });
    expect(log.head).toMatchObject({ seq: 2 }); // the recovery record
    await log.append(ev(3));
    await log.close();
    const lines = await readLinesOf(join(dir, 'audit-2025-03-02.jsonl'));
    expect(lines[0]).toBe('{"seq":2,"ti');
    expect(JSON.parse(lines[1]!)).toMatchObject({ type: RECOVERY_EVENT_TYPE, seq: 2, prevHash: r1.hash });
    expect(await verifyAuditDir(dir)).toMatchObject({ ok: true, count: 3, files: 2, recovered: [{ file: 'audit-2025-03-02.jsonl', line: 1 }] });
  });

  it('a complete last record missing only its newline is kept as a record; the next one starts on a fresh line', async () => {
    const dir = await tempDir();
    const c = clock(`${DAY}T10:00:00Z`);
    let log = await openAuditLog(dir, c);
    await log.append(ev(1));
    const r2 = await log.append(ev(2));
    await log.close();
    const path = join(dir, FILE);
    await writeFile(path, (await readFile(path, 'utf8')).slice(0, -1));
    expect(await verifyAuditDir(dir)).toMatchObject({ ok: true, count: 2 });
    const warnings: string[] = [];
    log = await openAuditLog(dir, c, { onWarning: (w) => warnings.push(w) });
    expect(await log.append(ev(3))).toMatchObject({ seq: 3, prevHash: r2.hash });
    await log.close();
    expect(warnings).toEqual([]);
    expect(await readLinesOf(path)).toHaveLength(3);
    expect(await verifyAuditDir(dir)).toMatchObject({ ok: true, count: 3 });
  });

  it('a write cut half-way that could not be truncated is recovered at the next append', async () => {
    const dir = await tempDir();
    const fs = faultyFs();
    const log = await openAuditLog(dir, clock(`${DAY}T10:00:00Z`), { fs, onWarning: () => {} });
    const r1 = await log.append(ev(1));
    // The disk fills mid-write and the file cannot be truncated back either.
    fs.failTruncate = osError('EIO', 'i/o error, ftruncate');
    fs.failWrite = { error: osError('ENOSPC', 'no space left on device, write'), mode: 'half' };
    await expect(log.append(ev(2))).rejects.toMatchObject({ code: 'audit_unavailable' });
    fs.failWrite = undefined;
    fs.failTruncate = undefined;
    const r3 = await log.append(ev(3));
    await log.close();
    expect(r3).toMatchObject({ seq: 3, traceId: 't3' }); // seq 2: the recovery record for the torn half-line
    const lines = await readLinesOf(join(dir, FILE));
    expect(JSON.parse(lines[2]!)).toMatchObject({ type: RECOVERY_EVENT_TYPE, seq: 2, prevHash: r1.hash, recovered: { torn: [{ line: 2 }] } });
    expect(log.warnings).toHaveLength(1);
    expect(await verifyAuditDir(dir)).toMatchObject({ ok: true, count: 3, recovered: [{ file: FILE, line: 2 }] });
  });
});
