import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent, AuditRecord, AuditSink } from '../../src/audit/types.js';
import { ConfigStore, loadConfigFile } from '../../src/config/index.js';
import { nodeHttp } from '../../src/catalog/node-http.js';
import { defaultDeps, type Deps } from '../../src/deps.js';
import { LocalIdentity } from '../../src/inbound/local.js';
import { silentLogger } from '../../src/log.js';
import { otlpTracesUrl, setupTracing, type Tracing } from '../../src/observability/index.js';
import { Gateway } from '../../src/gateway/index.js';
import { startEnv, type Env } from '../../tools/testkit/env.js';

class MemorySink implements AuditSink {
  records: AuditEvent[] = [];
  async append(event: AuditEvent): Promise<AuditRecord> {
    this.records.push(event);
    return { ...event, time: '', id: '', seq: this.records.length, prevHash: '', hash: '' };
  }
  async close() {}
}

describe('otlpTracesUrl: where spans go', () => {
  it.each([
    ['config endpoint wins', 'http://collector:4318/', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://env:4318' }, 'http://collector:4318/v1/traces'],
    [
      'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is used as-is',
      undefined,
      { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://t:4318/custom', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://env:4318' },
      'http://t:4318/custom',
    ],
    ['OTEL_EXPORTER_OTLP_ENDPOINT gets /v1/traces', undefined, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://env:4318' }, 'http://env:4318/v1/traces'],
    ['nothing configured: off', undefined, {}, undefined],
    ['OTEL_SDK_DISABLED=true: off', 'http://collector:4318', { OTEL_SDK_DISABLED: 'true' }, undefined],
    ['OTEL_TRACES_EXPORTER=none: off', undefined, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://env:4318', OTEL_TRACES_EXPORTER: 'none' }, undefined],
  ])('%s', (_, endpoint, env, url) => {
    expect(otlpTracesUrl(endpoint, env)).toBe(url);
  });

  it('with nothing configured tracing stays a no-op: spans are not recorded', async () => {
    const t = await setupTracing({ env: {} });
    expect(t.enabled).toBe(false);
    expect(trace.getTracer('x').startSpan('s').isRecording()).toBe(false);
    await t.shutdown();
  });
});

describe('OTLP/HTTP export', () => {
  it('sends the spans to <endpoint>/v1/traces on a collector (loopback) when configured', async () => {
    const received: { path: string; contentType: string; body: string }[] = [];
    const collector: Server = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        received.push({ path: req.url ?? '', contentType: String(req.headers['content-type']), body });
        res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r));
    const endpoint = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;
    const tracing = await setupTracing({ endpoint, env: {}, serviceName: 'xaa-test' });
    try {
      expect(tracing).toMatchObject({ enabled: true, url: `${endpoint}/v1/traces` });
      trace.getTracer('t').startSpan('exported-span').end();
      await tracing.shutdown(); // flushes the batch
      expect(received).toHaveLength(1);
      expect(received[0]).toMatchObject({ path: '/v1/traces' });
      expect(received[0]!.body).toContain('exported-span');
      expect(received[0]!.body).toContain('xaa-test');
    } finally {
      await tracing.shutdown();
      await new Promise<void>((r) => collector.close(() => r()));
    }
  });
});

describe('spans of a tools/call (demo enterprise over loopback HTTP)', () => {
  let env: Env;
  let config: ConfigStore;
  let tracing: Tracing;
  let sink: MemorySink;
  let gateway: Gateway;
  const exporter = new InMemorySpanExporter();
  const sent: { url: string; traceparent: string | null }[] = [];
  const agent = { name: 'trace-agent', version: '1' };
  // The agent's trace context, as an MCP client puts it in params._meta (SEP-414).
  const AGENT_TRACE = '0af7651916cd43dd8448eb211c80319c';
  const AGENT_SPAN = 'b7ad6b7169203331';

  beforeAll(async () => {
    env = await startEnv();
    const credentialsPath = await env.signIn('alice', 'alice-demo-pass');
    config = new ConfigStore(loadConfigFile(env.configPath));
    tracing = await setupTracing({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    const node = nodeHttp();
    const deps: Deps = {
      ...defaultDeps,
      fetch: async (input, init) => {
        sent.push({ url: String(input instanceof Request ? input.url : input), traceparent: new Headers(init?.headers).get('traceparent') });
        return defaultDeps.fetch(input, init);
      },
      // Tool operations go out with the default client (node:http), the IdP and AS requests with fetch.
      http: (request) => {
        sent.push({ url: request.url.toString(), traceparent: request.headers.traceparent ?? null });
        return node(request);
      },
    };
    sink = new MemorySink();
    gateway = new Gateway({ config, identity: new LocalIdentity({ credentialsPath, config, deps }), audit: sink, deps, logger: silentLogger });
  });
  afterEach(() => {
    exporter.reset();
    sent.length = 0;
    sink.records = [];
  });
  afterAll(async () => {
    await tracing?.shutdown();
    config?.close();
    await env?.close();
  });

  const byName = (spans: ReadableSpan[], name: string) => {
    const s = spans.find((x) => x.name === name);
    if (!s) throw new Error(`no span "${name}" among ${spans.map((x) => x.name).join(', ')}`);
    return s;
  };
  const parentId = (s: ReadableSpan) => s.parentSpanContext?.spanId;

  it('a first call: SERVER span with the MCP attributes, child spans for both grants and the downstream GET, traceparent sent downstream, audit traceId = trace id', async () => {
    const result = await gateway.callTool(
      { agent, sessionId: 'sess-123', requestId: 7, meta: { traceparent: `00-${AGENT_TRACE}-${AGENT_SPAN}-01` } },
      'calendar_free_slots',
      { date: '2026-12-03' },
    );
    expect(result.isError).toBeFalsy();
    await gateway.flush();
    const spans = exporter.getFinishedSpans();
    const call = byName(spans, 'tools/call calendar_free_slots');
    expect(call.kind).toBe(SpanKind.SERVER);
    expect(call.attributes).toEqual({
      'mcp.method.name': 'tools/call',
      'gen_ai.operation.name': 'execute_tool',
      'gen_ai.tool.name': 'calendar_free_slots',
      'mcp.session.id': 'sess-123',
      'jsonrpc.request.id': '7',
      'xaa.outcome': 'success',
    });
    expect(call.status.code).toBe(SpanStatusCode.UNSET);
    // The agent's context from params._meta is the parent: one trace from agent to SaaS.
    expect(call.spanContext().traceId).toBe(AGENT_TRACE);
    expect(parentId(call)).toBe(AGENT_SPAN);

    const exchange = byName(spans, 'oauth token_exchange');
    const bearer = byName(spans, 'oauth jwt_bearer');
    for (const s of [exchange, bearer]) {
      expect(s.kind).toBe(SpanKind.CLIENT);
      expect(s.spanContext().traceId).toBe(AGENT_TRACE);
      expect(parentId(s)).toBe(call.spanContext().spanId);
    }
    expect(exchange.attributes).toMatchObject({
      'oauth.grant_type': 'urn:ietf:params:oauth:grant-type:token-exchange',
      'xaa.server': env.demo.urls.idp,
      'xaa.audience': env.demo.urls.calendar,
      'http.request.method': 'POST',
    });
    expect(bearer.attributes).toMatchObject({ 'oauth.grant_type': 'urn:ietf:params:oauth:grant-type:jwt-bearer', 'xaa.server': env.demo.urls.calendar });

    const get = byName(spans, 'GET');
    const calendar = new URL(env.demo.urls.calendar);
    expect(get.kind).toBe(SpanKind.CLIENT);
    expect(parentId(get)).toBe(call.spanContext().spanId);
    expect(get.attributes).toEqual({
      'http.request.method': 'GET',
      'url.full': `${env.demo.urls.calendar}/api/free-slots`, // no query string: it carries tool arguments
      'server.address': calendar.hostname,
      'server.port': Number(calendar.port),
      'http.response.status_code': 200,
    });
    // traceparent reaches the SaaS, naming the GET span; token requests to the IdP and AS carry none.
    const downstream = sent.filter((s) => s.url.startsWith(`${env.demo.urls.calendar}/api/`));
    expect(downstream).toEqual([{ url: expect.stringContaining('/api/free-slots?'), traceparent: `00-${AGENT_TRACE}-${get.spanContext().spanId}-01` }]);
    expect(sent.filter((s) => !s.url.includes('/api/')).every((s) => s.traceparent === null)).toBe(true);

    // The audit records carry the span's trace id (and span id, since an agent's trace spans many calls).
    expect(sink.records.map((r) => [r.phase, r.traceId, r.spanId])).toEqual([
      ['decision', AGENT_TRACE, call.spanContext().spanId],
      ['outcome', AGENT_TRACE, call.spanContext().spanId],
    ]);
  });

  it('a cached call without agent context starts its own trace; no grant spans', async () => {
    await gateway.callTool({ agent }, 'calendar_free_slots', { date: '2026-12-04' });
    const spans = exporter.getFinishedSpans();
    expect(spans.map((s) => s.name).sort()).toEqual(['GET', 'tools/call calendar_free_slots']);
    const call = byName(spans, 'tools/call calendar_free_slots');
    expect(call.parentSpanContext).toBeUndefined();
    expect(call.attributes['mcp.session.id']).toBeUndefined();
    expect(sink.records[0]!.traceId).toBe(call.spanContext().traceId);
  });

  it.each([
    ['a denial (IdP refuses payroll)', 'payroll_get_salary', { employeeId: 'e-1002' }, { outcome: 'denied', code: 'token_exchange_failed' }, 'access_denied'],
    ['a downstream 404', 'crm_get_customer', { customerId: 'cus_9999' }, { outcome: 'tool_error', code: undefined as string | undefined }, undefined],
  ])('%s: error.type tool_error and span status ERROR', async (_, tool, args, want, exchangeError) => {
    const result = await gateway.callTool({ agent }, tool, args);
    expect(result.isError).toBe(true);
    const spans = exporter.getFinishedSpans();
    const call = byName(spans, `tools/call ${tool}`);
    expect(call.attributes).toMatchObject({ 'error.type': 'tool_error', 'xaa.outcome': want.outcome, 'gen_ai.tool.name': tool });
    if (want.code) expect(call.attributes['xaa.error.code']).toBe(want.code);
    expect(call.status.code).toBe(SpanStatusCode.ERROR);
    if (exchangeError) {
      const exchange = byName(spans, 'oauth token_exchange');
      expect(exchange.attributes).toMatchObject({ 'error.type': exchangeError, 'http.response.status_code': 400 });
      expect(exchange.status.code).toBe(SpanStatusCode.ERROR);
    } else {
      expect(byName(spans, 'GET').attributes).toMatchObject({ 'http.response.status_code': 404, 'error.type': '404' });
    }
  });

  it('an unknown tool: span named "tools/call" (client input is not a span name), error.type = the JSON-RPC code', async () => {
    await expect(gateway.callTool({ agent }, 'nope_tool', {})).rejects.toMatchObject({ code: 'unknown_tool' });
    const [span] = exporter.getFinishedSpans();
    expect(span!.name).toBe('tools/call');
    expect(span!.attributes['gen_ai.tool.name']).toBeUndefined();
    expect(span!.attributes).toMatchObject({ 'error.type': '-32602', 'xaa.outcome': 'error' });
    expect(span!.status).toMatchObject({ code: SpanStatusCode.ERROR, message: expect.stringContaining('unknown tool') });
  });
});
