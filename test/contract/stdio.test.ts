import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { BIN, DEMO_TOOL_NAMES, startEnv, startStdioGateway, text, type Env, type StdioGateway } from '../../tools/testkit/env.js';

/**
 * Contract tests: the real CLI on stdio, driven by the MCP SDK client, against the demo enterprise
 * over loopback HTTP. Each case asserts the tool result, what reached the SaaS, and the audit log.
 */
let env: Env;
let alice: StdioGateway;
let bob: StdioGateway;

beforeAll(async () => {
  env = await startEnv();
  await env.signIn('alice', 'alice-demo-pass');
  await env.signIn('bob', 'bob-demo-pass');
  [alice, bob] = await Promise.all([startStdioGateway(env, 'alice'), startStdioGateway(env, 'bob')]);
});

afterAll(async () => {
  await Promise.all([alice?.close(), bob?.close()]);
  await env?.close();
});

const auditFor = async (tool: string) => (await env.audit()).filter((r) => r.tool === tool);

describe('every demo tool, end to end, as alice', () => {
  it('lists the config tools and the federated upstream tools (deny list applied)', async () => {
    const { tools } = await alice.client.listTools();
    const names = tools.map((t) => t.name).sort();
    expect(names).toEqual(expect.arrayContaining([...DEMO_TOOL_NAMES]));
    expect(names).not.toContain('crmmcp_delete_customer');
  });

  it.each([
    ['calendar_free_slots', { date: '2026-12-01' }, 'calendar'],
    ['calendar_create_meeting', { title: 'Q1 planning', start: '2026-12-01T10:00:00Z', durationMinutes: 30, attendees: ['bob@acme.example'] }, 'calendar'],
    ['expenses_pending_approvals', {}, 'expenses'],
    ['crm_get_customer', { customerId: 'cus_1001' }, 'crm'],
    ['crm_search_customers', { query: 'acme' }, 'crm'],
    ['chat_post_message', { channel: 'general', text: 'hello from the gateway' }, 'chat'],
    ['crmmcp_lookup_customer', { customerId: 'cus_1001' }, 'crm'],
    ['crmmcp_search_customers', { query: 'acme' }, 'crm'],
  ] as const)('%s acts for alice and is audited', async (tool, args, app) => {
    const before = env.demo.stats.apiCalls[app];
    const result = await alice.call(tool, args);
    expect(result.isError ?? false, text(result)).toBe(false);
    expect(text(result)).toContain('alice@acme.example');
    expect(env.demo.stats.apiCalls[app]).toBeGreaterThan(before);
    // The outcome record is group-committed after the response; the decision was durable before the call.
    const records = await vi.waitFor(async () => {
      const all = await auditFor(tool);
      const d = all.find((r) => r.phase === 'decision' && r.decision === 'allow');
      if (!all.some((r) => r.phase === 'outcome' && r.traceId === d?.traceId)) throw new Error('outcome not yet written');
      return all;
    });
    const decision = records.find((r) => r.phase === 'decision' && r.decision === 'allow');
    const outcome = records.find((r) => r.phase === 'outcome' && r.traceId === decision?.traceId);
    expect(decision).toMatchObject({
      type: 'tool_call',
      user: { sub: 'u-alice', email: 'alice@acme.example', iss: env.demo.urls.idp },
      agent: { name: 'contract-test-agent', version: '1.2.3' },
      decision: 'allow',
    });
    expect(decision!.idJagJti).toMatch(/.+/);
    expect(decision!.tokenFingerprint).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(outcome).toMatchObject({ outcome: { ok: true } });
    expect(typeof outcome!.latencyMs).toBe('number');
  });

  it('HTTP tool results carry structuredContent', async () => {
    const result = await alice.call('crm_get_customer', { customerId: 'cus_1001' });
    expect(result.structuredContent).toMatchObject({ actingFor: { email: 'alice@acme.example' } });
  });

  it('reuses the cached token: a second call makes no new exchange', async () => {
    await alice.call('expenses_pending_approvals', {});
    const exchanges = env.demo.stats.tokenExchanges;
    await alice.call('expenses_pending_approvals', {});
    expect(env.demo.stats.tokenExchanges).toBe(exchanges);
  });

  it('invalid arguments are a tool error naming the field (SEP-1303, 2025-11-25), before any token is minted', async () => {
    const exchanges = env.demo.stats.tokenExchanges;
    const result = await alice.call('calendar_create_meeting', { title: 'x', start: 'now', durationMinutes: 'long', attendees: [] });
    expect(result.isError).toBe(true);
    expect(text(result)).toBe('[invalid_arguments] invalid arguments for tool "calendar_create_meeting": /durationMinutes must be integer');
    expect(env.demo.stats.tokenExchanges).toBe(exchanges);
  });

  it('an unknown tool is -32602', async () => {
    await expect(alice.call('no_such_tool')).rejects.toMatchObject({ code: -32602 });
  });
});

describe('denials and failures', () => {
  it('user not assigned to the app: the IdP refuses, nothing reaches the CRM, the denial is audited', async () => {
    const before = env.demo.stats.apiCalls.crm;
    const result = await bob.call('crm_get_customer', { customerId: 'cus_1001' });
    expect(result.isError).toBe(true);
    expect(text(result)).toMatch(/\[token_exchange_failed\].*access_denied/s);
    expect(env.demo.stats.apiCalls.crm).toBe(before);
    const [record] = (await auditFor('crm_get_customer')).filter((r) => r.user?.sub === 'u-bob');
    expect(record).toMatchObject({ phase: 'decision', decision: 'deny', outcome: { ok: false, error: 'token_exchange_failed:access_denied' } });
  });

  it('disabled managed connection (payroll): denied and audited', async () => {
    const result = await alice.call('payroll_get_salary', { employeeId: 'e-1002' });
    expect(result.isError).toBe(true);
    expect(text(result)).toMatch(/access_denied/);
    expect(env.demo.stats.apiCalls.payroll).toBe(0);
    const [record] = await auditFor('payroll_get_salary');
    expect(record).toMatchObject({ decision: 'deny', user: { sub: 'u-alice' } });
  });

  it('downstream 401: the token is evicted and re-minted exactly once', async () => {
    await alice.call('calendar_free_slots', { date: '2026-12-02' });
    const grants = env.demo.stats.jwtBearerGrants.calendar;
    env.demo.control.revokeAccessTokens('calendar');
    const result = await alice.call('calendar_free_slots', { date: '2026-12-03' });
    expect(result.isError ?? false, text(result)).toBe(false);
    expect(env.demo.stats.jwtBearerGrants.calendar).toBe(grants + 1);
    await expect.poll(async () => (await auditFor('calendar_free_slots')).at(-1)?.outcome?.status).toBe(200);
    const records = (await auditFor('calendar_free_slots')).slice(-4);
    expect(records.map((r) => [r.phase, r.reason ?? r.outcome?.status])).toEqual([
      ['decision', 'allowed'],
      ['outcome', 401],
      ['decision', 're-mint after downstream 401'],
      ['outcome', 200],
    ]);
  });

  it('missing scope: the SaaS answers 403 and the tool error says which scope', async () => {
    env.writeConfig((c) => {
      const tool = c.tools!.find((t) => t.name === 'calendar_create_meeting')!;
      tool.scopes = ['calendar.read'];
    });
    await expect
      .poll(
        async () => {
          const r = await alice.call('calendar_create_meeting', { title: 'x', start: '2026-12-01T10:00:00Z', durationMinutes: 30, attendees: [] });
          return r.isError ? text(r) : '';
        },
        { timeout: 5000 },
      )
      .toMatch(/403.*calendar\.write/s);
    env.writeConfig();
  });

  it('IdP invalid_grant (session revoked at the IdP): renewal is tried, then a sign-in error', async () => {
    const exchanges = env.demo.stats.tokenExchanges;
    env.demo.control.revokeUserSessions('bob');
    const result = await bob.call('chat_post_message', { channel: 'general', text: 'hi' });
    expect(result.isError).toBe(true);
    expect(text(result)).toMatch(/xaa-gateway login/);
    expect(env.demo.stats.tokenExchanges).toBeGreaterThan(exchanges);
    expect(env.demo.stats.apiCalls.chat).toBeGreaterThanOrEqual(0);
    const records = (await auditFor('chat_post_message')).filter((r) => r.user?.sub === 'u-bob');
    expect(records.at(-1)).toMatchObject({ decision: 'deny' });
  });

  it('IdP down: a clear error, no downstream call, audited', async () => {
    // A fresh gateway process: nothing cached, so the call needs the IdP.
    const cold = await startStdioGateway(env, 'alice');
    env.demo.control.setIdpDown(true);
    try {
      const before = env.demo.stats.apiCalls.chat;
      const result = await cold.call('chat_post_message', { channel: 'random', text: 'anyone?' });
      expect(result.isError).toBe(true);
      expect(text(result)).toMatch(/IdP|idp/);
      expect(env.demo.stats.apiCalls.chat).toBe(before);
      const last = (await auditFor('chat_post_message')).at(-1);
      expect(last).toMatchObject({ decision: 'deny', user: { sub: 'u-alice' }, outcome: { ok: false, error: 'idp_unreachable' } });
    } finally {
      env.demo.control.setIdpDown(false);
      await cold.close();
    }
  });

  it('before sign-in: a tool error that says to run `xaa-gateway login`, audited', async () => {
    const carol = await startStdioGateway(env, 'nobody');
    try {
      const result = await carol.call('calendar_free_slots', { date: '2026-12-01' });
      expect(result.isError).toBe(true);
      expect(text(result)).toContain('xaa-gateway login');
    } finally {
      await carol.close();
    }
    expect((await auditFor('calendar_free_slots')).at(-1)).toMatchObject({ decision: 'deny', outcome: { error: 'not_signed_in' } });
  });
});

describe('config hot reload', () => {
  it('a valid edit notifies clients (tools/list_changed) and applies to the next call', async () => {
    let notified = 0;
    alice.client.setNotificationHandler(ToolListChangedNotificationSchema, async () => {
      notified++;
    });
    env.writeConfig((c) => {
      c.tools = c.tools!.filter((t) => t.name !== 'chat_post_message');
    });
    await expect.poll(() => notified, { timeout: 5000 }).toBeGreaterThan(0);
    const { tools } = await alice.client.listTools();
    expect(tools.map((t) => t.name)).not.toContain('chat_post_message');
    env.writeConfig();
    await expect.poll(async () => (await alice.client.listTools()).tools.map((t) => t.name), { timeout: 5000 }).toContain('chat_post_message');
  });

  it('an invalid edit is logged with its path and the last good config stays', async () => {
    const good = readFileSync(env.configPath, 'utf8');
    const bad = JSON.parse(good);
    bad.tools[0].resource = 'nowhere';
    writeFileSync(env.configPath, JSON.stringify(bad));
    await expect.poll(() => alice.stderr(), { timeout: 5000 }).toMatch(/tools\[0\]\.resource: unknown resource \\"nowhere\\"/);
    const result = await alice.call('expenses_pending_approvals', {});
    expect(result.isError ?? false).toBe(false);
    writeFileSync(env.configPath, good);
  });
});

describe('audit log', () => {
  it('`audit verify` says OK; after one changed byte it names the record and exits 1', async () => {
    // The config and credentials of the desktop user: verify finds the audit key beside the credentials.
    const who = ['--config', env.configPath, '--credentials', env.credentials('alice')];
    const ok = execFileSync(process.execPath, [BIN, ...who, 'audit', 'verify', env.auditDir], { encoding: 'utf8' });
    expect(ok).toMatch(/^OK: \d+ records/);
    // A chain with at least three records (each desktop gateway writes its own).
    const file = readdirSync(env.auditDir)
      .filter((f) => /^audit-\d{4}-\d\d-\d\d\..*jsonl$/.test(f))
      .map((f) => join(env.auditDir, f))
      .find((f) => readFileSync(f, 'utf8').trim().split('\n').length >= 3)!;
    const lines = readFileSync(file, 'utf8').split('\n');
    lines[2] = lines[2]!.replace(/"id":"[0-9a-f]/, '"id":"z');
    writeFileSync(file, lines.join('\n'));
    let status = 0;
    let output = '';
    try {
      execFileSync(process.execPath, [BIN, ...who, 'audit', 'verify', env.auditDir], { encoding: 'utf8', stdio: 'pipe' });
    } catch (e: any) {
      status = e.status;
      output = e.stdout + e.stderr;
    }
    expect(status).toBe(1);
    expect(output).toMatch(new RegExp(`BROKEN: .*${file.split('/').at(-1)}:3 `));
  });

  it('never writes a token or an ID-JAG', async () => {
    const files = readdirSync(env.auditDir);
    const raw = files
      .filter((f) => !f.startsWith('audit-checkpoints'))
      .map((f) => readFileSync(join(env.auditDir, f), 'utf8'))
      .join('');
    expect(raw).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\.eyJ/);
    // The checkpoint files hold JWSs too: signed checkpoints, nothing else.
    for (const f of files.filter((n) => n.startsWith('audit-checkpoints'))) {
      for (const line of readFileSync(join(env.auditDir, f), 'utf8').trim().split('\n')) {
        const { checkpoint, ...rest } = JSON.parse(line) as { checkpoint: string };
        expect(Object.keys(rest).sort()).toEqual(['n', 'seq', 'time']);
        expect(JSON.parse(Buffer.from(checkpoint.split('.')[0]!, 'base64url').toString())).toMatchObject({ alg: 'EdDSA', typ: 'xaa-audit-checkpoint' });
      }
    }
  });
});
