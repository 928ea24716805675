import { spawnSync } from 'node:child_process';
import { appendFile, readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAuditExport, type AuditExportCliOptions } from '../../src/audit/export.js';
import { openAuditLog } from '../../src/audit/file-log.js';
import { OCSF_PRODUCT, toOcsf } from '../../src/audit/ocsf.js';
import type { AuditEvent, AuditRecord } from '../../src/audit/types.js';
import { BIN } from '../../tools/testkit/env.js';
import { cleanup, clock, copyDir, editLines, readLinesOf, tempDir } from './helpers.js';

afterAll(cleanup);

const IDP = 'https://idp.acme.example';
const alice = { iss: IDP, sub: 'u-alice', email: 'alice@acme.example' };
const bob = { iss: IDP, sub: 'u-bob' };
const claude = { clientId: 'claude-desktop', name: 'Claude', version: '1.2.3' };
const CAL = 'https://api.calendar.example/v1/free-slots';

// [time, event]: what the gateway, the admin API and the Shared Signals receiver write, over three days.
const EVENTS: [string, AuditEvent][] = [
  [
    '2025-03-01T09:00:00.000Z',
    {
      type: 'tool_call',
      phase: 'decision',
      traceId: 'c1',
      agent: claude,
      tool: 'calendar_free_slots',
      resource: 'https://api.calendar.example/',
      scopesRequested: ['calendar.read'],
      user: alice,
      decision: 'allow',
      reason: 'allowed',
      scopesGranted: ['calendar.read'],
      idJagJti: 'jti-1',
      tokenFingerprint: 'fp-1',
      tokenFromCache: false,
      downstream: { method: 'GET', url: CAL },
    },
  ],
  [
    '2025-03-01T09:00:01.000Z',
    {
      type: 'tool_call',
      phase: 'outcome',
      traceId: 'c1',
      agent: claude,
      tool: 'calendar_free_slots',
      resource: 'https://api.calendar.example/',
      scopesRequested: ['calendar.read'],
      user: alice,
      outcome: { ok: true, status: 200 },
      latencyMs: 42,
      totalMs: 230,
    },
  ],
  [
    '2025-03-02T10:00:00.000Z',
    {
      type: 'tool_call',
      phase: 'decision',
      traceId: 'd1',
      agent: { clientId: 'cursor' },
      tool: 'crm_get_customer',
      resource: 'https://api.crm.example/',
      scopesRequested: ['crm.read'],
      user: bob,
      decision: 'deny',
      reason: 'user u-bob is disabled by an administrator',
      outcome: { ok: false, error: 'kill_switch' },
      latencyMs: 3,
    },
  ],
  [
    '2025-03-02T11:00:00.000Z',
    {
      type: 'tool_call',
      phase: 'outcome',
      traceId: 'p1',
      agent: claude,
      tool: 'chat_post_message',
      resource: 'https://api.chat.example/',
      scopesRequested: ['chat.write'],
      user: alice,
      outcome: { ok: false, status: 502, error: 'http_502' },
      latencyMs: 7,
      totalMs: 9,
    },
  ],
  [
    '2025-03-02T11:30:00.000Z',
    {
      type: 'tool_call',
      phase: 'decision',
      traceId: 'u1',
      agent: claude,
      tool: 'crmmcp_search',
      resource: 'https://mcp.crm.example/mcp',
      user: alice,
      decision: 'allow',
      reason: 'allowed',
      downstream: { method: 'tools/call', url: 'https://mcp.crm.example/mcp' },
    },
  ],
  [
    '2025-03-03T08:00:00.000Z',
    {
      type: 'admin_action',
      phase: 'outcome',
      traceId: 'a1',
      user: { iss: IDP, sub: 'u-bob' },
      actor: { kind: 'admin', via: 'session', iss: IDP, sub: 'u-admin', email: 'admin@acme.example' },
      action: 'switch.set',
      target: { switch: { kind: 'user', user: { iss: IDP, sub: 'u-bob' } }, label: `user ${IDP} u-bob` },
      reason: 'left the company',
      before: null,
      after: { since: 1 },
      effect: { downstreamTokens: 1, sessions: 1, refreshTokens: 2 },
    },
  ],
  [
    '2025-03-03T08:05:00.000Z',
    {
      type: 'admin_action',
      phase: 'outcome',
      traceId: 'a2',
      actor: { kind: 'admin', via: 'token' },
      action: 'tool.update',
      target: { name: 'calendar_free_slots' },
      before: { scopes: ['calendar.read'] },
      after: { scopes: ['calendar.read', 'calendar.free'] },
    },
  ],
  [
    '2025-03-03T08:10:00.000Z',
    {
      type: 'security_event',
      phase: 'outcome',
      traceId: 's1',
      user: { iss: IDP, sub: 'u-carol' },
      reason: 'RISC account-disabled: user disabled',
      outcome: { ok: true },
      securityEvent: {
        iss: IDP,
        jti: 'set-1',
        eventType: 'https://schemas.openid.net/secevent/risc/event-type/account-disabled',
        delivery: 'push',
        issuedAt: '2025-03-03T08:09:59.000Z',
        subject: { format: 'iss_sub', iss: IDP, sub: 'u-carol' },
        effect: 'disable_user',
        revoked: { downstreamTokens: 0, sessions: 1, refreshTokens: 1 },
      },
    },
  ],
  ['2025-03-03T08:20:00.000Z', { type: 'future_thing', phase: 'outcome', traceId: 'f1', widget: { size: 3 }, user: alice }],
];
const NOW = () => Date.parse('2025-03-03T12:00:00Z');

let dir: string;
let records: AuditRecord[];
const byTrace = (traceId: string, phase = 'decision') => records.find((r) => r.traceId === traceId && r.phase === phase)!;

beforeAll(async () => {
  dir = await tempDir();
  const c = clock(EVENTS[0]![0]);
  const log = await openAuditLog(dir, c);
  records = [];
  for (const [time, event] of EVENTS) {
    c.set(time);
    records.push(await log.append(event));
  }
  await log.close();
});

function capture() {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { out: { stdout: (s: string) => stdout.push(s), stderr: (s: string) => stderr.push(s) }, stdout, stderr };
}
async function exportWith(opts: AuditExportCliOptions, from = dir) {
  const c = capture();
  const code = await runAuditExport(from, opts, c.out, NOW);
  return { code, stdout: c.stdout, stderr: c.stderr, events: c.stdout.map((l) => JSON.parse(l) as Record<string, any>) };
}
const meta = (r: AuditRecord, extra: Record<string, unknown> = {}) => ({
  version: '1.3.0',
  product: { name: 'xaa-gateway', vendor_name: 'xaa-gateway', version: OCSF_PRODUCT.version },
  uid: r.id,
  correlation_uid: r.traceId,
  original_time: r.time,
  sequence: r.seq,
  ...extra,
});
const chain = (r: AuditRecord) => ({ phase: r.phase, prevHash: r.prevHash, hash: r.hash });

describe('OCSF mapping of tool calls (API Activity 6003)', () => {
  it('an allowed decision: Read (GET), Success, security_control Allowed, the token facts in unmapped', () => {
    const r = byTrace('c1');
    expect(toOcsf(r)).toEqual({
      activity_id: 2,
      activity_name: 'Read',
      category_uid: 6,
      category_name: 'Application Activity',
      class_uid: 6003,
      class_name: 'API Activity',
      type_uid: 600302,
      type_name: 'API Activity: Read',
      severity_id: 1,
      severity: 'Informational',
      status_id: 1,
      status: 'Success',
      time: Date.parse('2025-03-01T09:00:00.000Z'),
      metadata: meta(r, { profiles: ['security_control'] }),
      action_id: 1,
      action: 'Allowed',
      disposition_id: 1,
      disposition: 'Allowed',
      status_detail: 'allowed',
      message: 'calendar_free_slots allowed for alice@acme.example via Claude',
      actor: {
        user: { uid: 'u-alice', email_addr: 'alice@acme.example', name: 'alice@acme.example', type_id: 1, type: 'User' },
        app_name: 'Claude',
        app_uid: 'claude-desktop',
        idp: { uid: IDP, name: IDP },
        authorizations: [{ decision: 'Allow', policy: { name: 'xaa-gateway policy', desc: 'allowed' } }],
      },
      api: { operation: 'calendar_free_slots', service: { name: 'https://api.calendar.example/' }, request: { uid: 'c1' } },
      src_endpoint: { uid: 'claude-desktop', name: 'Claude' },
      dst_endpoint: { hostname: 'api.calendar.example', port: 443 },
      http_request: { http_method: 'GET', url: { url_string: CAL, scheme: 'https', hostname: 'api.calendar.example', port: 443, path: '/v1/free-slots' } },
      unmapped: {
        ...chain(r),
        scopesRequested: ['calendar.read'],
        scopesGranted: ['calendar.read'],
        idJagJti: 'jti-1',
        tokenFingerprint: 'fp-1',
        tokenFromCache: false,
        agent_version: '1.2.3',
        decision: 'allow',
      },
    });
  });

  it('a successful outcome (its operation from the decision): Success with the HTTP status, duration and response code', () => {
    const r = byTrace('c1', 'outcome');
    expect(toOcsf(r, { downstream: { method: 'GET', url: CAL } })).toEqual({
      activity_id: 2,
      activity_name: 'Read',
      category_uid: 6,
      category_name: 'Application Activity',
      class_uid: 6003,
      class_name: 'API Activity',
      type_uid: 600302,
      type_name: 'API Activity: Read',
      severity_id: 1,
      severity: 'Informational',
      status_id: 1,
      status: 'Success',
      status_code: '200',
      time: Date.parse('2025-03-01T09:00:01.000Z'),
      metadata: meta(r),
      duration: 42,
      message: `calendar_free_slots for alice@acme.example via Claude: GET ${CAL} -> 200`,
      actor: {
        user: { uid: 'u-alice', email_addr: 'alice@acme.example', name: 'alice@acme.example', type_id: 1, type: 'User' },
        app_name: 'Claude',
        app_uid: 'claude-desktop',
        idp: { uid: IDP, name: IDP },
      },
      api: { operation: 'calendar_free_slots', service: { name: 'https://api.calendar.example/' }, request: { uid: 'c1' }, response: { code: 200 } },
      src_endpoint: { uid: 'claude-desktop', name: 'Claude' },
      dst_endpoint: { hostname: 'api.calendar.example', port: 443 },
      http_request: { http_method: 'GET', url: { url_string: CAL, scheme: 'https', hostname: 'api.calendar.example', port: 443, path: '/v1/free-slots' } },
      http_response: { code: 200 },
      unmapped: { ...chain(r), scopesRequested: ['calendar.read'], totalMs: 230, agent_version: '1.2.3' },
    });
  });

  it('a denial (kill switch): Failure, Medium, security_control Denied/Blocked, the reason as status detail', () => {
    const r = byTrace('d1');
    expect(toOcsf(r)).toEqual({
      activity_id: 99,
      activity_name: 'Other',
      category_uid: 6,
      category_name: 'Application Activity',
      class_uid: 6003,
      class_name: 'API Activity',
      type_uid: 600399,
      type_name: 'API Activity: Other',
      severity_id: 3,
      severity: 'Medium',
      status_id: 2,
      status: 'Failure',
      status_code: 'kill_switch',
      status_detail: 'user u-bob is disabled by an administrator',
      time: Date.parse('2025-03-02T10:00:00.000Z'),
      metadata: meta(r, { profiles: ['security_control'] }),
      action_id: 2,
      action: 'Denied',
      disposition_id: 2,
      disposition: 'Blocked',
      duration: 3,
      message: 'crm_get_customer denied for u-bob via cursor: user u-bob is disabled by an administrator',
      actor: {
        user: { uid: 'u-bob', type_id: 1, type: 'User' },
        app_name: 'cursor',
        app_uid: 'cursor',
        idp: { uid: IDP, name: IDP },
        authorizations: [{ decision: 'Deny', policy: { name: 'xaa-gateway policy', desc: 'user u-bob is disabled by an administrator' } }],
      },
      api: { operation: 'crm_get_customer', service: { name: 'https://api.crm.example/' }, request: { uid: 'd1' } },
      src_endpoint: { uid: 'cursor' },
      unmapped: { ...chain(r), scopesRequested: ['crm.read'], decision: 'deny' },
    });
  });

  it('a failed outcome: Failure, Low, the error code and the downstream status', () => {
    const r = byTrace('p1', 'outcome');
    const e = toOcsf(r);
    expect(e).toMatchObject({
      class_uid: 6003,
      type_uid: 600399,
      status_id: 2,
      status: 'Failure',
      status_code: 'http_502',
      status_detail: 'http_502',
      severity_id: 2,
      severity: 'Low',
      duration: 7,
    });
    expect(e.api).toEqual({
      operation: 'chat_post_message',
      service: { name: 'https://api.chat.example/' },
      request: { uid: 'p1' },
      response: { code: 502, error: 'http_502' },
    });
    expect(e.http_response).toEqual({ code: 502 });
    expect(e).not.toHaveProperty('action_id');
    // Without its decision record (and so its operation): activity Other, no endpoint.
    expect(e).toMatchObject({ activity_id: 99, type_uid: 600399 });
    expect(e).not.toHaveProperty('http_request');
  });

  it.each([
    ['GET', 2, 'Read'],
    ['POST', 1, 'Create'],
    ['PUT', 3, 'Update'],
    ['PATCH', 3, 'Update'],
    ['DELETE', 4, 'Delete'],
    ['tools/call', 99, 'Other'],
  ])('downstream %s -> activity %i %s (type_uid 6003%s)', (method, activityId, name) => {
    const r = { ...byTrace('c1'), downstream: { method, url: CAL } };
    expect(toOcsf(r)).toMatchObject({ activity_id: activityId, activity_name: name, type_uid: 600300 + activityId, type_name: `API Activity: ${name}` });
  });

  it('an upstream MCP call: no HTTP method, the MCP method kept in unmapped', () => {
    const e = toOcsf(byTrace('u1'));
    expect(e).toMatchObject({ activity_id: 99, dst_endpoint: { hostname: 'mcp.crm.example', port: 443 } });
    expect(e.http_request).toEqual({
      url: { url_string: 'https://mcp.crm.example/mcp', scheme: 'https', hostname: 'mcp.crm.example', port: 443, path: '/mcp' },
    });
    expect((e.unmapped as any).downstream_method).toBe('tools/call');
  });
});

describe('OCSF mapping of admin actions, security events and unknown records', () => {
  it('an admin disabling a user: Account Change 3001 Disable', () => {
    const r = byTrace('a1', 'outcome');
    expect(toOcsf(r)).toEqual({
      activity_id: 5,
      activity_name: 'Disable',
      category_uid: 3,
      category_name: 'Identity & Access Management',
      class_uid: 3001,
      class_name: 'Account Change',
      type_uid: 300105,
      type_name: 'Account Change: Disable',
      severity_id: 3,
      severity: 'Medium',
      status_id: 1,
      status: 'Success',
      status_detail: 'left the company',
      time: Date.parse('2025-03-03T08:00:00.000Z'),
      metadata: meta(r),
      message: 'user u-bob disabled at the gateway: left the company',
      user: { uid: 'u-bob', type_id: 1, type: 'User' },
      actor: {
        user: { uid: 'u-admin', email_addr: 'admin@acme.example', name: 'admin@acme.example', type_id: 2, type: 'Admin' },
        idp: { uid: IDP, name: IDP },
        app_name: 'xaa-gateway admin',
      },
      unmapped: {
        ...chain(r),
        user: { iss: IDP, sub: 'u-bob' },
        actor: { kind: 'admin', via: 'session', iss: IDP, sub: 'u-admin', email: 'admin@acme.example' },
        target: { switch: { kind: 'user', user: { iss: IDP, sub: 'u-bob' } }, label: `user ${IDP} u-bob` },
        before: null,
        after: { since: 1 },
        effect: { downstreamTokens: 1, sessions: 1, refreshTokens: 2 },
        action: 'switch.set',
      },
    });
    // Lifting it is Enable.
    expect(toOcsf({ ...r, action: 'switch.lift' })).toMatchObject({ class_uid: 3001, activity_id: 2, type_uid: 300102, severity_id: 1 });
  });

  it('another admin action: API Activity on the admin API, activity from its verb', () => {
    const e = toOcsf(byTrace('a2', 'outcome'));
    expect(e).toMatchObject({
      class_uid: 6003,
      activity_id: 3,
      type_uid: 600303,
      status_id: 1,
      actor: { app_name: 'xaa-gateway admin API (automation token)' },
      api: { operation: 'tool.update', service: { name: 'xaa-gateway admin' }, request: { uid: 'a2' } },
      resources: [{ type: 'tool', name: 'calendar_free_slots' }],
      unmapped: { before: { scopes: ['calendar.read'] }, after: { scopes: ['calendar.read', 'calendar.free'] } },
    });
    expect(toOcsf({ ...byTrace('a2', 'outcome'), action: 'session.revoke' })).toMatchObject({ activity_id: 4, type_uid: 600304 });
    expect(toOcsf({ ...byTrace('a2', 'outcome'), action: 'switch.set', target: { switch: { kind: 'agent', clientId: 'x' }, label: 'agent x' } })).toMatchObject(
      { class_uid: 6003, activity_id: 1, severity_id: 3 },
    );
  });

  it('a RISC account-disabled event: Account Change Disable, the event type as event_code', () => {
    const e = toOcsf(byTrace('s1', 'outcome'));
    expect(e).toMatchObject({
      class_uid: 3001,
      activity_id: 5,
      type_uid: 300105,
      status_id: 1,
      status_detail: 'RISC account-disabled: user disabled',
      user: { uid: 'u-carol', type_id: 1 },
      actor: { app_name: 'Shared Signals receiver', idp: { uid: IDP, name: IDP } },
      metadata: { event_code: 'https://schemas.openid.net/secevent/risc/event-type/account-disabled', correlation_uid: 's1' },
      unmapped: { securityEvent: { jti: 'set-1', effect: 'disable_user', delivery: 'push' } },
    });
  });

  it('a record of an unknown type is exported (API Activity Other) with its fields in unmapped', () => {
    const r = byTrace('f1', 'outcome');
    expect(toOcsf(r)).toMatchObject({
      class_uid: 6003,
      activity_id: 99,
      type_uid: 600399,
      status_id: 0,
      status: 'Unknown',
      api: { operation: 'future_thing', request: { uid: 'f1' } },
      actor: { user: { uid: 'u-alice' }, app_name: 'xaa-gateway' },
      unmapped: { type: 'future_thing', widget: { size: 3 }, phase: 'outcome' },
    });
  });

  it.each([
    ['no fields at all', {}],
    ['fields of the wrong types', { type: 'tool_call', time: 5, user: 'x', agent: [1], downstream: { url: 'not a url', method: 7 }, outcome: 'ok' }],
    ['admin action with junk', { type: 'admin_action', actor: null, target: 'x', action: 3 }],
    ['security event with junk', { type: 'security_event', securityEvent: [] }],
  ])('does not throw on a damaged record: %s', (_, r) => {
    const e = toOcsf(r as Record<string, unknown>);
    expect(e).toMatchObject({ metadata: { version: '1.3.0' }, time: 0 });
    expect(e.type_uid).toBe(e.class_uid * 100 + e.activity_id);
  });
});

describe('audit export (CLI runner)', () => {
  it('ocsf: every record, in log order, one JSON object a line; summary on stderr', async () => {
    const r = await exportWith({ format: 'ocsf' });
    expect(r.code).toBe(0);
    expect(r.events.map((e) => e.metadata.uid)).toEqual(records.map((x) => x.id));
    // The outcome of c1 takes GET (Read) from its decision record.
    expect(r.events.map((e) => e.type_uid)).toEqual([600302, 600302, 600399, 600399, 600399, 300105, 600303, 300105, 600399]);
    expect(r.events[1]).toMatchObject({
      dst_endpoint: { hostname: 'api.calendar.example' },
      http_request: { http_method: 'GET' },
      http_response: { code: 200 },
    });
    expect(r.stderr).toEqual(['exported 9 record(s) as ocsf']);
  });

  it('jsonl: the stored lines byte for byte (hashes still verify)', async () => {
    const r = await exportWith({ format: 'jsonl' });
    const files = (await readdir(dir)).filter((f) => f.endsWith('.jsonl')).sort();
    const stored = (await Promise.all(files.map((f) => readLinesOf(join(dir, f))))).flat();
    expect(r.stdout).toEqual(stored);
  });

  it.each([
    ['--since 24h (relative to now)', { since: '24h' }, ['a1', 'a2', 's1', 'f1']],
    ['--since ISO', { since: '2025-03-02T10:30:00Z' }, ['p1', 'u1', 'a1', 'a2', 's1', 'f1']],
    ['--until is exclusive', { until: '2025-03-02T11:00:00.000Z' }, ['c1', 'c1', 'd1']],
    ['--since and --until', { since: '2025-03-02', until: '2025-03-03' }, ['d1', 'p1', 'u1']],
    ['--user by sub', { user: 'u-bob' }, ['d1', 'a1']],
    ['--user by email', { user: 'ALICE@acme.example' }, ['c1', 'c1', 'p1', 'u1', 'f1']],
    ['--tool', { tool: 'calendar_free_slots' }, ['c1', 'c1']],
  ])('%s', async (_, opts, traces) => {
    const r = await exportWith({ format: 'ocsf', ...opts });
    expect(r.code).toBe(0);
    expect(r.events.map((e) => e.metadata.correlation_uid)).toEqual(traces);
  });

  it.each([
    [{ format: 'csv' }, 'error: --format: expected ocsf or jsonl; got "csv"'],
    [{ since: 'yesterday' }, 'error: --since: expected an ISO date (2025-01-31, 2025-01-31T09:00:00Z) or a duration like 15m, 2h, 7d; got "yesterday"'],
    [{ until: '3 days' }, 'error: --until: expected an ISO date (2025-01-31, 2025-01-31T09:00:00Z) or a duration like 15m, 2h, 7d; got "3 days"'],
    [{ since: '2025-03-02', until: '2025-03-01' }, 'error: --until must be later than --since'],
  ])('bad usage %j -> exit 2 naming the option', async (opts, message) => {
    const r = await exportWith(opts);
    expect(r).toMatchObject({ code: 2, stdout: [], stderr: [message] });
  });

  it('an unreadable directory -> exit 2', async () => {
    const r = await exportWith({}, join(dir, 'nope'));
    expect(r.code).toBe(2);
    expect(r.stderr[0]).toMatch(/^error: cannot read audit log directory .*nope: ENOENT/);
  });

  it('--out writes the file with mode 0600 and nothing to stdout', async () => {
    const out = join(await tempDir(), 'export.ocsf.jsonl');
    const r = await exportWith({ format: 'ocsf', tool: 'calendar_free_slots', out });
    expect(r.code).toBe(0);
    expect(r.stdout).toEqual([]);
    expect(r.stderr).toEqual([`exported 2 record(s) as ocsf to ${out}`]);
    const lines = (await readFile(out, 'utf8')).trimEnd().split('\n');
    expect(lines.map((l) => JSON.parse(l).metadata.correlation_uid)).toEqual(['c1', 'c1']);
    expect((await stat(out)).mode & 0o777).toBe(0o600);
  });
});

describe('audit export of a damaged log', () => {
  const lastFile = async (d: string) =>
    join(
      d,
      (await readdir(d))
        .filter((f) => f.endsWith('.jsonl'))
        .sort()
        .at(-1)!,
    );

  it('a torn last line (crash mid-write): everything before it is exported, a warning names the line, exit 0', async () => {
    const d = await copyDir(dir);
    const path = await lastFile(d);
    const n = (await readLinesOf(path)).length;
    await appendFile(path, '{"type":"tool_call","phase":"deci');
    const r = await exportWith({ format: 'ocsf' }, d);
    expect(r.code).toBe(0);
    expect(r.events).toHaveLength(records.length);
    expect(r.stderr).toEqual([
      `warning: ${path.split('/').at(-1)}:${n + 1}: not a JSON record (a torn write?); skipped`,
      'warning: 1 unreadable line(s) skipped (torn writes: a crash or a full disk)',
      'exported 9 record(s) as ocsf',
    ]);
  });

  it('an edited record: still exported, flagged in unmapped.chain_error; a deleted one breaks the next link; exit 1', async () => {
    const d = await copyDir(dir);
    const path = await lastFile(d); // 2025-03-03: a1, a2, s1, f1
    const file = path.split('/').at(-1)!;
    await editLines(path, (lines) => {
      const edited = lines.map((l) => l.replace('left the company', 'was never disabled'));
      return [edited[0]!, edited[1]!, edited[3]!]; // s1 deleted
    });
    const r = await exportWith({ format: 'ocsf' }, d);
    expect(r.code).toBe(1);
    expect(r.events).toHaveLength(records.length - 1);
    const edited = r.events.find((e) => e.metadata.correlation_uid === 'a1')!;
    expect(edited.status_detail).toBe('was never disabled');
    expect(edited.unmapped.chain_error).toBe('hash mismatch (record was modified)');
    const afterGap = r.events.find((e) => e.metadata.correlation_uid === 'f1')!;
    expect(afterGap.unmapped.chain_error).toBe('prevHash does not match previous record (record deleted, inserted or reordered)');
    expect(r.events.filter((e) => e.unmapped?.chain_error)).toHaveLength(2);
    expect(r.stderr).toEqual([
      `warning: ${file}:1 (seq 6): hash mismatch (record was modified); exported as read`,
      `warning: ${file}:3 (seq 9): prevHash does not match previous record (record deleted, inserted or reordered); exported as read`,
      'exported 8 record(s) as ocsf',
      'WARNING: 2 record(s) break the hash chain (edited, deleted, inserted or reordered); they were exported as read. Run `xaa-gateway audit verify`.',
    ]);
  });
});

describe('xaa-gateway audit export (the binary)', () => {
  it('prints OCSF lines on stdout and the summary on stderr', () => {
    const r = spawnSync(process.execPath, [BIN, 'audit', 'export', dir, '--format', 'ocsf', '--tool', 'crm_get_customer'], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(r.status).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines.map((l) => JSON.parse(l).metadata.correlation_uid)).toEqual(['d1']);
    expect(r.stderr.trim()).toBe('exported 1 record(s) as ocsf');
  });
});
