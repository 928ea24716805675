import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { loadConfigFile, type GatewayConfigInput } from '../../src/config/index.js';
import { defaultDeps } from '../../src/deps.js';
import { login } from '../../src/inbound/login.js';
import { auditKeyFiles, localAuditKeys } from '../../src/audit/key-files.js';
import type { AuditJwks } from '../../src/audit/signing-key.js';
import { readAuditRecords } from './audit-records.js';
import { stopSharedHosts } from './share.js';
import { completeDemoLogin, DEMO_SECRETS_DIR, demoConfig, startDemoEnterprise, type DemoEnterprise } from '../demo/index.js';

export const ROOT = resolve(import.meta.dirname, '../..');
export const BIN = join(ROOT, 'bin/xaa-gateway.js');

export interface Env {
  demo: DemoEnterprise;
  dir: string;
  /** XDG_RUNTIME_DIR of the stdio gateways started on this env: their shared host's socket is under it. */
  runtimeDir: string;
  configPath: string;
  auditDir: string;
  credentials(user: string): string;
  /** Rewrites the config file (the running gateways hot-reload it). */
  writeConfig(mutate?: (c: GatewayConfigInput) => void): void;
  signIn(user: string, password?: string): Promise<string>;
  audit(): Promise<Record<string, any>[]>;
  /** The audit public keys of the gateways run on this env (serve's in server.dataDir, stdio's beside the credentials). */
  auditKeys(): Promise<AuditJwks>;
  close(): Promise<void>;
}

/** The demo enterprise on random loopback ports, a config pointing at it, and a temp audit dir. */
export async function startEnv(): Promise<Env> {
  const demo = await startDemoEnterprise({ ports: 'random' });
  const dir = mkdtempSync(join(tmpdir(), 'xaa-contract-'));
  const configPath = join(dir, 'mcp.config.json');
  const auditDir = join(dir, 'audit');
  const writeConfig = (mutate?: (c: GatewayConfigInput) => void) => {
    const cfg = demoConfig(demo.urls, { auditDir, secretsDir: DEMO_SECRETS_DIR });
    mutate?.(cfg);
    writeFileSync(configPath, JSON.stringify(cfg, null, 2));
  };
  writeConfig();
  const credentials = (user: string) => join(dir, `credentials-${user}.json`);
  const runtimeDir = join(dir, 'run');
  mkdirSync(runtimeDir, { mode: 0o700 });
  return {
    demo,
    dir,
    runtimeDir,
    configPath,
    auditDir,
    credentials,
    writeConfig,
    async signIn(user, password = user) {
      await login({
        runtime: loadConfigFile(configPath),
        credentialsPath: credentials(user),
        deps: defaultDeps,
        openUrl: async (url) => {
          // Stands in for the browser: sign in on the IdP page, then land on the loopback redirect.
          const location = await completeDemoLogin(url, user, password);
          await fetch(location);
        },
      });
      return credentials(user);
    },
    audit: () => readAuditRecords(auditDir),
    auditKeys: async () => (await localAuditKeys(auditKeyFiles(loadConfigFile(configPath), credentials('any')))).keys,
    async close() {
      await stopSharedHosts(join(runtimeDir, 'xaa-gateway'));
      await demo.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface StdioGateway {
  client: Client;
  stderr: () => string;
  call(name: string, args?: Record<string, unknown>): Promise<CallToolResult>;
  close(): Promise<void>;
}

/** `xaa-gateway stdio` as a desktop client runs it: a child process driven by the SDK client. */
export async function startStdioGateway(env: Env, user: string): Promise<StdioGateway> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [BIN, '--config', env.configPath, '--credentials', env.credentials(user), 'stdio'],
    env: { ...process.env, XAA_LOG_LEVEL: 'warn', XDG_RUNTIME_DIR: env.runtimeDir } as Record<string, string>,
    stderr: 'pipe',
  });
  let stderr = '';
  transport.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const client = new Client({ name: 'contract-test-agent', version: '1.2.3' }, { capabilities: {} });
  await client.connect(transport);
  return {
    client,
    stderr: () => stderr,
    call: async (name, args = {}) => (await client.callTool({ name, arguments: args })) as CallToolResult,
    close: () => client.close(),
  };
}

export function text(result: CallToolResult): string {
  return result.content.map((c) => (c.type === 'text' ? c.text : '')).join('\n');
}

/** Every tool an MCP client of the demo sees: the config's HTTP tools, then the CRM MCP server's, federated under `crmmcp_`. */
export const DEMO_TOOL_NAMES = [
  'calendar_free_slots',
  'calendar_create_meeting',
  'expenses_pending_approvals',
  'crm_get_customer',
  'crm_search_customers',
  'chat_post_message',
  'payroll_get_salary',
  'crmmcp_lookup_customer',
  'crmmcp_search_customers',
] as const;
