import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { GatewayConfig } from '../../src/config/schema.js';
import { DEFAULT_DEMO_PORTS, DEMO_SECRETS_DIR, demoConfig, type DemoUrls } from '../../tools/demo/index.js';
import { DEMO_TOOL_NAMES } from '../../tools/testkit/env.js';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const defaultUrls = Object.fromEntries(Object.entries(DEFAULT_DEMO_PORTS).map(([k, p]) => [k, `http://127.0.0.1:${p}`])) as DemoUrls;

function secretFiles(cfg: unknown): string[] {
  const out: string[] = [];
  JSON.stringify(cfg, (k, v) => {
    if (k === 'file' && typeof v === 'string') out.push(v);
    return v;
  });
  return out;
}

describe('demoConfig', () => {
  it('passes the gateway schema, with absolute secret paths when secretsDir is given', () => {
    const cfg = GatewayConfig.parse(demoConfig(defaultUrls, { secretsDir: DEMO_SECRETS_DIR, auditDir: '/tmp/audit' }));
    // The config's HTTP tools: every demo tool but those federated from the CRM's MCP server.
    expect(cfg.tools.map((t) => t.name)).toEqual(DEMO_TOOL_NAMES.filter((n) => !n.startsWith('crmmcp_')));
    expect(cfg.audit.dir).toBe('/tmp/audit');
    for (const f of secretFiles(cfg)) {
      expect(isAbsolute(f)).toBe(true);
      expect(existsSync(f), f).toBe(true);
    }
    expect(Object.fromEntries(Object.entries(cfg.resources).map(([k, r]) => [k, r.client.auth.method]))).toEqual({
      calendar: 'client_secret_basic',
      expenses: 'client_secret_post',
      crm: 'private_key_jwt',
      chat: 'client_secret_basic',
      payroll: 'client_secret_basic',
    });
    expect(cfg.upstreams[0]).toMatchObject({ name: 'crm-mcp', url: 'http://127.0.0.1:4403/mcp', prefix: 'crmmcp_', deny: ['delete_*'] });
    for (const t of cfg.tools) expect(t.inputSchema.additionalProperties).toBe(false);
  });

  it('the committed mcp.config.json is demoConfig(default URLs) with repo-relative secrets', () => {
    const committed = JSON.parse(readFileSync(join(repoRoot, 'mcp.config.json'), 'utf8')) as Record<string, unknown>;
    expect(Object.keys(committed)[0]).toBe('$schema');
    expect(committed).toEqual({ $schema: './mcp.config.schema.json', ...demoConfig(defaultUrls) });
    GatewayConfig.parse(committed);
    for (const f of secretFiles(committed)) expect(existsSync(join(repoRoot, f)), f).toBe(true);
  });
});
