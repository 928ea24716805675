import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAs, startShared, type AsServer, type Shared } from './as-harness.js';

/**
 * Rate limits shared by the instances of one deployment through Redis (REDIS_URL): two gateways
 * count the same client address together; when Redis is gone, each keeps limiting on its own.
 * Uses the machine's Redis at 127.0.0.1:6379 (XAA_TEST_REDIS_URL); XAA_SKIP_REDIS=1 skips knowingly.
 */

const REDIS_URL = process.env.XAA_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const LIMITS = { register: { windowSeconds: 60, perAddress: 3, perClient: 100 } } as never;
const register = (as: AsServer) =>
  fetch(`${as.origin}/register`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ redirect_uris: ['https://a.example/cb'] }),
  });

describe.skipIf(process.env.XAA_SKIP_REDIS === '1')('rate limits shared through Redis', () => {
  let shared: Shared;
  let redis: Redis;
  let dead: Redis;
  const prefix = `xaa-test-${randomBytes(6).toString('hex')}`;
  let a: AsServer;
  let b: AsServer;
  let alone: AsServer;

  beforeAll(async () => {
    shared = await startShared();
    redis = new Redis(REDIS_URL, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
    await new Promise<void>((resolve, reject) => {
      redis.once('ready', () => resolve());
      redis.once('error', reject);
    });
    // A client whose Redis is unreachable (nothing listens on port 1): its limits fall back to memory.
    dead = new Redis('redis://127.0.0.1:1', { enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true });
    dead.on('error', () => {});
    a = await startAs(shared, { name: 'redis-a', server: { rateLimits: LIMITS }, sharedLimits: { redis, prefix } });
    b = await startAs(shared, { name: 'redis-b', server: { rateLimits: LIMITS }, sharedLimits: { redis, prefix } });
    alone = await startAs(shared, { name: 'redis-dead', server: { rateLimits: LIMITS }, sharedLimits: { redis: dead, prefix } });
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close(), alone?.close()]);
    if (redis) {
      const keys = await redis.keys(`${prefix}:*`);
      if (keys.length) await redis.del(...keys);
      redis.disconnect();
    }
    dead?.disconnect();
    await shared?.close();
  });

  it('two instances count one address together: the limit holds across them', async () => {
    expect((await register(a)).status).toBe(201);
    expect((await register(b)).status).toBe(201);
    expect((await register(a)).status).toBe(201);
    const limited = await register(b);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await redis.keys(`${prefix}:rl:register:address:*`)).length).toBe(1);
  });

  it('Redis unreachable: the same limits go on in process memory (never unlimited)', async () => {
    for (let i = 0; i < 3; i++) expect((await register(alone)).status).toBe(201);
    expect((await register(alone)).status).toBe(429);
  });
});
