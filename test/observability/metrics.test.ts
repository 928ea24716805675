import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openAuditLog, type FileAuditLog } from '../../src/audit/index.js';
import { ConfigStore, loadConfigFile } from '../../src/config/index.js';
import { defaultDeps } from '../../src/deps.js';
import { GatewayError } from '../../src/errors.js';
import { LocalIdentity } from '../../src/inbound/local.js';
import { silentLogger } from '../../src/log.js';
import { instrumentAuditSink, Metrics } from '../../src/observability/index.js';
import { Gateway } from '../../src/gateway/index.js';
import { startEnv, type Env } from '../../tools/testkit/env.js';

/** The value of one series, read through prom-client's JSON view (what a scrape would show). */
async function value(metrics: Metrics, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  for (const m of await metrics.registry.getMetricsAsJSON()) {
    for (const v of m.values) {
      const series = (v as { metricName?: string }).metricName ?? m.name;
      if (series !== name) continue;
      if (Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want)) return v.value;
    }
  }
  return undefined;
}

describe('Metrics', () => {
  it('has its own registry: two instances do not clash and the text format lists every metric', async () => {
    const a = new Metrics();
    const b = new Metrics();
    a.toolCall('t', 'success', 0.01);
    expect(await value(a, 'xaa_tool_calls_total', { tool: 't', outcome: 'success' })).toBe(1);
    expect(await value(b, 'xaa_tool_calls_total', { tool: 't', outcome: 'success' })).toBeUndefined();
    const text = await a.text();
    for (const name of [
      'xaa_tool_calls_total',
      'xaa_tool_call_duration_seconds',
      'xaa_token_cache_total',
      'xaa_token_requests_total',
      'xaa_audit_write_seconds',
      'xaa_kill_switch_denials_total',
    ]) {
      expect(text).toContain(`# TYPE ${name} `);
    }
    expect(text).toContain('xaa_tool_calls_total{tool="t",outcome="success"} 1');
    expect(a.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
  });

  it('process metrics only when asked (they start timers)', async () => {
    expect(await new Metrics().text()).not.toContain('process_cpu_user_seconds_total');
    expect(await new Metrics({ processMetrics: true }).text()).toContain('process_cpu_user_seconds_total');
  });

  it.each([
    ['invalid_grant', 'invalid_grant'],
    ['idp_unreachable', 'idp_unreachable'],
    ['has spaces', 'other'],
    ['x'.repeat(65), 'other'],
    ['', 'other'],
  ])('a peer-supplied result %j becomes the label %j', async (result, label) => {
    const m = new Metrics();
    m.tokenRequest('jwt_bearer', 'https://as.example', result);
    expect(await value(m, 'xaa_token_requests_total', { grant: 'jwt_bearer', server: 'https://as.example', result: label })).toBe(1);
  });

  it('token cache hits and misses are read from the brokers at scrape time', async () => {
    const m = new Metrics();
    const s1 = { hits: 3, misses: 1 };
    const s2 = { hits: 1, misses: 2 };
    m.trackTokenCache(s1);
    m.trackTokenCache(s2);
    expect(await value(m, 'xaa_token_cache_total', { result: 'hit' })).toBe(4);
    expect(await value(m, 'xaa_token_cache_total', { result: 'miss' })).toBe(3);
    s1.hits = 10;
    expect(await value(m, 'xaa_token_cache_total', { result: 'hit' })).toBe(11);
  });
});

describe('gateway instrumentation (demo enterprise over loopback HTTP)', () => {
  let env: Env;
  let config: ConfigStore;
  let audit: FileAuditLog;
  let metrics: Metrics;
  let gateway: Gateway;
  const agent = { name: 'metrics-agent', version: '1' };

  beforeAll(async () => {
    env = await startEnv();
    const credentialsPath = await env.signIn('alice', 'alice-demo-pass');
    config = new ConfigStore(loadConfigFile(env.configPath));
    metrics = new Metrics();
    audit = instrumentAuditSink(await openAuditLog(env.auditDir, defaultDeps), metrics);
    gateway = new Gateway({
      config,
      identity: new LocalIdentity({ credentialsPath, config, deps: defaultDeps }),
      audit,
      deps: defaultDeps,
      logger: silentLogger,
      metrics,
    });
  });
  afterAll(async () => {
    await gateway?.flush();
    await audit?.close();
    config?.close();
    await env?.close();
  });

  it('counts each outcome, the cache, the token requests by issuer and result, and audit appends', async () => {
    const idp = env.demo.urls.idp;
    const calendarAs = env.demo.urls.calendar;
    expect((await gateway.callTool({ agent }, 'calendar_free_slots', { date: '2026-12-01' })).isError).toBeFalsy();
    expect((await gateway.callTool({ agent }, 'calendar_free_slots', { date: '2026-12-02' })).isError).toBeFalsy();
    // The IdP refuses payroll (connection disabled): a denial, and an access_denied token exchange.
    expect((await gateway.callTool({ agent }, 'payroll_get_salary', { employeeId: 'e-1002' })).isError).toBe(true);
    // The CRM answers 404: a tool error, not a denial.
    expect((await gateway.callTool({ agent }, 'crm_get_customer', { customerId: 'cus_9999' })).isError).toBe(true);
    // Thrown JSON-RPC errors: an unknown tool (label _unknown, never the raw name) and invalid arguments.
    await expect(gateway.callTool({ agent }, 'no_such_tool_x1', {})).rejects.toMatchObject({ code: 'unknown_tool' });
    await expect(gateway.callTool({ agent }, 'calendar_free_slots', {})).rejects.toMatchObject({ code: 'invalid_arguments' });
    await gateway.flush();

    const calls = [
      [{ tool: 'calendar_free_slots', outcome: 'success' }, 2],
      [{ tool: 'payroll_get_salary', outcome: 'denied' }, 1],
      [{ tool: 'crm_get_customer', outcome: 'tool_error' }, 1],
      [{ tool: '_unknown', outcome: 'error' }, 1],
      [{ tool: 'calendar_free_slots', outcome: 'error' }, 1],
    ] as const;
    for (const [labels, n] of calls) expect(await value(metrics, 'xaa_tool_calls_total', labels), JSON.stringify(labels)).toBe(n);
    expect(await value(metrics, 'xaa_tool_call_duration_seconds_count', { tool: 'calendar_free_slots' })).toBe(3);
    expect(await metrics.text()).not.toContain('no_such_tool_x1');

    // calendar: miss then hit; payroll: miss (refused); crm: miss.
    expect(await value(metrics, 'xaa_token_cache_total', { result: 'hit' })).toBe(1);
    expect(await value(metrics, 'xaa_token_cache_total', { result: 'miss' })).toBe(3);

    const requests = [
      [{ grant: 'token_exchange', server: idp, result: 'ok' }, 2],
      [{ grant: 'token_exchange', server: idp, result: 'access_denied' }, 1],
      [{ grant: 'jwt_bearer', server: calendarAs, result: 'ok' }, 1],
      [{ grant: 'jwt_bearer', server: env.demo.urls.crm, result: 'ok' }, 1],
    ] as const;
    for (const [labels, n] of requests) expect(await value(metrics, 'xaa_token_requests_total', labels), JSON.stringify(labels)).toBe(n);

    // Every durable append is timed: one histogram observation per record written.
    const records = await env.audit();
    expect(records.length).toBeGreaterThan(0);
    expect(await value(metrics, 'xaa_audit_write_seconds_count')).toBe(records.length);
    // The wrapped sink is still the FileAuditLog (its own properties and methods work through the wrapper).
    expect(audit.dir).toBe(env.auditDir);
    expect(audit.warnings).toEqual([]);
    // Tracing is off here: each call's audit records share a random UUID as traceId, and carry no spanId.
    expect(records.every((r) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(r.traceId) && r.spanId === undefined)).toBe(true);
  });
});

describe('kill-switch denials', () => {
  let env: Env;
  afterAll(() => env?.close());
  beforeAll(async () => {
    env = await startEnv();
  });

  it.each([
    [{ switch: { kind: 'user', user: { iss: 'https://idp', sub: 'alice' } } }, 'user'],
    [{ switch: 'connection' }, 'connection'],
    [undefined, 'unknown'],
  ])('a kill_switch denial with details %j counts under switch=%j', async (details, label) => {
    const credentialsPath = await env.signIn('alice', 'alice-demo-pass');
    const config = new ConfigStore(loadConfigFile(env.configPath));
    const metrics = new Metrics();
    const meta = (issuer: string) => ({ issuer, token_endpoint: `${issuer}/token` });
    // The switch is enforced wherever the engineer put it; the gateway counts it where it records the denial.
    const xaa = {
      discover: async (issuer: string) => meta(issuer),
      requestIdJag: async () => {
        throw new GatewayError('kill_switch', 'denied: the user is disabled by an administrator', details ? { details } : {});
      },
      redeemIdJag: async () => {
        throw new Error('not reached');
      },
      discoverMcpResource: async () => {
        throw new Error('not reached');
      },
    };
    const sink = {
      records: [] as unknown[],
      append: async (e: any) => (sink.records.push(e), { ...e, time: '', id: '', seq: 0, prevHash: '', hash: '' }),
      close: async () => {},
    };
    const gateway = new Gateway({
      config,
      identity: new LocalIdentity({ credentialsPath, config, deps: defaultDeps }),
      audit: sink,
      deps: defaultDeps,
      logger: silentLogger,
      metrics,
      xaa,
    });
    try {
      const result = await gateway.callTool({ agent: { name: 'a' } }, 'calendar_free_slots', { date: '2026-12-01' });
      expect(result.isError).toBe(true);
      expect(await value(metrics, 'xaa_kill_switch_denials_total', { switch: label })).toBe(1);
      expect(await value(metrics, 'xaa_tool_calls_total', { tool: 'calendar_free_slots', outcome: 'denied' })).toBe(1);
      expect(sink.records).toEqual([expect.objectContaining({ decision: 'deny', outcome: { ok: false, error: 'kill_switch' } })]);
    } finally {
      config.close();
    }
  });
});
