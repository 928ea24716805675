import { describe, expect, it } from 'vitest';
import type { ToolRateLimitsConfig } from '../../src/config/schema.js';
import { ToolRateLimits, type RateLimitKind } from '../../src/policy/rate-limits.js';

/** toolRateLimits counted in process memory: which limit applies, which one denies, and what the denial says. */

const ALICE = { iss: 'https://idp.example', sub: 'alice' };
const BOB = { iss: 'https://idp.example', sub: 'bob' };
const HOUR = 3600;
const limits = (l: Partial<ToolRateLimitsConfig>): ToolRateLimitsConfig => ({ tools: {}, ...l });

type Step = [user: typeof ALICE, tool: string, denied?: { kind: RateLimitKind; reason: string }];

const table: Array<[string, ToolRateLimitsConfig, Step[]]> = [
  [
    'perUser: each user on their own, all tools together',
    limits({ perUser: { calls: 2, windowSeconds: HOUR } }),
    [
      [ALICE, 'a'],
      [ALICE, 'b'],
      [ALICE, 'c', { kind: 'perUser', reason: 'rate limit reached: at most 2 calls per user every 3600 s, all tools together (toolRateLimits.perUser)' }],
      [BOB, 'a'],
    ],
  ],
  [
    'perTool: each tool on its own, all users together',
    limits({ perTool: { calls: 2, windowSeconds: HOUR } }),
    [
      [ALICE, 'a'],
      [BOB, 'a'],
      [ALICE, 'a', { kind: 'perTool', reason: 'rate limit reached: at most 2 calls of "a" by all users every 3600 s (toolRateLimits.perTool)' }],
      [ALICE, 'b'],
    ],
  ],
  [
    'tools.<name>.perTool replaces perTool for that tool only',
    limits({ perTool: { calls: 1, windowSeconds: HOUR }, tools: { 'crm.search': { perTool: { calls: 3, windowSeconds: 60 } } } }),
    [
      [ALICE, 'crm.search'],
      [BOB, 'crm.search'],
      [ALICE, 'crm.search'],
      [
        BOB,
        'crm.search',
        {
          kind: 'tools.perTool',
          reason: 'rate limit reached: at most 3 calls of "crm.search" by all users every 60 s (toolRateLimits.tools["crm.search"].perTool)',
        },
      ],
      [ALICE, 'other'],
      [ALICE, 'other', { kind: 'perTool', reason: 'rate limit reached: at most 1 call of "other" by all users every 3600 s (toolRateLimits.perTool)' }],
    ],
  ],
  [
    'tools.<name>.perUser: each user of that tool',
    limits({ tools: { crm_search: { perUser: { calls: 1, windowSeconds: HOUR } } } }),
    [
      [ALICE, 'crm_search'],
      [BOB, 'crm_search'],
      [
        ALICE,
        'crm_search',
        { kind: 'tools.perUser', reason: 'rate limit reached: at most 1 call of "crm_search" per user every 3600 s (toolRateLimits.tools.crm_search.perUser)' },
      ],
      [ALICE, 'unlimited'],
      [ALICE, 'unlimited'],
    ],
  ],
  [
    'a call denied by one limit is not counted by the others',
    limits({ perUser: { calls: 2, windowSeconds: HOUR }, tools: { scarce: { perTool: { calls: 1, windowSeconds: HOUR } } } }),
    [
      [BOB, 'scarce'],
      [
        ALICE,
        'scarce',
        { kind: 'tools.perTool', reason: 'rate limit reached: at most 1 call of "scarce" by all users every 3600 s (toolRateLimits.tools.scarce.perTool)' },
      ],
      [
        ALICE,
        'scarce',
        { kind: 'tools.perTool', reason: 'rate limit reached: at most 1 call of "scarce" by all users every 3600 s (toolRateLimits.tools.scarce.perTool)' },
      ],
      // Alice's two denied calls did not use up her perUser count.
      [ALICE, 'a'],
      [ALICE, 'b'],
      [ALICE, 'c', { kind: 'perUser', reason: 'rate limit reached: at most 2 calls per user every 3600 s, all tools together (toolRateLimits.perUser)' }],
    ],
  ],
];

describe('ToolRateLimits (in memory)', () => {
  it.each(table)('%s', async (_label, config, steps) => {
    const denied: RateLimitKind[] = [];
    const rl = new ToolRateLimits(() => config, { onDenied: (k) => denied.push(k) });
    const outcomes = [];
    for (const [user, tool] of steps) {
      const d = await rl.check(user, tool);
      outcomes.push(d ? { kind: d.kind, reason: d.reason } : undefined);
    }
    expect(outcomes).toEqual(steps.map((s) => s[2]));
    expect(denied).toEqual(steps.flatMap((s) => (s[2] ? [s[2].kind] : [])));
  });

  it('the denial is GatewayError rate_limited: the numbers, the config path and when to retry', async () => {
    const rl = new ToolRateLimits(() => limits({ perUser: { calls: 1, windowSeconds: 30 } }));
    await rl.check(ALICE, 'a');
    const d = (await rl.check(ALICE, 'a'))!;
    const retry = d.error.details!.retryAfterSeconds as number;
    expect(retry).toBeGreaterThanOrEqual(1);
    expect(retry).toBeLessThanOrEqual(30);
    expect({ code: d.error.code, message: d.error.message, details: d.error.details }).toEqual({
      code: 'rate_limited',
      message: `denied: rate limit reached: at most 1 call per user every 30 s, all tools together (toolRateLimits.perUser); retry after ${retry} s`,
      details: { limit: 'toolRateLimits.perUser', calls: 1, windowSeconds: 30, retryAfterSeconds: retry },
    });
  });

  it.each<[string, ToolRateLimitsConfig | undefined]>([
    ['no toolRateLimits', undefined],
    ['limits of other tools only', limits({ tools: { other: { perUser: { calls: 1, windowSeconds: 60 } } } })],
    ['an empty entry for this tool', limits({ tools: { a: {} } })],
  ])('%s: nothing to await (check returns undefined synchronously)', (_label, config) => {
    const rl = new ToolRateLimits(() => config);
    expect(rl.check(ALICE, 'a')).toBeUndefined();
  });

  it('a hot reload that changes the numbers starts a fresh count', async () => {
    let config = limits({ perUser: { calls: 1, windowSeconds: HOUR } });
    const rl = new ToolRateLimits(() => config);
    expect(await rl.check(ALICE, 'a')).toBeUndefined();
    expect((await rl.check(ALICE, 'a'))?.kind).toBe('perUser');
    config = limits({ perUser: { calls: 2, windowSeconds: HOUR } });
    expect(await rl.check(ALICE, 'a')).toBeUndefined();
  });
});
