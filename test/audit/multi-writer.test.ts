import { execFile, spawn } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { openAuditLog } from '../../src/audit/file-log.js';
import type { AuditRecord } from '../../src/audit/types.js';
import { verifyAuditDir } from '../../src/audit/verify.js';
import { GatewayError } from '../../src/errors.js';
import { cleanup, clock, ev, readLinesOf, tempDir } from './helpers.js';

afterAll(cleanup);

const DAY = '2025-03-01';
const FILE = `audit-${DAY}.jsonl`;
const CHILD = fileURLToPath(new URL('./fixtures/append-child.ts', import.meta.url));
const run = promisify(execFile);

async function allRecords(dir: string): Promise<AuditRecord[]> {
  const out: AuditRecord[] = [];
  for (const name of (await readdir(dir)).filter((n) => n.endsWith('.jsonl')).sort()) {
    out.push(...(await readLinesOf(join(dir, name))).map((l) => JSON.parse(l) as AuditRecord));
  }
  return out;
}

/** A pid that is not running: a child that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((r) => child.once('exit', r));
  return child.pid!;
}

describe('FileAuditLog: several writers on one directory', () => {
  it('two in-process writers interleaving: one chain, seq contiguous, count exact', async () => {
    const dir = await tempDir();
    const c = clock(`${DAY}T10:00:00Z`);
    const a = await openAuditLog(dir, c);
    const b = await openAuditLog(dir, c);
    const results: AuditRecord[] = [];
    for (let round = 0; round < 20; round++) {
      // Both writers have a batch in flight at once, then one alone, then the other alone.
      results.push(
        ...(await Promise.all([a.append(ev(round * 10 + 1)), b.append(ev(round * 10 + 2)), a.append(ev(round * 10 + 3)), b.append(ev(round * 10 + 4))])),
      );
      results.push(await a.append(ev(round * 10 + 5)));
      results.push(await b.append(ev(round * 10 + 6)));
    }
    await Promise.all([a.close(), b.close()]);
    const lines = await allRecords(dir);
    expect(lines.map((r) => r.seq)).toEqual(Array.from({ length: 120 }, (_, i) => i + 1));
    expect(new Set(results.map((r) => r.seq)).size).toBe(120);
    expect(await verifyAuditDir(dir)).toMatchObject({ ok: true, count: 120, files: 1 });
    expect(await readdir(dir)).toEqual([FILE]); // the lock is gone after close
  });

  it('keepLockMs (serve): the lock stays between rounds, another writer gets it once the holder is idle, one chain', async () => {
    const dir = await tempDir();
    const c = clock(`${DAY}T10:00:00Z`);
    const busy = await openAuditLog(dir, c, { keepLockMs: 50 });
    const other = await openAuditLog(dir, c);
    await busy.append(ev(1));
    // Resolved, and still holding the directory: the next round needs no lock and no re-read.
    expect((await readdir(dir)).filter((n) => n === 'audit.lock')).toEqual(['audit.lock']);
    await busy.append(ev(2));
    // The other writer waits for the holder to go idle, then writes after it...
    const r3 = await other.append(ev(3));
    // ...and the holder, taking the lock again, sees that the log moved and continues the chain.
    const r4 = await busy.append(ev(4));
    await Promise.all([busy.close(), other.close()]);
    expect([r3.seq, r4.seq]).toEqual([3, 4]);
    expect((await allRecords(dir)).map((r) => r.seq)).toEqual([1, 2, 3, 4]);
    expect(await verifyAuditDir(dir)).toMatchObject({ ok: true, count: 4, files: 1 });
    expect(await readdir(dir)).toEqual([FILE]); // released at close
  });

  it('keepLockMs: a holder that never goes idle still hands the lock to a waiting writer after its round (audit.lock.want)', async () => {
    const dir = await tempDir();
    const c = clock(`${DAY}T10:00:00Z`);
    // Kept for a minute after each round: without the waiter's mark the other writer would time out.
    // The other one opens first: an idle holder does not look for the mark (its open would wait the minute).
    const other = await openAuditLog(dir, c, { lock: { timeoutMs: 60_000 } });
    const busy = await openAuditLog(dir, c, { keepLockMs: 60_000 });
    await busy.append(ev(1));
    let done = false;
    const theirs = other.append(ev(1000)).finally(() => (done = true));
    // The holder keeps appending back to back (never idle) until the other writer got its turn.
    let mine = 1;
    while (!done && mine < 5000) await busy.append(ev(++mine));
    const r = await theirs;
    const more = await busy.append(ev(++mine)); // and the holder takes the lock again after it
    await Promise.all([busy.close(), other.close()]);
    expect(mine).toBeLessThan(5000);
    expect(more.seq).toBe(mine + 1);
    expect(r.seq).toBeGreaterThan(1);
    expect(await verifyAuditDir(dir)).toMatchObject({ ok: true, count: mine + 1, files: 1 });
    expect(await readdir(dir)).toEqual([FILE]); // the lock released at close, the mark removed by the writer it served
  });

  it('a writer whose clock is behind follows the other one into the newer day file', async () => {
    const dir = await tempDir();
    const ahead = await openAuditLog(dir, clock('2025-03-02T00:00:01Z'));
    const behind = await openAuditLog(dir, clock('2025-03-01T23:59:59Z'));
    await behind.append(ev(1));
    await ahead.append(ev(2));
    const r3 = await behind.append(ev(3));
    await Promise.all([ahead.close(), behind.close()]);
    expect(r3).toMatchObject({ seq: 3, time: '2025-03-01T23:59:59.000Z' });
    expect((await readLinesOf(join(dir, 'audit-2025-03-02.jsonl'))).length).toBe(2);
    expect(await verifyAuditDir(dir)).toMatchObject({ ok: true, count: 3, files: 2 });
  });

  it('two child processes appending 200 records each at once: verify OK with 400 records', async () => {
    const dir = await tempDir();
    const startAt = String(Date.now() + 2500); // both are up by then (tsx start-up), and start appending together
    await Promise.all(['p1', 'p2'].map((tag) => run(process.execPath, ['--import', 'tsx', CHILD, dir, '200', tag, startAt], { timeout: 25_000 })));
    expect(await verifyAuditDir(dir)).toMatchObject({ ok: true, count: 400 });
    const lines = await allRecords(dir);
    expect(lines.map((r) => r.seq)).toEqual(Array.from({ length: 400 }, (_, i) => i + 1));
    for (const tag of ['p1', 'p2']) expect(lines.filter((r) => r.traceId.startsWith(`${tag}-`))).toHaveLength(200);
    expect((await readdir(dir)).filter((n) => n.startsWith('audit.lock'))).toEqual([]);
  });

  it('a lock file left by a dead process is taken over at once', async () => {
    const dir = await tempDir();
    const pid = await deadPid();
    await writeFile(join(dir, 'audit.lock'), JSON.stringify({ pid, host: hostname(), id: 'crashed' }));
    const log = await openAuditLog(dir, clock(`${DAY}T10:00:00Z`), { lock: { timeoutMs: 30_000 } });
    expect(await log.append(ev(1))).toMatchObject({ seq: 1 });
    await log.close();
    expect(await readdir(dir)).toEqual([FILE]);
    expect(await verifyAuditDir(dir)).toMatchObject({ ok: true, count: 1 });
  });

  it('a lock older than the stale bound is taken over even if its pid looks alive (pid reuse)', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'audit.lock'), JSON.stringify({ pid: process.pid, host: hostname(), id: 'old' }));
    // The lock clock runs 61 s ahead: the file looks untouched for 61 s, past the 60 s bound.
    const log = await openAuditLog(dir, clock(`${DAY}T10:00:00Z`), { lock: { timeoutMs: 30_000, staleMs: 60_000, now: () => Date.now() + 61_000 } });
    expect(await log.append(ev(1))).toMatchObject({ seq: 1 });
    await log.close();
  });

  it('a live holder that never releases: bounded wait, then audit_unavailable naming the lock and its pid', async () => {
    const dir = await tempDir();
    const c = clock(`${DAY}T10:00:00Z`);
    const log = await openAuditLog(dir, c, { lock: { timeoutMs: 150 } });
    await log.append(ev(1));
    const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    try {
      await writeFile(join(dir, 'audit.lock'), JSON.stringify({ pid: holder.pid, host: hostname(), id: 'stuck' }));
      const started = Date.now();
      const err = await log.append(ev(2)).catch((e: unknown) => e as GatewayError);
      const waited = Date.now() - started;
      expect(err).toBeInstanceOf(GatewayError);
      expect(err).toMatchObject({ code: 'audit_unavailable', details: { dir, lockFile: join(dir, 'audit.lock'), holderPid: holder.pid } });
      expect((err as GatewayError).message).toContain(`${join(dir, 'audit.lock')} is held by pid ${holder.pid}`);
      expect(waited).toBeGreaterThanOrEqual(140);
      expect(waited).toBeLessThan(3000);
      // The holder dies without releasing: the next append takes the lock over and the chain goes on.
      holder.kill('SIGKILL');
      await new Promise((r) => holder.once('exit', r));
      expect(await log.append(ev(3))).toMatchObject({ seq: 2, traceId: 't3' });
    } finally {
      holder.kill('SIGKILL');
    }
    await log.close();
    expect(await verifyAuditDir(dir)).toMatchObject({ ok: true, count: 2 });
    expect(JSON.parse((await readFile(join(dir, FILE), 'utf8')).split('\n')[1]!)).toMatchObject({ seq: 2 });
  });

  it('openAuditLog also waits for the lock, and fails closed when it cannot get it', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'audit.lock'), JSON.stringify({ pid: process.pid, host: hostname(), id: 'other' }));
    await expect(openAuditLog(dir, clock(`${DAY}T10:00:00Z`), { lock: { timeoutMs: 100 } })).rejects.toMatchObject({
      code: 'audit_unavailable',
      details: { holderPid: process.pid },
    });
  });
});
