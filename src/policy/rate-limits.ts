import { createHash } from 'node:crypto';
import { formatPath } from '../config/errors.js';
import type { ToolRateLimitsConfig } from '../config/schema.js';
import { GatewayError } from '../errors.js';
import { FixedWindows, type SharedLimits, type Window } from './fixed-windows.js';

/** Which key of toolRateLimits a limit comes from (also the metric label: four values). */
export type RateLimitKind = 'perUser' | 'perTool' | 'tools.perUser' | 'tools.perTool';

export interface RateLimitDenial {
  /** The audit record's reason: which limit, its numbers and its config path. */
  reason: string;
  /** GatewayError('rate_limited'): the tool error says the same and when to retry. */
  error: GatewayError;
  kind: RateLimitKind;
}

interface Applicable {
  kind: RateLimitKind;
  /** Counter name: one count per user, per tool, or per user of one tool. */
  name: string;
  key: string;
  window: Window;
  /** The limit in words, for the denial. */
  what: string;
  path: string;
}

const SAFE_KEY = /^[A-Za-z0-9_.-]{1,128}$/;
const hash = (s: string) => createHash('sha256').update(s).digest('base64url');

/**
 * Per-user and per-tool rate limits of tool calls (toolRateLimits): a policy, checked after the kill
 * switches and before any token is minted. A call over a limit is denied and audited like any other
 * denial. Counted by src/policy/fixed-windows.ts: in Redis when the instances share one (REDIS_URL),
 * so the fleet counts once, else in this process.
 */
export class ToolRateLimits {
  readonly #windows: FixedWindows;

  constructor(
    private readonly settings: () => ToolRateLimitsConfig | undefined,
    private readonly opts: { shared?: SharedLimits; onDenied?: (kind: RateLimitKind) => void } = {},
  ) {
    this.#windows = new FixedWindows(opts.shared);
  }

  /**
   * Counts one call of `tool` by `user` against every limit that applies. Returns undefined at once
   * (nothing to await, no I/O) when none does, the common case; otherwise a promise of the denial, or
   * of undefined when the call may proceed.
   */
  check(user: { iss: string; sub: string }, tool: string): Promise<RateLimitDenial | undefined> | undefined {
    const s = this.settings();
    if (!s) return undefined;
    const own = Object.hasOwn(s.tools, tool) ? s.tools[tool] : undefined;
    const perTool = own?.perTool ?? s.perTool;
    if (!s.perUser && !own?.perUser && !perTool) return undefined;
    // Users and tool names become counter keys: a user as a hash (fixed size, no identifier in Redis).
    const userKey = hash(`${user.iss}\n${user.sub}`);
    const toolKey = SAFE_KEY.test(tool) ? tool : hash(tool);
    const limits: Applicable[] = [];
    if (s.perUser)
      limits.push({
        kind: 'perUser',
        name: 'tool-calls:user',
        key: userKey,
        window: windowOf(s.perUser),
        what: `${calls(s.perUser.calls)} per user every ${s.perUser.windowSeconds} s, all tools together`,
        path: 'toolRateLimits.perUser',
      });
    if (own?.perUser)
      limits.push({
        kind: 'tools.perUser',
        name: 'tool-calls:tool-user',
        key: `${toolKey}:${userKey}`,
        window: windowOf(own.perUser),
        what: `${calls(own.perUser.calls)} of "${tool}" per user every ${own.perUser.windowSeconds} s`,
        path: formatPath(['toolRateLimits', 'tools', tool, 'perUser']),
      });
    if (perTool) {
      const kind = own?.perTool ? 'tools.perTool' : 'perTool';
      limits.push({
        kind,
        name: 'tool-calls:tool',
        key: toolKey,
        window: windowOf(perTool),
        what: `${calls(perTool.calls)} of "${tool}" by all users every ${perTool.windowSeconds} s`,
        path: kind === 'perTool' ? 'toolRateLimits.perTool' : formatPath(['toolRateLimits', 'tools', tool, 'perTool']),
      });
    }
    return this.#take(limits);
  }

  async #take(limits: Applicable[]): Promise<RateLimitDenial | undefined> {
    const taken = await Promise.all(limits.map((l) => this.#windows.take(l.name, l.window, l.key)));
    const i = taken.findIndex((t) => !t.ok);
    if (i === -1) return undefined;
    // A denied call is not counted against the limits it passed (its user's or its tool's other counts).
    await Promise.all(limits.map((l, j) => (taken[j]!.ok ? this.#windows.giveBack(l.name, l.window, l.key) : undefined)));
    const limit = limits[i]!;
    const retryAfterSeconds = (taken[i] as { retryAfterSeconds: number }).retryAfterSeconds;
    this.opts.onDenied?.(limit.kind);
    const reason = `rate limit reached: at most ${limit.what} (${limit.path})`;
    return {
      kind: limit.kind,
      reason,
      error: new GatewayError('rate_limited', `denied: ${reason}; retry after ${retryAfterSeconds} s`, {
        details: { limit: limit.path, calls: limit.window.points, windowSeconds: limit.window.seconds, retryAfterSeconds },
      }),
    };
  }
}

const calls = (n: number) => `${n} call${n === 1 ? '' : 's'}`;

function windowOf(r: { calls: number; windowSeconds: number }): Window {
  return { points: r.calls, seconds: r.windowSeconds };
}
