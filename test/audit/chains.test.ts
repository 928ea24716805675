import { appendFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runAuditVerify } from '../../src/audit/cli.js';
import { openAuditLog } from '../../src/audit/file-log.js';
import { auditInstanceName } from '../../src/audit/instance.js';
import { queryAudit, tailAudit } from '../../src/audit/query.js';
import type { AuditRecord } from '../../src/audit/types.js';
import { recordUnknownOutcomes } from '../../src/audit/unknown-outcomes.js';
import { verifyAuditDir, wrongInstance } from '../../src/audit/verify.js';
import { cleanup, clock, ev, readLinesOf, tempDir } from './helpers.js';

afterAll(cleanup);

const DAY = '2026-12-06';

describe('one hash chain per instance', () => {
  it('each instance writes its own files and lock, every record names it; verify checks each chain; query merges them by time', async () => {
    const dir = await tempDir();
    const c = clock(`${DAY}T10:00:00Z`);
    const a = await openAuditLog(dir, c, { instance: 'gw-a' });
    const b = await openAuditLog(dir, c, { instance: 'gw-b', keepLockMs: 1000 });
    const written: AuditRecord[] = [];
    for (let i = 1; i <= 6; i++) {
      c.set(`${DAY}T10:00:0${i}Z`);
      written.push(await (i % 2 ? a : b).append(ev(i)));
    }
    // b holds its own lock while a writes: nobody waits for anybody.
    expect(await readdir(dir)).toEqual(expect.arrayContaining([`audit-${DAY}.gw-a.jsonl`, `audit-${DAY}.gw-b.jsonl`, 'audit.gw-b.lock']));
    await Promise.all([a.close(), b.close()]);
    expect(written.map((r) => [r.instance, r.seq])).toEqual([
      ['gw-a', 1],
      ['gw-b', 1],
      ['gw-a', 2],
      ['gw-b', 2],
      ['gw-a', 3],
      ['gw-b', 3],
    ]);
    expect((await readdir(dir)).sort()).toEqual([`audit-${DAY}.gw-a.jsonl`, `audit-${DAY}.gw-b.jsonl`]);

    expect(await verifyAuditDir(dir)).toMatchObject({
      ok: true,
      count: 6,
      files: 2,
      chains: [
        { instance: 'gw-a', count: 3, head: { seq: 3, hash: written[4]!.hash } },
        { instance: 'gw-b', count: 3, head: { seq: 3, hash: written[5]!.hash } },
      ],
    });
    const all: AuditRecord[] = [];
    for await (const r of queryAudit(dir)) all.push(r);
    expect(all.map((r) => r.traceId)).toEqual(['t1', 't2', 't3', 't4', 't5', 't6']);
    const onlyB: AuditRecord[] = [];
    for await (const r of queryAudit(dir, { instance: 'gw-b' })) onlyB.push(r);
    expect(onlyB.map((r) => r.traceId)).toEqual(['t2', 't4', 't6']);

    const out: string[] = [];
    expect(await runAuditVerify(dir, { stdout: (s) => out.push(s), stderr: (s) => out.push(s) })).toBe(0);
    expect(out).toEqual([
      'OK: 6 records in 2 files in 2 chain(s), chain intact',
      `chain "gw-a": 3 records, head: seq 3, hash ${written[4]!.hash} (compare with a copy kept off this host to detect a cut end)`,
      `chain "gw-b": 3 records, head: seq 3, hash ${written[5]!.hash} (compare with a copy kept off this host to detect a cut end)`,
    ]);
  });

  it("a record moved into another instance's chain (relinked or not) is a break naming both", async () => {
    const dir = await tempDir();
    const c = clock(`${DAY}T10:00:00Z`);
    const a = await openAuditLog(dir, c, { instance: 'gw-a' });
    const b = await openAuditLog(dir, c, { instance: 'gw-b' });
    await a.append(ev(1));
    await b.append(ev(2));
    await Promise.all([a.close(), b.close()]);
    const [fromA] = await readLinesOf(join(dir, `audit-${DAY}.gw-a.jsonl`));
    await appendFile(join(dir, `audit-${DAY}.gw-b.jsonl`), `${fromA}\n`);
    const out: string[] = [];
    expect(await runAuditVerify(dir, { stdout: (s) => out.push(s), stderr: (s) => out.push(s) })).toBe(1);
    expect(out[0]).toBe(`BROKEN: [gw-b] audit-${DAY}.gw-b.jsonl:2 (seq 1): ${wrongInstance('gw-a', 'gw-b')}`);
  });

  it('an event may not name the instance itself', async () => {
    const dir = await tempDir();
    const a = await openAuditLog(dir, clock(`${DAY}T10:00:00Z`), { instance: 'gw-a' });
    await expect(a.append({ ...ev(1), instance: 'gw-b' })).rejects.toMatchObject({
      code: 'internal',
      message: 'audit event must not set the chain field "instance"',
    });
    await a.close();
  });

  it.each([['a b'], ['../x'], ['-x'], ['x'.repeat(101)]])('instance name %j is refused naming the rule', async (name) => {
    const dir = await tempDir();
    await expect(openAuditLog(dir, clock(`${DAY}T10:00:00Z`), { instance: name })).rejects.toMatchObject({
      code: 'config_invalid',
      message: expect.stringMatching(/is not a valid name: 1-100 letters/),
    });
    expect(() => auditInstanceName(name, undefined)).toThrow(/audit\.instance ".*" is not a valid instance name/);
    expect(() => auditInstanceName(undefined, name)).toThrow(/XAA_INSTANCE_ID ".*" is not a valid instance name/);
  });

  it('the default instance name is the host name made valid', () => {
    expect(auditInstanceName(undefined, '', 'gw-1.prod.example')).toBe('gw-1.prod.example');
    expect(auditInstanceName(undefined, undefined, '_weird host!')).toBe('weird-host-');
    expect(auditInstanceName('from-config', undefined, 'h')).toBe('from-config');
    expect(auditInstanceName('from-config', 'from-env', 'h')).toBe('from-env');
  });

  it('claim: desktop gateways take stdio-1, stdio-2... for life; a chain given up is continued by the next one', async () => {
    const dir = await tempDir();
    const c = clock(`${DAY}T10:00:00Z`);
    const logs = await Promise.all([1, 2, 3].map(() => openAuditLog(dir, c, { claim: { prefix: 'stdio-' } })));
    expect(logs.map((l) => l.instance).sort()).toEqual(['stdio-1', 'stdio-2', 'stdio-3']);
    expect(logs.every((l) => l.claimed)).toBe(true);
    for (const l of logs) await l.append(ev(1));
    const second = logs.find((l) => l.instance === 'stdio-2')!;
    await second.close();
    const next = await openAuditLog(dir, c, { claim: { prefix: 'stdio-' } });
    expect(next.instance).toBe('stdio-2');
    expect(await next.append(ev(2))).toMatchObject({ instance: 'stdio-2', seq: 2 });
    // Every slot taken: opening fails naming them (a desktop gateway then says so and exits).
    const only = await openAuditLog(dir, c, { claim: { prefix: 'few-', slots: 1 } });
    await expect(openAuditLog(dir, c, { claim: { prefix: 'few-', slots: 1 } })).rejects.toMatchObject({
      code: 'audit_unavailable',
      message: `audit log ${dir}: all 1 chains few-1..few-1 are held by live processes; stop one of them (or give this one an audit directory of its own)`,
    });
    await only.append(ev(3));
    await Promise.all([...logs.filter((l) => l !== second), next, only].map((l) => l.close()));
    expect(await readdir(dir)).not.toContain('audit.few-1.lock');
    expect(await verifyAuditDir(dir)).toMatchObject({
      ok: true,
      count: 5,
      chains: [{ instance: 'few-1', count: 1 }, { instance: 'stdio-1' }, { instance: 'stdio-2', count: 2 }, { instance: 'stdio-3' }],
    });
  });

  it("outcome unknown is recorded for the instance's own chain only", async () => {
    const dir = await tempDir();
    const c = clock(`${DAY}T10:00:00Z`);
    const a = await openAuditLog(dir, c, { instance: 'gw-a' });
    const b = await openAuditLog(dir, c, { instance: 'gw-b' });
    await a.append({ ...ev(1), traceId: 'in-flight-a' });
    await b.append({ ...ev(2), traceId: 'in-flight-b' });
    expect(await recordUnknownOutcomes(dir, 'gw-b', b)).toMatchObject([{ instance: 'gw-b', traceId: 'in-flight-b', outcome: { error: 'outcome_unknown' } }]);
    expect(await recordUnknownOutcomes(dir, 'gw-c', b)).toEqual([]);
    await Promise.all([a.close(), b.close()]);
  });

  it('tail -f follows every chain, also one that starts while it follows', async () => {
    const dir = await tempDir();
    const c = clock(`${DAY}T10:00:00Z`);
    const a = await openAuditLog(dir, c, { instance: 'gw-a' });
    await a.append(ev(1));
    const ac = new AbortController();
    const seen: string[] = [];
    const following = (async () => {
      for await (const r of tailAudit(dir, { lines: 5, follow: true, signal: ac.signal, pollMs: 10 })) {
        seen.push(`${r.instance}:${r.traceId}`);
        if (seen.length === 3) ac.abort();
      }
    })();
    c.set(`${DAY}T10:00:01Z`);
    const b = await openAuditLog(dir, c, { instance: 'gw-b' });
    await b.append(ev(2));
    c.set(`${DAY}T10:00:02Z`);
    await a.append(ev(3));
    await following;
    await Promise.all([a.close(), b.close()]);
    expect(seen.sort()).toEqual(['gw-a:t1', 'gw-a:t3', 'gw-b:t2']);
  });
});
