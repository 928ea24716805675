import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfigText, type GatewayConfigInput } from '../../src/config/index.js';

/** server.overload, toolRateLimits and stdio.maxConcurrentToolCalls: defaults, and errors that name the path. */

const dir = mkdtempSync(join(tmpdir(), 'xaa-limits-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, 'secret'), 'from-file\n');
const env = { IDP_SECRET: 's3cret', KEY: 'a'.repeat(64) };

function base(): GatewayConfigInput {
  return {
    idp: { issuer: 'https://idp.example', clientId: 'gw', auth: { method: 'client_secret_basic', clientSecret: { env: 'IDP_SECRET' } } },
    resources: {
      cal: {
        resource: 'https://cal.example/api',
        authorizationServer: 'https://cal.example',
        client: { clientId: 'gw', auth: { method: 'client_secret_post', clientSecret: { file: 'secret' } } },
      },
    },
    tools: [
      {
        name: 'cal_list',
        description: 'List events',
        resource: 'cal',
        scopes: ['calendar.read'],
        http: { method: 'GET', url: 'https://cal.example/api/events' },
      },
    ],
    upstreams: [
      {
        name: 'crm',
        url: 'https://crm.example/mcp',
        prefix: 'crm_',
        client: { clientId: 'gw', auth: { method: 'client_secret_post', clientSecret: { file: 'secret' } } },
      },
    ],
    server: { publicUrl: 'https://mcp.acme.example', encryptionKey: { env: 'KEY' } },
  };
}

const parse = (cfg: unknown) => parseConfigText(JSON.stringify(cfg), join(dir, 'mcp.config.json'), env);

describe('limits in the config', () => {
  it('defaults: server.overload 256/32 in progress, 1024 queued for at most 500 ms; stdio 64 calls; no rate limits', () => {
    const { config } = parse(base());
    expect(config.server!.overload).toEqual({ maxConcurrentRequests: 256, minConcurrentRequests: 32, maxQueuedRequests: 1024, maxQueueWaitMs: 500 });
    expect(config.stdio).toEqual({ maxConcurrentToolCalls: 64, share: true, shareIdleSeconds: 10 });
    expect(config.toolRateLimits).toBeUndefined();
  });

  it('accepts rate limits of config tools and of upstream tools (by prefix); windowSeconds defaults to 60', () => {
    const cfg = base();
    cfg.toolRateLimits = {
      perUser: { calls: 100 },
      perTool: { calls: 1000, windowSeconds: 1 },
      tools: { cal_list: { perUser: { calls: 5 } }, crm_lookup_customer: { perTool: { calls: 10, windowSeconds: 60 } } },
    };
    expect(parse(cfg).config.toolRateLimits).toEqual({
      perUser: { calls: 100, windowSeconds: 60 },
      perTool: { calls: 1000, windowSeconds: 1 },
      tools: { cal_list: { perUser: { calls: 5, windowSeconds: 60 } }, crm_lookup_customer: { perTool: { calls: 10, windowSeconds: 60 } } },
    });
  });

  const cases: Array<[string, (c: any) => void, string]> = [
    [
      'min above max',
      (c) => (c.server.overload = { maxConcurrentRequests: 8, minConcurrentRequests: 16 }),
      'server.overload.minConcurrentRequests: must not be above maxConcurrentRequests (set both equal for a fixed limit)',
    ],
    ['no concurrency', (c) => (c.server.overload = { maxConcurrentRequests: 0 }), 'server.overload.maxConcurrentRequests: '],
    ['a zero queue wait', (c) => (c.server.overload = { maxQueueWaitMs: 0 }), 'server.overload.maxQueueWaitMs: '],
    ['a negative queue', (c) => (c.server.overload = { maxQueuedRequests: -1 }), 'server.overload.maxQueuedRequests: '],
    ['an unknown overload key', (c) => (c.server.overload = { maxInFlight: 10 }), 'server.overload: unknown field(s) "maxInFlight"'],
    [
      'an unknown tool',
      (c) => (c.toolRateLimits = { tools: { cal_lsit: { perUser: { calls: 1 } } } }),
      'toolRateLimits.tools.cal_lsit: unknown tool "cal_lsit"; name a tool of "tools" (cal_list) or an upstream tool with its prefix ("crm_...")',
    ],
    ['the bare upstream prefix', (c) => (c.toolRateLimits = { tools: { crm_: { perUser: { calls: 1 } } } }), 'toolRateLimits.tools.crm_: unknown tool "crm_"'],
    ['zero calls', (c) => (c.toolRateLimits = { perUser: { calls: 0 } }), 'toolRateLimits.perUser.calls: '],
    ['a window over a day', (c) => (c.toolRateLimits = { perTool: { calls: 1, windowSeconds: 86_401 } }), 'toolRateLimits.perTool.windowSeconds: '],
    ['an unknown kind of limit', (c) => (c.toolRateLimits = { perAgent: { calls: 1 } }), 'toolRateLimits: unknown field(s) "perAgent"'],
    [
      'an unknown key in a tool entry',
      (c) => (c.toolRateLimits = { tools: { cal_list: { perAgent: { calls: 1 } } } }),
      'toolRateLimits.tools.cal_list: unknown field(s) "perAgent"',
    ],
    ['stdio without calls', (c) => (c.stdio = { maxConcurrentToolCalls: 0 }), 'stdio.maxConcurrentToolCalls: '],
  ];
  it.each(cases)('refuses %s, naming the path', (_label, mutate, message) => {
    const cfg = base();
    mutate(cfg);
    let error: unknown;
    try {
      parse(cfg);
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ code: 'config_invalid' });
    expect((error as Error).message).toContain(message);
  });
});
