import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent, AuditRecord, AuditSink } from '../../src/audit/types.js';
import { ConfigStore, loadConfigFile, type GatewayConfigInput } from '../../src/config/index.js';
import { defaultDeps } from '../../src/deps.js';
import { LocalIdentity } from '../../src/inbound/local.js';
import { silentLogger } from '../../src/log.js';
import { Metrics } from '../../src/observability/index.js';
import type { SharedLimits } from '../../src/policy/fixed-windows.js';
import { Gateway } from '../../src/gateway/index.js';
import { startEnv, text, type Env } from '../../tools/testkit/env.js';

/**
 * toolRateLimits through the call pipeline: a call over a limit is a policy denial (tool error
 * [rate_limited], an audited deny decision, no token minted, nothing sent downstream), counted in
 * process memory or, with Redis, once for every instance. Uses the machine's Redis at 127.0.0.1:6379
 * (XAA_TEST_REDIS_URL); XAA_SKIP_REDIS=1 skips those knowingly.
 */

const REDIS_URL = process.env.XAA_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const agent = { name: 'rate-limit-agent', version: '0' };
const TOOL = 'calendar_free_slots';
const ARGS = { date: '2026-12-05' };

class MemorySink implements AuditSink {
  records: AuditEvent[] = [];
  async append(event: AuditEvent): Promise<AuditRecord> {
    this.records.push(event);
    return { ...event, time: '', id: '', seq: this.records.length, prevHash: '', hash: '' };
  }
  async close() {}
}

let env: Env;
let credentialsPath: string;

beforeAll(async () => {
  env = await startEnv();
  credentialsPath = await env.signIn('alice', 'alice-demo-pass');
});
afterAll(() => env?.close());

function gatewayWith(limits: GatewayConfigInput['toolRateLimits'], shared?: SharedLimits) {
  env.writeConfig((c) => (c.toolRateLimits = limits));
  const config = new ConfigStore(loadConfigFile(env.configPath));
  const sink = new MemorySink();
  const metrics = new Metrics();
  const gateway = new Gateway({
    config,
    identity: new LocalIdentity({ credentialsPath, config, deps: defaultDeps }),
    audit: sink,
    deps: defaultDeps,
    logger: silentLogger,
    metrics,
    ...(shared ? { sharedLimits: shared } : {}),
  });
  return { gateway, sink, metrics, close: () => (config.close(), gateway.close()) };
}

const denial = (reason: string) => new RegExp(`^\\[rate_limited\\] denied: ${reason.replace(/[()[\]."]/g, '\\$&')}; retry after \\d+ s$`);

describe('rate limits in the call pipeline (in memory)', () => {
  it.each([
    [
      'tools.<name>.perUser',
      { tools: { [TOOL]: { perUser: { calls: 2, windowSeconds: 3600 } } } },
      `rate limit reached: at most 2 calls of "${TOOL}" per user every 3600 s (toolRateLimits.tools.${TOOL}.perUser)`,
      'tools.perUser',
    ],
    [
      'perTool',
      { perTool: { calls: 2, windowSeconds: 3600 } },
      `rate limit reached: at most 2 calls of "${TOOL}" by all users every 3600 s (toolRateLimits.perTool)`,
      'perTool',
    ],
    [
      'perUser',
      { perUser: { calls: 2, windowSeconds: 3600 } },
      'rate limit reached: at most 2 calls per user every 3600 s, all tools together (toolRateLimits.perUser)',
      'perUser',
    ],
  ] as const)('%s: the third call is denied, audited, and nothing is minted or sent', async (_label, limits, reason, kind) => {
    const g = gatewayWith(limits);
    try {
      for (let i = 0; i < 2; i++) expect((await g.gateway.callTool({ agent }, TOOL, ARGS)).isError ?? false).toBe(false);
      await g.gateway.flush();
      const exchanges = env.demo.stats.tokenExchanges;
      const apiCalls = env.demo.stats.apiCalls.calendar;
      const records = g.sink.records.length;
      const result = await g.gateway.callTool({ agent }, TOOL, ARGS);
      expect(result.isError).toBe(true);
      expect(text(result)).toMatch(denial(reason));
      expect([env.demo.stats.tokenExchanges, env.demo.stats.apiCalls.calendar]).toEqual([exchanges, apiCalls]);
      // Exactly one record for the denied call: the deny decision with the limit as its reason.
      expect(g.sink.records.slice(records)).toEqual([
        expect.objectContaining({
          type: 'tool_call',
          phase: 'decision',
          decision: 'deny',
          reason,
          tool: TOOL,
          agent,
          user: expect.objectContaining({ sub: 'u-alice' }),
          outcome: { ok: false, error: 'rate_limited' },
        }),
      ]);
      const metrics = await g.metrics.text();
      expect(metrics).toContain(`xaa_tool_calls_rate_limited_total{limit="${kind}"} 1`);
      expect(metrics).toContain(`xaa_tool_calls_total{tool="${TOOL}",outcome="denied"} 1`);
    } finally {
      await g.close();
    }
  });

  it('a tool without a limit is not slowed down by the others', async () => {
    const g = gatewayWith({ tools: { crm_get_customer: { perUser: { calls: 1, windowSeconds: 3600 } } } });
    try {
      for (let i = 0; i < 3; i++) expect((await g.gateway.callTool({ agent }, TOOL, ARGS)).isError ?? false).toBe(false);
    } finally {
      await g.close();
    }
  });
});

describe.skipIf(process.env.XAA_SKIP_REDIS === '1')('rate limits shared by two instances through Redis', () => {
  let redis: Redis;
  const prefix = `xaa-test-${randomBytes(6).toString('hex')}`;

  beforeAll(async () => {
    redis = new Redis(REDIS_URL, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
    await new Promise<void>((resolve, reject) => {
      redis.once('ready', () => resolve());
      redis.once('error', reject);
    });
  });
  afterAll(async () => {
    if (!redis) return;
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  });

  it('two gateways count one user together: the third call, on either, is denied', async () => {
    const limits = { tools: { [TOOL]: { perUser: { calls: 2, windowSeconds: 3600 } } } };
    const a = gatewayWith(limits, { redis, prefix });
    const b = gatewayWith(limits, { redis, prefix });
    try {
      expect((await a.gateway.callTool({ agent }, TOOL, ARGS)).isError ?? false).toBe(false);
      expect((await b.gateway.callTool({ agent }, TOOL, ARGS)).isError ?? false).toBe(false);
      const third = await a.gateway.callTool({ agent }, TOOL, ARGS);
      expect(text(third)).toMatch(denial(`rate limit reached: at most 2 calls of "${TOOL}" per user every 3600 s (toolRateLimits.tools.${TOOL}.perUser)`));
      expect(a.sink.records.at(-1)).toMatchObject({ decision: 'deny', outcome: { ok: false, error: 'rate_limited' } });
      // One counter in Redis for the user of this tool, under this deployment's prefix; no user id in the key.
      const keys = await redis.keys(`${prefix}:rl:tool-calls:*`);
      expect(keys).toHaveLength(1);
      expect(keys[0]).toMatch(new RegExp(`^${prefix}:rl:tool-calls:tool-user:2:3600:${TOOL}:[A-Za-z0-9_-]{43}$`));
      expect(keys[0]).not.toMatch(/alice/);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('Redis unreachable: the same limits go on in process memory (never unlimited)', async () => {
    const dead = new Redis('redis://127.0.0.1:1', { enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true });
    dead.on('error', () => {});
    const g = gatewayWith({ perTool: { calls: 1, windowSeconds: 3600 } }, { redis: dead, prefix });
    try {
      expect((await g.gateway.callTool({ agent }, TOOL, ARGS)).isError ?? false).toBe(false);
      expect(text(await g.gateway.callTool({ agent }, TOOL, ARGS))).toMatch(/^\[rate_limited\] /);
    } finally {
      await g.close();
      dead.disconnect();
    }
  });
});
