import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { ServerConfig } from '../../../config/index.js';
import { GatewayError } from '../../../errors.js';
import { sha256 } from './http.js';

export type LimitedEndpoint = keyof ServerConfig['rateLimits'];

export interface SharedLimits {
  /** Redis shared by every instance (REDIS_URL): the counts are per deployment, not per process. */
  redis: Redis;
  /** Prefix of the Redis keys (one deployment, or one test, per prefix). Default 'xaa-gateway'. */
  prefix?: string;
}

/**
 * Fixed-window limits per endpoint, per caller address and per client id (server.rateLimits).
 * With Redis (REDIS_URL) every instance behind a load balancer counts in the same place; without
 * it, each process counts on its own (rate-limiter-flexible's memory store). If Redis fails, the
 * same limits go on in process memory (the library's insurance limiter) rather than turning off.
 * Limiters are rebuilt when a hot reload changes the numbers.
 */
export class RateLimits {
  readonly #limiters = new Map<string, RateLimiterAbstract>();

  constructor(
    private readonly settings: () => ServerConfig['rateLimits'],
    private readonly shared?: SharedLimits,
  ) {}

  #limiter(endpoint: LimitedEndpoint, kind: 'address' | 'client'): RateLimiterAbstract {
    const s = this.settings()[endpoint];
    const points = kind === 'address' ? s.perAddress : s.perClient;
    const key = `${endpoint}:${kind}:${points}:${s.windowSeconds}`;
    let limiter = this.#limiters.get(key);
    if (!limiter) {
      const memory = new RateLimiterMemory({ keyPrefix: key, points, duration: s.windowSeconds });
      limiter = this.shared
        ? new RateLimiterRedis({
            storeClient: this.shared.redis,
            keyPrefix: `${this.shared.prefix ?? 'xaa-gateway'}:rl:${key}`,
            points,
            duration: s.windowSeconds,
            insuranceLimiter: memory,
          })
        : memory;
      this.#limiters.set(key, limiter);
    }
    return limiter;
  }

  /** Counts one request; throws GatewayError('rate_limited') with `retryAfterSeconds` once a limit is reached. */
  async consume(endpoint: LimitedEndpoint, keys: { address: string; clientId?: string }): Promise<void> {
    await this.#take(endpoint, 'address', keys.address);
    // Client ids come from the request: hash them so a long or hostile value costs a fixed few bytes.
    if (keys.clientId) await this.#take(endpoint, 'client', sha256(keys.clientId));
  }

  async #take(endpoint: LimitedEndpoint, kind: 'address' | 'client', key: string): Promise<void> {
    try {
      await this.#limiter(endpoint, kind).consume(key);
    } catch (e) {
      if (!(e instanceof RateLimiterRes)) throw e;
      const retryAfterSeconds = Math.max(1, Math.ceil(e.msBeforeNext / 1000));
      throw new GatewayError('rate_limited', `too many ${endpoint} requests from this ${kind}; retry after ${retryAfterSeconds} s`, {
        details: { endpoint, kind, retryAfterSeconds },
      });
    }
  }
}
