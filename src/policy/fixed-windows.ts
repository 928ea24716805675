import type { Redis } from 'ioredis';
import type { RateLimiterAbstract } from 'rate-limiter-flexible';

type Library = typeof import('rate-limiter-flexible');
/** Loaded at the first count: about 9 MiB and 40 ms a process that limits nothing does not pay. */
let library: Promise<Library> | undefined;

export interface SharedLimits {
  /** Redis shared by every instance (REDIS_URL): the counts are per deployment, not per process. */
  redis: Redis;
  /** Prefix of the Redis keys (one deployment, or one test, per prefix). Default 'xaa-gateway'. */
  prefix?: string;
}

/** At most `points` in each fixed window of `seconds`. */
export interface Window {
  points: number;
  seconds: number;
}

export type Taken = { ok: true } | { ok: false; retryAfterSeconds: number };

/**
 * Fixed-window counters, the part every rate limit of the gateway shares (the authorization server's
 * endpoints, tool calls). With Redis (REDIS_URL) every instance behind a load balancer counts in the
 * same place; without it, each process counts on its own (rate-limiter-flexible's memory store). If
 * Redis fails, the same limits go on in process memory (the library's insurance limiter) rather than
 * turning off. One limiter per name and numbers: a hot reload that changes the numbers starts fresh
 * counts rather than reinterpreting old ones.
 */
export class FixedWindows {
  readonly #limiters = new Map<string, RateLimiterAbstract>();

  constructor(private readonly shared?: SharedLimits) {}

  #limiter(lib: Library, name: string, w: Window): RateLimiterAbstract {
    const { RateLimiterMemory, RateLimiterRedis } = lib;
    const key = `${name}:${w.points}:${w.seconds}`;
    let limiter = this.#limiters.get(key);
    if (!limiter) {
      const memory = new RateLimiterMemory({ keyPrefix: key, points: w.points, duration: w.seconds });
      limiter = this.shared
        ? new RateLimiterRedis({
            storeClient: this.shared.redis,
            keyPrefix: `${this.shared.prefix ?? 'xaa-gateway'}:rl:${key}`,
            points: w.points,
            duration: w.seconds,
            insuranceLimiter: memory,
          })
        : memory;
      this.#limiters.set(key, limiter);
    }
    return limiter;
  }

  /** Counts one event for `key`; not ok once the window's points are used up, with when to retry. */
  async take(name: string, w: Window, key: string): Promise<Taken> {
    const lib = await (library ??= import('rate-limiter-flexible'));
    try {
      await this.#limiter(lib, name, w).consume(key);
      return { ok: true };
    } catch (e) {
      if (!(e instanceof lib.RateLimiterRes)) throw e;
      return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil(e.msBeforeNext / 1000)) };
    }
  }

  /** Gives back a point take() counted (an event refused by another limit is not held against this one). */
  async giveBack(name: string, w: Window, key: string): Promise<void> {
    await this.#limiter(await (library ??= import('rate-limiter-flexible')), name, w).reward(key, 1);
  }
}
