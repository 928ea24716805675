import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createAdaptorServer } from '@hono/node-server';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { isLoopbackAddress, Metrics, metricsRoute } from '../../src/observability/index.js';
import { runServe } from '../../src/server/serve.js';
import type { HttpServer } from '../../src/server/http.js';
import { startEnv, type Env } from '../../tools/testkit/env.js';
import { serverSection } from '../server/http/harness.js';

describe('isLoopbackAddress', () => {
  it.each([
    ['127.0.0.1', true],
    ['127.8.9.10', true],
    ['::1', true],
    ['::ffff:127.0.0.1', true],
    ['10.0.0.1', false],
    ['::ffff:10.0.0.1', false],
    ['1127.0.0.1', false],
    ['fe80::1', false],
    [undefined, false],
  ])('%s -> %s', (address, loopback) => {
    expect(isLoopbackAddress(address)).toBe(loopback);
  });
});

describe('GET /metrics access', () => {
  let server: Server;
  let base: string;
  let tokens: string[] = [];
  const metrics = new Metrics();
  const app = new Hono();
  app.get('/metrics', metricsRoute({ metrics, tokens: () => tokens }));

  beforeAll(async () => {
    metrics.toolCall('calendar_free_slots', 'success', 0.02);
    server = createAdaptorServer({ fetch: app.fetch }) as Server;
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it.each([
    ['a loopback scraper, no token configured', [], {}, 200],
    ['a forwarded request (a proxy on this host), no token configured', [], { 'X-Forwarded-For': '203.0.113.7' }, 403],
    ['a forwarded request (RFC 7239 Forwarded) without a token', ['s3cret-metrics'], { Forwarded: 'for=203.0.113.7' }, 401],
    ['a forwarded request with a wrong token', ['s3cret-metrics'], { 'X-Real-IP': '203.0.113.7', Authorization: 'Bearer wrong' }, 401],
    ['a forwarded request with the token', ['s3cret-metrics'], { 'X-Forwarded-For': '203.0.113.7', Authorization: 'Bearer s3cret-metrics' }, 200],
    [
      'a forwarded request with the second of two tokens (metrics and admin)',
      ['one', 'admin-token'],
      { 'X-Forwarded-For': '203.0.113.7', Authorization: 'bearer admin-token' },
      200,
    ],
  ])('%s (tokens %j, headers %j) -> %i', async (_, configured, headers, status) => {
    tokens = configured;
    const res = await fetch(`${base}/metrics`, { headers });
    expect(res.status).toBe(status);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = await res.text();
    if (status === 200) {
      expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
      expect(body).toContain('xaa_tool_calls_total{tool="calendar_free_slots",outcome="success"} 1');
    } else {
      expect(body).not.toContain('xaa_');
    }
    if (status === 401) expect(res.headers.get('www-authenticate')).toBe('Bearer realm="metrics"');
    if (status === 403) expect(body).toMatch(/loopback scrapers only; configure observability\.metrics\.token \(or admin\.tokens\)/);
  });

  it('a request that did not come through a socket (no peer address) is not loopback', async () => {
    tokens = [];
    expect((await app.fetch(new Request('http://127.0.0.1/metrics'))).status).toBe(403);
  });
});

const ADMIN_TOKEN = 'admin-token-for-tests-0123456789abcdef';

describe('xaa-gateway serve exposes /metrics', () => {
  let env: Env;
  let served: HttpServer | undefined;
  beforeAll(async () => {
    env = await startEnv();
    writeFileSync(join(env.dir, 'metrics.token'), 'scrape-token-1\n');
    writeFileSync(join(env.dir, 'admin.token'), `${ADMIN_TOKEN}\n`);
    env.writeConfig((c) => {
      c.server = { ...serverSection('https://mcp.acme.test', env.dir), dataDir: 'data/store' };
      c.observability = { metrics: { enabled: true, token: { file: 'metrics.token' } } };
      c.admin = { tokens: [{ file: 'admin.token' }] };
    });
    served = await runServe({ configPath: env.configPath, host: '127.0.0.1', port: 0, handleSignals: false, logger: silentLogger });
  });
  afterAll(async () => {
    await served?.shutdown('test');
    await env?.close();
  });

  it('in Prometheus text with the process metrics, to loopback and to a scraper with observability.metrics.token', async () => {
    const local = await fetch(`${served!.listenUrl}/metrics`);
    expect(local.status).toBe(200);
    const text = await local.text();
    expect(text).toContain('# TYPE xaa_tool_calls_total counter');
    expect(text).toContain('# TYPE xaa_audit_write_seconds histogram');
    expect(text).toContain('process_cpu_user_seconds_total');
    const forwarded = { 'X-Forwarded-For': '198.51.100.4' };
    expect((await fetch(`${served!.listenUrl}/metrics`, { headers: forwarded })).status).toBe(401);
    expect((await fetch(`${served!.listenUrl}/metrics`, { headers: { ...forwarded, Authorization: 'Bearer scrape-token-1' } })).status).toBe(200);
    expect((await fetch(`${served!.listenUrl}/metrics`, { headers: { ...forwarded, Authorization: `Bearer ${ADMIN_TOKEN}` } })).status).toBe(200);
  });
});
