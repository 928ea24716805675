import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GENESIS_HASH, recordHash } from '../../src/audit/chain.js';
import { Checkpointer } from '../../src/audit/checkpointer.js';
import { runAuditVerify } from '../../src/audit/cli.js';
import { exportAudit } from '../../src/audit/export.js';
import { ExportFileSource, readCheckpointCopies } from '../../src/audit/export-source.js';
import { openAuditLog } from '../../src/audit/file-log.js';
import { AuditSigningKey, type AuditJwks } from '../../src/audit/signing-key.js';
import { REASON_HASH, REASON_PREV, wrongInstance } from '../../src/audit/verify.js';
import { cleanup, clock, copyDir, editLines, ev, readLinesOf, tempDir } from './helpers.js';

afterAll(cleanup);

const DAY = '2026-12-06';
const A = `audit-${DAY}.gw-a.jsonl`;
const B = `audit-${DAY}.gw-b.jsonl`;
const CP_A = 'audit-checkpoints.gw-a.jsonl';
const t = (s: number) => new Date(Date.parse(`${DAY}T10:00:00Z`) + s * 1000).toISOString();

let key: AuditSigningKey;
let keys: AuditJwks;
/** gw-a: records 1-3, checkpoint 1 (seq 3) and its record (seq 4), records 5-8, the final checkpoint 2 (seq 8). gw-b likewise, shorter. */
let pristine: string;

async function signedChain(dir: string, instance: string, records: number, spacingS = 1): Promise<void> {
  const c = clock(t(0));
  const log = await openAuditLog(dir, c, { instance });
  const cp = new Checkpointer({
    sink: log,
    key,
    intervalMs: 60_000,
    now: c.now,
    onError: (e) => {
      throw e;
    },
  });
  let s = 0;
  for (let i = 1; i <= records; i++) {
    c.set(t((s += spacingS)));
    await log.append(ev(i));
    if (i === 3) await cp.checkpoint(); // checkpoint 1 signs seq 3; its record is seq 4
  }
  await cp.stop(); // the final checkpoint
  await log.close();
}

beforeAll(async () => {
  const keyDir = await tempDir();
  key = await AuditSigningKey.load(join(keyDir, 'audit-signing-key.json'));
  keys = key.jwks;
  pristine = await tempDir();
  await signedChain(pristine, 'gw-a', 7);
  await signedChain(pristine, 'gw-b', 4);
});

async function verify(dir: string, extra: { keys?: AuditJwks; copies?: string[] } = {}) {
  const out: string[] = [];
  const code = await runAuditVerify(dir, { stdout: (s) => out.push(s), stderr: (s) => out.push(s) }, { keys, ...extra });
  return { code, out };
}

/** Rewrites gw-a's whole chain with fresh hashes after `edit`: what someone without the signing key can do. */
async function rehash(dir: string, edit: (r: Record<string, unknown>, i: number) => void): Promise<void> {
  let prev = GENESIS_HASH;
  await editLines(join(dir, A), (lines) =>
    lines.map((l, i) => {
      const { hash: _h, ...r } = JSON.parse(l) as Record<string, unknown>;
      edit(r, i);
      r.prevHash = prev;
      const hash = recordHash(r);
      prev = hash;
      return JSON.stringify({ ...r, hash });
    }),
  );
}

describe('signed checkpoints: the file sink', () => {
  it('an untouched log verifies: every chain, its checkpoints, the keys used', async () => {
    const { code, out } = await verify(pristine);
    expect(code).toBe(0);
    expect(out[0]).toBe('OK: 13 records in 2 files in 2 chain(s), chain intact');
    expect(out).toContainEqual(expect.stringMatching(/^chain "gw-a": 8 records, head: seq 8, hash [0-9a-f]{64}$/));
    expect(out).toContainEqual(expect.stringMatching(/^ {2}checkpoints: 2 signed and verified; the last, #2 of .* \(final, at shutdown\), signs seq 8$/));
    const lines = (await readLinesOf(join(pristine, A))).map((l) => JSON.parse(l) as { type: string; seq: number; checkpoint?: unknown });
    expect(lines[3]).toMatchObject({ type: 'audit_checkpoint', seq: 4, checkpoint: { n: 1, seq: 3 } });
    expect(await readdir(pristine)).toEqual(expect.arrayContaining([CP_A, 'audit-checkpoints.gw-b.jsonl']));
  });

  type Tamper = [label: string, tamper: (dir: string) => Promise<void>, expected: RegExp | string, extra?: (dir: string) => Promise<{ copies?: string[] }>];
  const table: Tamper[] = [
    [
      'one changed byte',
      (d) => editLines(join(d, A), (l) => l.map((x, i) => (i === 1 ? x.replace('"tool-2"', '"tool-X"') : x))),
      `BROKEN: [gw-a] ${A}:2 (seq 2): ${REASON_HASH}`,
    ],
    ['a deleted middle record', (d) => editLines(join(d, A), (l) => l.filter((_, i) => i !== 2)), `BROKEN: [gw-a] ${A}:3 (seq 4): ${REASON_PREV}`],
    ['two swapped records', (d) => editLines(join(d, A), (l) => [l[0]!, l[2]!, l[1]!, ...l.slice(3)]), `BROKEN: [gw-a] ${A}:2 (seq 3): ${REASON_PREV}`],
    [
      'the last record deleted',
      (d) => editLines(join(d, A), (l) => l.slice(0, -1)),
      `BROKEN: [gw-a] ${A}:7 (seq 7): checkpoint 2 signed the chain up to seq 8, but it ends at seq 7: records 8..8 were cut off`,
    ],
    [
      'the last 3 records deleted',
      (d) => editLines(join(d, A), (l) => l.slice(0, -3)),
      `BROKEN: [gw-a] ${A}:5 (seq 5): checkpoint 2 signed the chain up to seq 8, but it ends at seq 5: records 6..8 were cut off`,
    ],
    [
      'the last record cut in half',
      async (d) => {
        const text = await readFile(join(d, A), 'utf8');
        await writeFile(join(d, A), text.slice(0, text.length - 120));
      },
      /^BROKEN: \[gw-a\] audit-2026-12-06\.gw-a\.jsonl:8 \(seq 7\): checkpoint 2 signed the chain up to seq 8, but it ends at seq 7: records 8\.\.8 were cut off; the record at seq 8 is cut short \(torn\), and a checkpoint had signed it, so this is not a crash$/,
    ],
    [
      'the whole chain rewritten with fresh hashes',
      (d) => rehash(d, (r, i) => void (i === 1 && (r.tool = 'tool-X'))),
      /^BROKEN: \[gw-a\] audit-2026-12-06\.gw-a\.jsonl:3 \(seq 3\): checkpoint 1 signed hash [0-9a-f]{16}… at seq 3, the chain has [0-9a-f]{16}… there: the chain was rewritten after it was signed$/,
    ],
    [
      'a checkpoint removed from the middle',
      (d) => editLines(join(d, CP_A), (l) => l.slice(1)),
      `BROKEN: [gw-a] ${CP_A}:2: checkpoint 2 does not follow checkpoint 0 (a checkpoint was removed, inserted or reordered)`,
    ],
    [
      'every checkpoint removed (the file deleted)',
      (d) => rm(join(d, CP_A)),
      `BROKEN: [gw-a] ${A}:4 (seq 4): the chain records checkpoint 1, which is missing from ${CP_A} (removed or replaced)`,
    ],
    [
      "the last checkpoint removed: only the second party's copy shows it",
      (d) => editLines(join(d, CP_A), (l) => l.slice(0, -1)),
      `BROKEN: [gw-a] ${CP_A}:2: checkpoint 2, kept by the second party, is missing from ${CP_A} (removed)`,
      async () => ({ copies: await readCheckpointCopies(join(pristine, CP_A)) }),
    ],
    [
      "a record moved to another instance's chain",
      async (d) => {
        const moved = (await readLinesOf(join(d, A)))[4]!;
        await editLines(join(d, B), (l) => [...l.slice(0, 2), moved, ...l.slice(2)]);
      },
      `BROKEN: [gw-b] ${B}:3 (seq 5): ${wrongInstance('gw-a', 'gw-b')}`,
    ],
    ['a checkpoint signed by a key that is not trusted', async () => {}, /^error: .*/],
  ];

  it.each(table)('%s: detected, exit 1, the place named', async (label, tamper, expected, extra) => {
    const dir = await copyDir(pristine);
    await tamper(dir);
    if (label.startsWith('a checkpoint signed by a key')) {
      const other = await AuditSigningKey.load(join(await tempDir(), 'k.json'));
      const { code, out } = await verify(dir, { keys: other.jwks });
      expect(code).toBe(1);
      expect(out[0]).toMatch(
        new RegExp(`^BROKEN: \\[gw-a\\] ${CP_A.replace(/\./g, '\\.')}:1: checkpoint 1: signed by key ${key.kid}, which is not among the trusted audit keys$`),
      );
      return;
    }
    const { code, out } = await verify(dir, (await extra?.(dir)) ?? {});
    expect(out[0]).toEqual(typeof expected === 'string' ? expected : expect.stringMatching(expected));
    expect(code).toBe(1);
  });

  it('the last checkpoint removed without a copy: not detectable on the host alone (what the copy is for), unless a checkpoint is then overdue', async () => {
    const dir = await copyDir(pristine);
    await editLines(join(dir, CP_A), (l) => l.slice(0, -1));
    expect((await verify(dir)).code).toBe(0);
    // The same on a chain whose records go on for 10 minutes after checkpoint 1: overdue, detected.
    const slow = await tempDir();
    await signedChain(slow, 'gw-a', 7, 150);
    await editLines(join(slow, CP_A), (l) => l.slice(0, -1));
    const { code, out } = await verify(slow);
    expect(code).toBe(1);
    expect(out[0]).toMatch(
      /^BROKEN: \[gw-a\] audit-checkpoints\.gw-a\.jsonl:1 \(seq 4\): records from seq 4 \(.*\) on are covered by no checkpoint, though they are older than 180 s before the chain's newest record \(.*\): a checkpoint is missing$/,
    );
  });

  it('a torn last line that no checkpoint signed (a crash mid-write) is recoverable: verify passes and says so', async () => {
    const dir = await copyDir(pristine);
    await writeFile(join(dir, A), `${await readFile(join(dir, A), 'utf8')}{"seq":9,"ti`);
    const { code, out } = await verify(dir);
    expect(code).toBe(0);
    expect(out).toContainEqual(expect.stringMatching(/^WARNING: the last line audit-2026-12-06\.gw-a\.jsonl:9 is torn/));
  });

  it('verifies offline from a JSON Lines export and the pinned keys; a tampered export fails', async () => {
    const exportFile = join(await tempDir(), 'export.jsonl');
    const lines: string[] = [];
    for await (const l of exportAudit(pristine, 'jsonl', {}, () => {})) lines.push(l);
    await writeFile(exportFile, `${lines.join('\n')}\n`);
    const src = new ExportFileSource(exportFile);
    const out: string[] = [];
    expect(await runAuditVerify(src, { stdout: (s) => out.push(s), stderr: (s) => out.push(s) }, { keys })).toBe(0);
    expect(out[0]).toBe('OK: 13 records in 2 files in 2 chain(s), chain intact');
    await writeFile(exportFile, `${lines.filter((l) => !l.includes('"seq":8,') || l.includes('checkpoint')).join('\n')}\n`);
    const bad: string[] = [];
    expect(await runAuditVerify(src, { stdout: (s) => bad.push(s), stderr: (s) => bad.push(s) }, { keys })).toBe(1);
    expect(bad[0]).toMatch(/checkpoint 2 signed the chain up to seq 8, but it ends at seq 7/);
  });

  it('without keys, a log with checkpoints is not called OK: exit 2 naming --keys', async () => {
    const out: string[] = [];
    expect(await runAuditVerify(pristine, { stdout: (s) => out.push(s), stderr: (s) => out.push(s) })).toBe(2);
    expect(out[0]).toMatch(/^error: the chain of "gw-a" has 2 signed checkpoint\(s\) and no audit public keys were given to check them: pass --keys FILE/);
  });

  it('rotation keeps the old public key: old checkpoints still verify, new ones use the new kid', async () => {
    const keyDir = await tempDir();
    const path = join(keyDir, 'audit-signing-key.json');
    const first = await AuditSigningKey.load(path);
    const second = await AuditSigningKey.rotate(path);
    expect(second.kid).not.toBe(first.kid);
    expect(second.jwks.keys.map((k) => k.kid)).toEqual([second.kid, first.kid]);
    expect(second.jwks.keys.every((k) => !('d' in k))).toBe(true);
    expect((await AuditSigningKey.load(path)).kid).toBe(second.kid);
    expect(JSON.parse(await readFile(path, 'utf8'))).toMatchObject({
      public: [{ jwk: { kid: second.kid } }, { jwk: { kid: first.kid }, retiredAt: expect.any(String) }],
    });
  });
});
