import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { ConfigEditor } from '../../src/admin/config-editor.js';
import { ConfigStore, loadConfigFile, startFleetConfig, type FleetConfigSync } from '../../src/config/index.js';
import { ControlService, SwitchSnapshot } from '../../src/control/index.js';
import { defaultDeps } from '../../src/deps.js';
import { silentLogger, type Logger } from '../../src/log.js';
import { Gateway } from '../../src/gateway/index.js';
import { openStore, type ListenerOptions, type Store } from '../../src/store/index.js';
import { MemorySink } from '../server/http/harness.js';

export const databaseUrl = process.env.XAA_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const skipPostgres = process.env.XAA_SKIP_POSTGRES === '1';
export const KEY = randomBytes(32).toString('base64');
export const ADMIN_TOKEN_ENV = 'XAA_FLEET_TEST_ADMIN_TOKEN';
process.env[ADMIN_TOKEN_ENV] = randomBytes(32).toString('base64url');
process.env.XAA_FLEET_TEST_SECRET = 'fleet-test-client-secret';

const secret = { env: 'XAA_FLEET_TEST_SECRET' };

/** A config as an operator writes it: instance settings and the three editable sections. */
export function fleetConfigJson(tools: string[] = ['cal_today', 'cal_create']): Record<string, unknown> {
  return {
    idp: { issuer: 'https://idp.example', clientId: 'gw', auth: { method: 'client_secret_basic', clientSecret: secret } },
    resources: {
      cal: {
        resource: 'https://cal.example/api',
        authorizationServer: 'https://cal.example',
        client: { clientId: 'gw', auth: { method: 'client_secret_basic', clientSecret: secret } },
      },
    },
    tools: tools.map((name) => ({
      name,
      description: `${name} tool`,
      resource: 'cal',
      scopes: ['cal.read'],
      http: { method: 'GET', url: `https://cal.example/api/${name}` },
    })),
    server: { publicUrl: 'http://127.0.0.1:4399', encryptionKey: { env: 'XAA_FLEET_TEST_KEY' } },
    admin: { tokens: [{ env: ADMIN_TOKEN_ENV }] },
  };
}
process.env.XAA_FLEET_TEST_KEY = KEY;

export async function tempConfig(json: Record<string, unknown> = fleetConfigJson()): Promise<{ dir: string; path: string; close(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'xaa-fleet-'));
  const path = join(dir, 'mcp.config.json');
  await mkdir(join(dir, 'data', 'audit'), { recursive: true }); // audit.dir (checked by /readyz)
  await writeFile(path, JSON.stringify(json, null, 2) + '\n');
  return { dir, path, close: () => rm(dir, { recursive: true, force: true }) };
}

export const newSchema = (prefix = 'fleet_test') => `${prefix}_${randomBytes(5).toString('hex')}`;

export async function dropSchema(schema: string): Promise<void> {
  const c = new pg.Client({ connectionString: databaseUrl });
  await c.connect();
  try {
    await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await c.end();
  }
}

export async function terminateBackend(pid: number): Promise<boolean> {
  const c = new pg.Client({ connectionString: databaseUrl });
  await c.connect();
  try {
    const { rows } = await c.query<{ ok: boolean }>('SELECT pg_terminate_backend($1) AS ok', [pid]);
    return rows[0]?.ok === true;
  } finally {
    await c.end();
  }
}

/** One gateway instance as `serve` wires the parts this issue touches: its own file, the shared store. */
export interface Instance {
  name: string;
  store: Store;
  config: ConfigStore;
  editor: ConfigEditor;
  gateway: Gateway;
  control: ControlService;
  fleet: FleetConfigSync;
  audit: MemorySink;
  /** Times gateway.onToolsChanged fired (what the protocol layer turns into list_changed). */
  toolsChanged: number[];
  close(): Promise<void>;
}

export async function startInstance(
  name: string,
  o: { schema?: string; configPath: string; pollMs: number; listen?: ListenerOptions; pglite?: Store; logger?: Logger },
): Promise<Instance> {
  const store =
    o.pglite ?? (await openStore({ databaseUrl, dataDir: '/unused', schema: o.schema!, encryptionKey: KEY, ...(o.listen ? { listen: o.listen } : {}) }));
  const config = new ConfigStore(loadConfigFile(o.configPath));
  const logger = o.logger ?? silentLogger;
  const fleet = await startFleetConfig({ config, store, logger, where: `test store ${o.schema ?? 'pglite'}`, refreshMs: o.pollMs });
  const audit = new MemorySink();
  const snapshot = new SwitchSnapshot();
  const caller = { user: { iss: 'https://idp.example', sub: 'u-fleet' }, subject: { kind: 'id_token', token: 'unused' } };
  const gateway = new Gateway({ config, identity: { resolve: async () => caller as never }, audit, deps: defaultDeps, logger, switches: snapshot });
  const toolsChanged: number[] = [];
  gateway.onToolsChanged(() => toolsChanged.push(Date.now()));
  const control = new ControlService({ store, snapshot, broker: gateway.broker, config, audit, deps: defaultDeps, logger, refreshMs: o.pollMs });
  await control.start();
  const editor = new ConfigEditor({ config, logger });
  return {
    name,
    store,
    config,
    editor,
    gateway,
    control,
    fleet,
    audit,
    toolsChanged,
    async close() {
      fleet.close();
      control.close();
      config.close();
      await gateway.flush?.();
      if (!o.pglite) await store.close();
    },
  };
}

/** A tools/call through this instance's pipeline (policy runs before any token is minted). */
export async function callTool(i: Instance, name: string): Promise<{ denied: boolean; text: string }> {
  try {
    const r = await i.gateway.callTool({ agent: { clientId: 'agent-1' } } as never, name, {});
    const text = (r.content as Array<{ text?: string }>).map((c) => c.text ?? '').join('\n');
    return { denied: Boolean(r.isError) && /denied|disabled/.test(text), text };
  } catch (e) {
    return { denied: true, text: (e as Error).message };
  }
}

export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
