import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import type { ServerConfig } from '../../../config/index.js';
import { GatewayError } from '../../../errors.js';
import { sha256 } from './http.js';

export type LimitedEndpoint = keyof ServerConfig['rateLimits'];

/**
 * Fixed-window limits per endpoint, per caller address and per client id (server.rateLimits), held
 * in this process (rate-limiter-flexible's memory store). Limiters are rebuilt when a hot reload
 * changes the numbers. Several instances behind a load balancer each count on their own.
 */
export class RateLimits {
  readonly #limiters = new Map<string, RateLimiterMemory>();

  constructor(private readonly settings: () => ServerConfig['rateLimits']) {}

  #limiter(endpoint: LimitedEndpoint, kind: 'address' | 'client'): RateLimiterMemory {
    const s = this.settings()[endpoint];
    const points = kind === 'address' ? s.perAddress : s.perClient;
    const key = `${endpoint}:${kind}:${points}:${s.windowSeconds}`;
    let limiter = this.#limiters.get(key);
    if (!limiter) {
      limiter = new RateLimiterMemory({ keyPrefix: key, points, duration: s.windowSeconds });
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
