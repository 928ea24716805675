import { afterAll, describe, expect, it } from 'vitest';
import { openAuditLog } from '../../src/audit/file-log.js';
import { queryAudit } from '../../src/audit/query.js';
import type { AuditEvent, AuditRecord } from '../../src/audit/types.js';
import { OUTCOME_UNKNOWN, recordUnknownOutcomes } from '../../src/audit/unknown-outcomes.js';
import { verifyAuditDir } from '../../src/audit/verify.js';
import { cleanup, clock, tempDir } from './helpers.js';

afterAll(cleanup);

const alice = { iss: 'https://idp.example', sub: 'alice' };
const call = (trace: string) => ({
  type: 'tool_call',
  traceId: trace,
  user: alice,
  agent: { clientId: 'agent-1' },
  tool: 'calendar_create_event',
  resource: 'calendar',
});
const decision = (trace: string, extra: Partial<AuditEvent> = {}): AuditEvent => ({
  ...call(trace),
  phase: 'decision',
  decision: 'allow',
  reason: 'allowed',
  downstream: { method: 'POST', url: 'https://api.calendar.example/events' },
  ...extra,
});
const outcome = (trace: string, ok = true): AuditEvent => ({
  ...call(trace),
  phase: 'outcome',
  outcome: ok ? { ok: true, status: 201 } : { ok: false, status: 401, error: 'downstream_unauthorized' },
});
const denied = (trace: string): AuditEvent => ({
  ...call(trace),
  phase: 'decision',
  decision: 'deny',
  reason: 'kill switch',
  outcome: { ok: false, error: 'kill_switch' },
});

/** Writes `events` one minute apart from 10:00 (an event `[minutes, event]` at that minute), as a crashed run left them. */
async function crashedLog(events: Array<AuditEvent | [number, AuditEvent]>): Promise<string> {
  const dir = await tempDir();
  const c = clock('2026-12-06T10:00:00Z');
  const log = await openAuditLog(dir, c);
  let minute = 0;
  for (const e of events) {
    const [m, event] = Array.isArray(e) ? e : [minute + 1, e];
    minute = m;
    c.set(new Date(Date.parse('2026-12-06T10:00:00Z') + m * 60_000).toISOString());
    await log.append(event);
  }
  await log.close();
  return dir;
}

describe('outcome unknown: decisions a crash left without their outcome', () => {
  const table: Array<[string, Array<AuditEvent | [number, AuditEvent]>, string[]]> = [
    ['every call has its outcome: nothing written', [decision('a'), outcome('a'), decision('b'), outcome('b')], []],
    ['the last call lost its outcome', [decision('a'), outcome('a'), decision('b')], ['b']],
    ['two calls in flight, one finished after', [decision('a'), decision('b'), outcome('b'), decision('c')], ['a', 'c']],
    [
      're-minted after a 401: the second attempt lost its outcome',
      [decision('a'), outcome('a', false), decision('a', { reason: 're-mint after downstream 401' })],
      ['a'],
    ],
    ['a refusal carries its outcome in the decision record', [denied('a')], []],
    [
      'a decision 20 minutes before the end of the log is not a call in flight',
      [
        [0, decision('old')],
        [20, decision('a')],
        [21, outcome('a')],
      ],
      [],
    ],
  ];
  it.each(table)('%s', async (_label, events, expected) => {
    const dir = await crashedLog(events);
    const c = clock('2026-12-06T11:00:00Z');
    const log = await openAuditLog(dir, c);
    const written = await recordUnknownOutcomes(dir, undefined, log);
    expect(written.map((r) => r.traceId)).toEqual(expected);
    for (const r of written) {
      expect(r).toMatchObject({
        type: 'tool_call',
        phase: 'outcome',
        user: alice,
        agent: { clientId: 'agent-1' },
        tool: 'calendar_create_event',
        resource: 'calendar',
        downstream: { method: 'POST', url: 'https://api.calendar.example/events' },
        outcome: { ok: false, error: OUTCOME_UNKNOWN },
      });
      expect(r.reason).toMatch(
        /^the gateway stopped after the decision of 2026-12-06T10:\d\d:00\.000Z \(seq \d+\) and before its outcome was recorded: the request may or may not have reached POST https:\/\/api\.calendar\.example\/events$/,
      );
    }
    // A second start finds nothing more to record; the chain still verifies.
    expect(await recordUnknownOutcomes(dir, undefined, log)).toEqual([]);
    await log.close();
    expect(await verifyAuditDir(dir)).toMatchObject({ ok: true, count: events.length + expected.length });
  });

  it('audit query --outcome unknown lists them, and only them', async () => {
    const dir = await crashedLog([decision('a'), outcome('a'), decision('b'), outcome('c', false), decision('c')]);
    const log = await openAuditLog(dir, clock('2026-12-06T11:00:00Z'));
    await recordUnknownOutcomes(dir, undefined, log);
    await log.close();
    const found: AuditRecord[] = [];
    for await (const r of queryAudit(dir, { outcome: 'unknown' })) found.push(r);
    expect(found.map((r) => [r.traceId, r.decisionSeq])).toEqual([
      ['b', 3],
      ['c', 5],
    ]);
  });
});
