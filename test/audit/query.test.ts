import { open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSince, runAuditQuery, runAuditTail, toAuditFilter } from '../../src/audit/cli.js';
import { openAuditLog } from '../../src/audit/file-log.js';
import { readLines, readLinesBackward } from '../../src/audit/lines.js';
import { type AuditFilter, queryAudit, tailAudit } from '../../src/audit/query.js';
import type { AuditEvent, AuditRecord } from '../../src/audit/types.js';
import { cleanup, clock, tempDir } from './helpers.js';

afterAll(cleanup);

const alice = { iss: 'https://idp.example', sub: 'u-alice', email: 'Alice@Example.com' };
const bob = { iss: 'https://idp.example', sub: 'u-bob', email: 'bob@example.com' };
const claude = { clientId: 'claude-desktop', name: 'Claude' };
const cursor = { clientId: 'cursor', name: 'Cursor' };

// [time, event]: decision/outcome pairs across three days.
const EVENTS: [string, AuditEvent][] = [
  ['2025-03-01T09:00:00Z', { type: 'tool_call', phase: 'decision', traceId: 'a1', user: alice, agent: claude, tool: 'crm.search', decision: 'allow' }],
  [
    '2025-03-01T09:00:01Z',
    { type: 'tool_call', phase: 'outcome', traceId: 'a1', user: alice, agent: claude, tool: 'crm.search', outcome: { ok: true, status: 200 } },
  ],
  [
    '2025-03-02T10:00:00Z',
    { type: 'tool_call', phase: 'decision', traceId: 'b1', user: bob, agent: cursor, tool: 'crm.search', decision: 'deny', reason: 'agent disabled' },
  ],
  ['2025-03-02T11:00:00Z', { type: 'tool_call', phase: 'decision', traceId: 'a2', user: alice, agent: cursor, tool: 'wiki.read', decision: 'allow' }],
  [
    '2025-03-02T11:00:02Z',
    {
      type: 'tool_call',
      phase: 'outcome',
      traceId: 'a2',
      user: alice,
      agent: cursor,
      tool: 'wiki.read',
      outcome: { ok: false, status: 502, error: 'downstream_error' },
    },
  ],
  ['2025-03-03T08:00:00Z', { type: 'tool_call', phase: 'decision', traceId: 'b2', user: bob, agent: claude, tool: 'wiki.read', decision: 'allow' }],
  [
    '2025-03-03T08:00:01Z',
    { type: 'tool_call', phase: 'outcome', traceId: 'b2', user: bob, agent: claude, tool: 'wiki.read', outcome: { ok: true, status: 200 } },
  ],
];
const NOW = '2025-03-03T12:00:00Z';
let dir: string;

beforeAll(async () => {
  dir = await tempDir();
  const c = clock(EVENTS[0]![0]);
  const log = await openAuditLog(dir, c);
  for (const [time, event] of EVENTS) {
    c.set(time);
    await log.append(event);
  }
  await log.close();
});

const ids = async (it: AsyncIterable<AuditRecord>) => {
  const out: string[] = [];
  for await (const r of it) out.push(`${r.traceId}:${r.phase[0]}`);
  return out;
};

describe('queryAudit', () => {
  const table: [string, AuditFilter, string[]][] = [
    ['no filter: everything in log order', {}, ['a1:d', 'a1:o', 'b1:d', 'a2:d', 'a2:o', 'b2:d', 'b2:o']],
    ['user by sub', { user: 'u-bob' }, ['b1:d', 'b2:d', 'b2:o']],
    ['user by email, any case', { user: 'alice@example.com' }, ['a1:d', 'a1:o', 'a2:d', 'a2:o']],
    ['unknown user', { user: 'u-carol' }, []],
    ['tool', { tool: 'wiki.read' }, ['a2:d', 'a2:o', 'b2:d', 'b2:o']],
    ['agent by client id', { agent: 'cursor' }, ['b1:d', 'a2:d', 'a2:o']],
    ['agent by name', { agent: 'Claude' }, ['a1:d', 'a1:o', 'b2:d', 'b2:o']],
    ['since (skips earlier days and earlier records)', { since: new Date('2025-03-02T10:30:00Z') }, ['a2:d', 'a2:o', 'b2:d', 'b2:o']],
    ['outcome ok', { outcome: 'ok' }, ['a1:o', 'b2:o']],
    ['outcome error', { outcome: 'error' }, ['a2:o']],
    ['outcome denied', { outcome: 'denied' }, ['b1:d']],
    ['combined', { user: 'u-alice', tool: 'wiki.read', outcome: 'error' }, ['a2:o']],
    ['limit', { tool: 'crm.search', limit: 2 }, ['a1:d', 'a1:o']],
  ];
  it.each(table)('%s', async (_name, filter, expected) => {
    expect(await ids(queryAudit(dir, filter))).toEqual(expected);
  });
});

describe('tailAudit', () => {
  it('yields the last n records across day files, oldest first', async () => {
    expect(await ids(tailAudit(dir, { lines: 4 }))).toEqual(['a2:d', 'a2:o', 'b2:d', 'b2:o']);
    expect(await ids(tailAudit(dir, { lines: 100 }))).toHaveLength(EVENTS.length);
    expect(await ids(tailAudit(dir, { lines: 0 }))).toEqual([]);
  });

  it('follow: yields new records as they are appended, also into a new day file, until aborted', async () => {
    const d = await tempDir();
    const c = clock('2025-03-01T10:00:00Z');
    const log = await openAuditLog(d, c);
    await log.append({ type: 'tool_call', phase: 'decision', traceId: 'x0' });
    const ac = new AbortController();
    const seen: string[] = [];
    let sawFirst!: () => void;
    const first = new Promise<void>((r) => (sawFirst = r));
    const done = (async () => {
      for await (const r of tailAudit(d, { lines: 1, follow: true, signal: ac.signal, pollMs: 10 })) {
        seen.push(r.traceId);
        if (seen.length === 1) sawFirst();
        if (seen.length === 3) ac.abort();
      }
    })();
    // Appended only once the tail has shown the last line there was: appended earlier (a fixed wait on a busy
    // machine), x1 would be that last line, x0 never shown, and the loop would wait for a third record forever.
    await first;
    await log.append({ type: 'tool_call', phase: 'decision', traceId: 'x1' });
    c.set('2025-03-02T00:00:01Z');
    await log.append({ type: 'tool_call', phase: 'decision', traceId: 'x2' });
    await done;
    await log.close();
    expect(seen).toEqual(['x0', 'x1', 'x2']);
  });
});

describe('audit CLI: query and tail', () => {
  const run = async (fn: (out: { stdout: (s: string) => void; stderr: (s: string) => void }) => Promise<number>) => {
    const stdout: string[] = [];
    const stderr: string[] = [];
    const code = await fn({ stdout: (s) => stdout.push(s), stderr: (s) => stderr.push(s) });
    return { code, stdout, stderr };
  };

  it('query prints matching records as JSON lines; --since accepts relative times', async () => {
    const r = await run((out) => runAuditQuery(dir, { since: '5h', user: 'u-bob' }, out, () => Date.parse(NOW)));
    expect(r.code).toBe(0);
    expect(r.stderr).toEqual([]);
    expect(r.stdout.map((l) => (JSON.parse(l) as AuditRecord).traceId)).toEqual(['b2', 'b2']);
  });

  it.each([
    [{ outcome: 'maybe' }, 'error: --outcome: expected ok, error, denied or unknown; got "maybe"'],
    [{ since: 'yesterday' }, 'error: --since: expected an ISO date (2025-01-31, 2025-01-31T09:00:00Z) or a duration like 15m, 2h, 7d; got "yesterday"'],
    [{ limit: Number.NaN }, 'error: --limit: expected a whole number >= 1; got "NaN"'],
    [{ limit: '0' }, 'error: --limit: expected a whole number >= 1; got "0"'],
  ])('query rejects bad option %j with exit 2', async (opts, message) => {
    const r = await run((out) => runAuditQuery(dir, opts, out));
    expect(r).toEqual({ code: 2, stdout: [], stderr: [message] });
  });

  it('tail prints the last records as JSON lines', async () => {
    const r = await run((out) => runAuditTail(dir, { lines: 2 }, out));
    expect(r.code).toBe(0);
    expect(r.stdout.map((l) => JSON.parse(l) as AuditRecord).map((x) => [x.seq, x.traceId])).toEqual([
      [6, 'b2'],
      [7, 'b2'],
    ]);
  });

  it.each([
    ['15m', '2025-03-03T11:45:00.000Z'],
    ['2h', '2025-03-03T10:00:00.000Z'],
    ['7d', '2025-02-24T12:00:00.000Z'],
    ['30s', '2025-03-03T11:59:30.000Z'],
    ['2025-03-01', '2025-03-01T00:00:00.000Z'],
    ['2025-03-01T10:20:30Z', '2025-03-01T10:20:30.000Z'],
    ['2025-03-01T10:20:30+02:00', '2025-03-01T08:20:30.000Z'],
  ])('parseSince(%s)', (input, expected) => {
    expect(parseSince(input, Date.parse(NOW)).toISOString()).toBe(expected);
  });

  it('toAuditFilter keeps only what was given', () => {
    expect(toAuditFilter({ tool: 't', limit: '5', outcome: 'denied' })).toEqual({ tool: 't', limit: 5, outcome: 'denied' });
  });
});

describe('line readers', () => {
  it('forward and backward agree on lines, across chunk boundaries and long lines', async () => {
    const d = await tempDir();
    const path = join(d, 'x.jsonl');
    const lines = ['a', '', 'x'.repeat(200), 'é'.repeat(50), 'tail-no-newline'];
    await writeFile(path, lines.join('\n'));
    const fwd: string[] = [];
    for await (const l of readLines(path)) fwd.push(l.bytes.toString());
    expect(fwd).toEqual(lines);
    const fh = await open(path, 'r');
    try {
      for (const chunk of [1, 7, 64, 1 << 16]) {
        const back: { s: string; t: boolean }[] = [];
        for await (const l of readLinesBackward(fh, (await fh.stat()).size, chunk)) back.push({ s: l.bytes.toString(), t: l.terminated });
        expect(back.map((b) => b.s)).toEqual([...lines].reverse());
        expect(back.map((b) => b.t)).toEqual([false, true, true, true, true]);
      }
    } finally {
      await fh.close();
    }
  });
});
