import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent, AuditRecord, AuditSink } from '../../src/audit/types.js';
import { ConfigStore, loadConfigFile } from '../../src/config/index.js';
import { defaultDeps } from '../../src/deps.js';
import { GatewayError } from '../../src/errors.js';
import { LocalIdentity } from '../../src/inbound/local.js';
import { silentLogger } from '../../src/log.js';
import { Gateway, toolErrorResult } from '../../src/gateway/index.js';
import { RECONNECT_HINT } from '../../src/inbound/http/identity.js';
import type { InboundIdentity } from '../../src/inbound/identity.js';
import { startEnv, text, type Env } from '../../tools/testkit/env.js';

/** In-process pipeline tests (real HTTP to the demo enterprise) for what the stdio contract tests cannot reach. */
class MemorySink implements AuditSink {
  records: AuditEvent[] = [];
  failing = false;
  async append(event: AuditEvent): Promise<AuditRecord> {
    if (this.failing) throw new GatewayError('audit_unavailable', 'cannot write audit record to /var/audit: ENOSPC');
    this.records.push(event);
    return { ...event, time: '', id: '', seq: this.records.length, prevHash: '', hash: '' };
  }
  async close() {}
}

let env: Env;
let config: ConfigStore;
let sink: MemorySink;
let gateway: Gateway;
const agent = { name: 'unit-agent', version: '0' };

beforeAll(async () => {
  env = await startEnv();
  const credentialsPath = await env.signIn('alice', 'alice-demo-pass');
  config = new ConfigStore(loadConfigFile(env.configPath));
  sink = new MemorySink();
  gateway = new Gateway({
    config,
    identity: new LocalIdentity({ credentialsPath, config, deps: defaultDeps }),
    audit: sink,
    deps: defaultDeps,
    logger: silentLogger,
  });
});
afterAll(() => env?.close());

describe('call pipeline', () => {
  it('fails closed: no audit record, no downstream call', async () => {
    sink.failing = true;
    try {
      const before = env.demo.stats.apiCalls.expenses;
      const result = await gateway.callTool({ agent }, 'expenses_pending_approvals', {});
      expect(result.isError).toBe(true);
      expect(text(result)).toMatch(/^\[audit_unavailable\] cannot write audit record .*\n.*refused because it could not be recorded/s);
      expect(env.demo.stats.apiCalls.expenses).toBe(before);
    } finally {
      sink.failing = false;
    }
  });

  it('a tool disabled in config is denied by policy and audited, before any token is minted', async () => {
    const exchanges = env.demo.stats.tokenExchanges;
    env.writeConfig((c) => {
      c.tools!.find((t) => t.name === 'crm_get_customer')!.enabled = false;
    });
    config.reload();
    const result = await gateway.callTool({ agent }, 'crm_get_customer', { customerId: 'cus_1001' });
    expect(text(result)).toBe(`[policy_denied] denied: tool "crm_get_customer" is disabled in the gateway's config`);
    expect(env.demo.stats.tokenExchanges).toBe(exchanges);
    expect(sink.records.at(-1)).toMatchObject({
      tool: 'crm_get_customer',
      decision: 'deny',
      reason: `tool "crm_get_customer" is disabled in the gateway's config`,
      agent,
      user: { sub: 'u-alice' },
    });
    expect((await gateway.listTools({})).map((t) => t.name)).not.toContain('crm_get_customer');
    env.writeConfig();
    config.reload();
  });

  it('records decision then outcome for an allowed call, sharing a trace id, without the token', async () => {
    sink.records = [];
    const result = await gateway.callTool({ agent }, 'calendar_free_slots', { date: '2026-12-05' });
    expect(result.isError ?? false).toBe(false);
    await gateway.flush();
    const [decision, outcome] = sink.records;
    expect(decision).toMatchObject({
      type: 'tool_call',
      phase: 'decision',
      decision: 'allow',
      reason: 'allowed',
      tool: 'calendar_free_slots',
      resource: `${env.demo.urls.calendar}/api`,
      scopesRequested: ['calendar.read'],
      scopesGranted: ['calendar.read'],
      downstream: { method: 'GET', url: `${env.demo.urls.calendar}/api/free-slots` },
    });
    expect(outcome).toMatchObject({ phase: 'outcome', traceId: decision!.traceId, outcome: { ok: true, status: 200 } });
    expect(JSON.stringify(sink.records)).not.toMatch(/eyJ/);
  });

  it('the broker single-flights concurrent first calls through the whole pipeline', async () => {
    env.writeConfig((c) => {
      c.tools!.find((t) => t.name === 'expenses_pending_approvals')!.scopes = ['expenses.read', 'expenses.read'];
    });
    gateway.broker.purge({ resource: `${env.demo.urls.expenses}/api` });
    const exchanges = env.demo.stats.tokenExchanges;
    const results = await Promise.all(Array.from({ length: 20 }, () => gateway.callTool({ agent }, 'expenses_pending_approvals', {})));
    expect(results.every((r) => !r.isError)).toBe(true);
    expect(env.demo.stats.tokenExchanges - exchanges).toBe(1);
    env.writeConfig();
  });
});

describe('sign-in hints fit the transport: remote (HTTP) users are never told to run the CLI', () => {
  const LOGIN = 'run `xaa-gateway login` in a terminal, then call the tool again';
  it.each([
    ['token_exchange_failed', 'invalid_grant', 'Your sign-in is no longer accepted by the IdP'],
    ['step_up_required', undefined, 'The IdP requires a stronger sign-in'],
  ] as const)('%s: stdio says login, HTTP says reconnect', (code, oauthError, lead) => {
    const err = new GatewayError(code, 'refused', oauthError ? { oauthError } : {});
    expect(text(toolErrorResult(err, LOGIN) as never)).toBe(`[${code}] refused\n${lead}; ${LOGIN}.`);
    expect(text(toolErrorResult(err, RECONNECT_HINT) as never)).toBe(`[${code}] refused\n${lead}; ${RECONNECT_HINT}.`);
  });

  it("a caller the HTTP identity cannot resolve gets the identity's own message, audited as not_signed_in", async () => {
    const identity: InboundIdentity = {
      signInHint: RECONNECT_HINT,
      resolve: async () => {
        throw new GatewayError('not_signed_in', `your gateway session has ended (signed out or revoked); ${RECONNECT_HINT}`);
      },
    };
    const remote = new Gateway({ config, identity, audit: sink, deps: defaultDeps, logger: silentLogger });
    const result = await remote.callTool({ agent }, 'expenses_pending_approvals', {});
    expect(result).toEqual({
      isError: true,
      content: [{ type: 'text', text: `[not_signed_in] your gateway session has ended (signed out or revoked); ${RECONNECT_HINT}` }],
    });
    await remote.flush();
    expect(sink.records.at(-1)).toMatchObject({ decision: 'deny', outcome: { ok: false, error: 'not_signed_in' } });
  });
});
