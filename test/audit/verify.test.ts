import { appendFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordHash } from '../../src/audit/chain.js';
import { runAuditVerify } from '../../src/audit/cli.js';
import { openAuditLog } from '../../src/audit/file-log.js';
import { REASON_HASH, REASON_JSON, REASON_PREV, verifyAuditDir } from '../../src/audit/verify.js';
import { cleanup, clock, copyDir, editLines, ev, tempDir } from './helpers.js';

const N = 10;
const FILE = 'audit-2025-03-01.jsonl';
let dir: string;

beforeAll(async () => {
  dir = await tempDir();
  const log = await openAuditLog(dir, clock('2025-03-01T10:00:00Z'));
  for (let i = 1; i <= N; i++) await log.append(ev(i, { user: { iss: 'https://idp', sub: `u${i}` } }));
  await log.close();
});
afterAll(cleanup);

function reseal(line: string, change: (r: Record<string, unknown>) => void): string {
  const r = JSON.parse(line) as Record<string, unknown>;
  change(r);
  delete r.hash;
  return JSON.stringify({ ...r, hash: recordHash(r) });
}

describe('verifyAuditDir', () => {
  it('an untouched chain of N records verifies with its count', async () => {
    const result = await verifyAuditDir(dir);
    expect(result).toMatchObject({ ok: true, count: N, files: 1 });
    expect(result).not.toHaveProperty('tornTail');
    const out: string[] = [];
    expect(await runAuditVerify(dir, { stdout: (s) => out.push(s), stderr: (s) => out.push(`ERR ${s}`) })).toBe(0);
    expect(out).toEqual([
      `OK: ${N} records in 1 files, chain intact`,
      `head: seq ${N}, hash ${(result as { head: { hash: string } }).head.hash} (compare with a copy kept off this host to detect a cut end)`,
    ]);
  });

  it('an empty directory verifies with 0 records', async () => {
    expect(await verifyAuditDir(await tempDir())).toEqual({ ok: true, count: 0, files: 0, chains: [] });
  });

  const k = 4;
  const tampers: { name: string; edit: (lines: string[]) => string[]; line: number; seq?: number; reason: string; count: number }[] = [
    {
      name: 'one byte of a field value changed in record k',
      edit: (l) => l.map((s, i) => (i === k - 1 ? s.replace(`"tool":"tool-${k}"`, `"tool":"tool-${k + 1}"`) : s)),
      line: k,
      seq: k,
      reason: REASON_HASH,
      count: k - 1,
    },
    {
      name: 'record k deleted',
      edit: (l) => l.filter((_, i) => i !== k - 1),
      line: k,
      seq: k + 1,
      reason: REASON_PREV,
      count: k - 1,
    },
    {
      name: 'forged record inserted at k with its own hash recomputed',
      edit: (l) => {
        const prev = JSON.parse(l[k - 2]!) as { hash: string };
        const forged = reseal(l[k - 1]!, (r) => Object.assign(r, { traceId: 'forged', id: 'forged', seq: k, prevHash: prev.hash }));
        return [...l.slice(0, k - 1), forged, ...l.slice(k - 1)];
      },
      line: k + 1,
      seq: k,
      reason: REASON_PREV,
      count: k,
    },
    {
      name: 'records k and k+1 swapped',
      edit: (l) => [...l.slice(0, k - 1), l[k]!, l[k - 1]!, ...l.slice(k + 1)],
      line: k,
      seq: k + 1,
      reason: REASON_PREV,
      count: k - 1,
    },
    {
      name: 'middle truncated inside record k',
      edit: (l) => [...l.slice(0, k - 1), l[k - 1]!.slice(0, 40), ...l.slice(k)],
      line: k,
      reason: REASON_JSON,
      count: k - 1,
    },
    {
      name: 'records k..k+2 cut out',
      edit: (l) => [...l.slice(0, k - 1), ...l.slice(k + 2)],
      line: k,
      seq: k + 3,
      reason: REASON_PREV,
      count: k - 1,
    },
    {
      name: 'last record edited',
      edit: (l) => l.map((s, i) => (i === N - 1 ? s.replace('"decision":"allow"', '"decision":"deny"') : s)),
      line: N,
      seq: N,
      reason: REASON_HASH,
      count: N - 1,
    },
    {
      name: 'seq of record k renumbered with its hash recomputed',
      edit: (l) => l.map((s, i) => (i === k - 1 ? reseal(s, (r) => (r.seq = 9)) : s)),
      line: k,
      seq: 9,
      reason: `seq out of order (expected ${k}, found 9)`,
      count: k - 1,
    },
    {
      name: 'field removed from record k',
      edit: (l) => l.map((s, i) => (i === k - 1 ? reseal(s, (r) => delete r.traceId) : s)),
      line: k,
      seq: k,
      reason: 'missing field traceId',
      count: k - 1,
    },
    {
      name: 'first record deleted',
      edit: (l) => l.slice(1),
      line: 1,
      seq: 2,
      reason: REASON_PREV,
      count: 0,
    },
  ];

  it.each(tampers)('detects: $name', async ({ edit, line, seq, reason, count }) => {
    const copy = await copyDir(dir);
    await editLines(join(copy, FILE), edit);
    const result = await verifyAuditDir(copy);
    expect(result).toMatchObject({ ok: false, count, broken: { file: FILE, line, ...(seq !== undefined ? { seq } : {}), reason } });

    const out: string[] = [];
    expect(await runAuditVerify(copy, { stdout: (s) => out.push(s), stderr: (s) => out.push(s) })).toBe(1);
    expect(out).toEqual([`BROKEN: ${FILE}:${line}${seq !== undefined ? ` (seq ${seq})` : ''}: ${reason}`, `${count} records verified before the break`]);
  });

  it('detects a whole day file removed from the middle of a multi-file chain', async () => {
    const d = await tempDir();
    const c = clock('2025-03-01T10:00:00Z');
    const log = await openAuditLog(d, c);
    for (const [day, n] of [
      ['01', 2],
      ['02', 3],
      ['03', 2],
    ] as const) {
      c.set(`2025-03-${day}T12:00:00Z`);
      for (let i = 0; i < n; i++) await log.append(ev(i));
    }
    await log.close();
    expect(await verifyAuditDir(d)).toMatchObject({ ok: true, count: 7, files: 3 });
    await rm(join(d, 'audit-2025-03-02.jsonl'));
    expect(await verifyAuditDir(d)).toMatchObject({
      ok: false,
      count: 2,
      broken: { file: 'audit-2025-03-03.jsonl', line: 1, seq: 6, reason: REASON_PREV },
    });
  });

  it('a torn line in the middle (not followed by a recovery record) is a break', async () => {
    const copy = await copyDir(dir);
    await editLines(join(copy, FILE), (l) => [...l.slice(0, 2), '{"seq":3,"ti', ...l.slice(2)]);
    expect(await verifyAuditDir(copy)).toMatchObject({ ok: false, count: 2, broken: { file: FILE, line: 3, reason: REASON_JSON } });
  });

  it('a torn last line is reported as tornTail, the records before it still count', async () => {
    const copy = await copyDir(dir);
    await appendFile(join(copy, FILE), '{"seq":11,"time":"2025-03-01T10:00:00.000Z","id":"a');
    expect(await verifyAuditDir(copy)).toMatchObject({ ok: true, count: N, files: 1, tornTail: { file: FILE, line: N + 1 } });
    const out: string[] = [];
    const err: string[] = [];
    expect(await runAuditVerify(copy, { stdout: (s) => out.push(s), stderr: (s) => err.push(s) })).toBe(0);
    expect(out[0]).toBe(`OK: ${N} records in 1 files, chain intact`);
    expect(out[1]).toMatch(new RegExp(`^head: seq ${N}, hash [0-9a-f]{64} \\(`));
    expect(err).toHaveLength(1);
    expect(err[0]).toMatch(new RegExp(`^WARNING: the last line ${FILE}:${N + 1} is torn`));
    expect(await readdir(copy)).toEqual([FILE]);
  });

  it('an unreadable directory is an error (exit 2), not a verdict', async () => {
    const err: string[] = [];
    expect(await runAuditVerify(join(dir, 'nope'), { stdout: () => {}, stderr: (s) => err.push(s) })).toBe(2);
    expect(err[0]).toMatch(/^error: cannot read audit log directory .*nope: ENOENT/);
  });
});
