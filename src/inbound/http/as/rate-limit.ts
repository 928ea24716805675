import type { ServerConfig } from '../../../config/index.js';
import { GatewayError } from '../../../errors.js';
import { FixedWindows, type SharedLimits } from '../../../policy/fixed-windows.js';
import { sha256 } from './http.js';

export type { SharedLimits } from '../../../policy/fixed-windows.js';

export type LimitedEndpoint = keyof ServerConfig['rateLimits'];

/**
 * Fixed-window limits per endpoint, per caller address and per client id (server.rateLimits),
 * counted in Redis when the instances share one, else in process memory (src/policy/fixed-windows.ts).
 * The numbers are read at each request, so a hot reload applies them.
 */
export class RateLimits {
  readonly #windows: FixedWindows;

  constructor(
    private readonly settings: () => ServerConfig['rateLimits'],
    shared?: SharedLimits,
  ) {
    this.#windows = new FixedWindows(shared);
  }

  /** Counts one request; throws GatewayError('rate_limited') with `retryAfterSeconds` once a limit is reached. */
  async consume(endpoint: LimitedEndpoint, keys: { address: string; clientId?: string }): Promise<void> {
    await this.#take(endpoint, 'address', keys.address);
    // Client ids come from the request: hash them so a long or hostile value costs a fixed few bytes.
    if (keys.clientId) await this.#take(endpoint, 'client', sha256(keys.clientId));
  }

  async #take(endpoint: LimitedEndpoint, kind: 'address' | 'client', key: string): Promise<void> {
    const s = this.settings()[endpoint];
    const taken = await this.#windows.take(`${endpoint}:${kind}`, { points: kind === 'address' ? s.perAddress : s.perClient, seconds: s.windowSeconds }, key);
    if (taken.ok) return;
    const { retryAfterSeconds } = taken;
    throw new GatewayError('rate_limited', `too many ${endpoint} requests from this ${kind}; retry after ${retryAfterSeconds} s`, {
      details: { endpoint, kind, retryAfterSeconds },
    });
  }
}
