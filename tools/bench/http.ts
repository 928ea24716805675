/**
 * The HTTP half of `npm run bench`: `xaa-gateway serve` (/mcp) driven by a 2026-07-28 client (SDK v2
 * `Client` pinned to 2026-07-28) and by a 2025-11-25 client (SDK v1 `Client`), each beside the
 * plain-SDK server of the same era making the same downstream GET with a static token. Every
 * server is a child process of its own; each worker of a concurrent run has its own client.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from '@modelcontextprotocol/client';
import { auth } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as TransportV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { DEMO_SECRETS_DIR, demoConfig } from '../demo/index.js';
import { BIN, ROOT, type Env } from '../testkit/env.js';
import { DanceProvider, LoopbackRedirect } from '../../test/server/http/oauth-client.js';

export const ERAS = ['2026-07-28', '2025-11-25'] as const;
export type Era = (typeof ERAS)[number];
export type PathName = 'gateway' | 'plain SDK';

export interface HttpTarget {
  era: Era;
  path: PathName;
  /** One call function per client (worker). Empty when setup failed (see error). */
  calls: Array<() => Promise<void>>;
  error?: string;
  close(): Promise<void>;
}

interface Child {
  origin: string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Spawns a server and waits for its ready line on stdout. */
async function startChild(label: string, args: string[], env: NodeJS.ProcessEnv, ready: RegExp): Promise<Child> {
  const child: ChildProcess = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  const origin = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${label}: not ready within 40 s\n${stderr}`)), 40_000);
    const check = () => {
      const m = ready.exec(stdout);
      if (m) {
        clearTimeout(timer);
        resolve(new URL(m[1]!).origin);
      }
    };
    child.stdout!.on('data', check);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`${label} exited (${child.exitCode})\n${stderr}`));
    });
  });
  return {
    origin,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

function tsxArgs(script: string): string[] {
  return ['--import', 'tsx', join(ROOT, 'tools/bench', script)];
}

/** `xaa-gateway serve` on the demo enterprise (embedded store, or BENCH_DATABASE_URL), publicUrl = its own origin. */
async function startGateway(env: Env): Promise<Child> {
  const dir = join(env.dir, 'serve');
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const publicUrl = `http://127.0.0.1:${port}`;
  const keyFile = join(dir, 'encryption.key');
  writeFileSync(keyFile, randomBytes(32).toString('base64'));
  const config = demoConfig(env.demo.urls, { auditDir: join(dir, 'audit'), secretsDir: DEMO_SECRETS_DIR, publicUrl });
  config.server = { publicUrl, port, encryptionKey: { file: keyFile }, dataDir: join(dir, 'store'), accessTokenTtlSeconds: 900 };
  delete config.ssf;
  const configPath = join(dir, 'mcp.config.json');
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  const childEnv: NodeJS.ProcessEnv = { ...process.env, XAA_LOG_LEVEL: 'warn' };
  delete childEnv.DATABASE_URL;
  if (process.env.BENCH_DATABASE_URL) childEnv.DATABASE_URL = process.env.BENCH_DATABASE_URL;
  return startChild('xaa-gateway serve', [BIN, '--config', configPath, 'serve', '--host', '127.0.0.1', '--port', String(port)], childEnv, /^MCP endpoint: \S+ {2}\(listening on (\S+)\)$/m);
}

/**
 * The MCP authorization dance (IdP login form, consent, loopback redirect): one gateway access
 * token per sign-in. Several sign-ins because the gateway keeps at most 16 live 2025 sessions per
 * sign-in and agent (server-side cap), and the bench runs 50 clients.
 */
async function signIn(mcpUrl: string, n: number): Promise<string[]> {
  const redirect = await LoopbackRedirect.start();
  try {
    const tokens: string[] = [];
    for (let i = 0; i < n; i++) {
      const provider = new DanceProvider({ redirect, clientName: `Bench Agent ${i + 1}`, username: 'alice', password: 'alice-demo-pass' });
      if ((await auth(provider, { serverUrl: mcpUrl })) !== 'REDIRECT') throw new Error('expected a sign-in redirect');
      if ((await auth(provider, { serverUrl: mcpUrl, authorizationCode: provider.lastCode() })) !== 'AUTHORIZED') throw new Error('the code exchange failed');
      tokens.push(provider.tokens()!.access_token);
    }
    return tokens;
  } finally {
    await redirect.close();
  }
}

/** Clients per sign-in (under the gateway's 16 sessions per sign-in and agent). */
const CLIENTS_PER_SIGN_IN = 10;

const TOOL = 'expenses_pending_approvals';
const CLIENT_INFO = { name: 'xaa-bench', version: '1.0.0' };

async function connectClients(era: Era, mcpUrl: string, n: number, tokens: string[] | undefined): Promise<{ calls: Array<() => Promise<void>>; close: () => Promise<void> }> {
  const closers: Array<() => Promise<void>> = [];
  const calls: Array<() => Promise<void>> = [];
  const connectOne = async (k: number) => {
    const token = tokens?.[Math.floor(k / CLIENTS_PER_SIGN_IN)];
    const requestInit: RequestInit = token ? { headers: { Authorization: `Bearer ${token}` } } : {};
    if (era === '2026-07-28') {
      const c = new ClientV2(CLIENT_INFO, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
      await c.connect(new TransportV2(new URL(mcpUrl), { requestInit }));
      closers.push(() => c.close());
      return async () => {
        const r = await c.callTool({ name: TOOL, arguments: {} });
        if (r.isError) throw new Error(`tool error: ${JSON.stringify(r.content).slice(0, 300)}`);
      };
    }
    const c = new ClientV1(CLIENT_INFO, { capabilities: {} });
    await c.connect(new TransportV1(new URL(mcpUrl), { requestInit }));
    closers.push(() => c.close());
    return async () => {
      const r = await c.callTool({ name: TOOL, arguments: {} });
      if (r.isError) throw new Error(`tool error: ${JSON.stringify(r.content).slice(0, 300)}`);
    };
  };
  const close = async () => void (await Promise.all(closers.map((f) => f().catch(() => {}))));
  try {
    // In batches: 50 handshakes at once would measure the handshake, not the calls.
    for (let i = 0; i < n; i += 10) calls.push(...(await Promise.all(Array.from({ length: Math.min(10, n - i) }, (_, j) => connectOne(i + j)))));
    await calls[0]!(); // one call proves the path works before it is measured
  } catch (e) {
    await close();
    throw e;
  }
  return { calls, close };
}

export interface HttpSetup {
  targets: HttpTarget[];
  close(): Promise<void>;
}

/**
 * Starts the gateway and both baselines, signs in once, connects `clients` clients per target.
 * A target that cannot be set up (say, an era the gateway does not serve yet) carries its error
 * instead of calls; the others are measured.
 */
export async function setupHttp(env: Env, saas: { url: string; token: string }, clients: number, log: (s: string) => void): Promise<HttpSetup> {
  const children: Child[] = [];
  const targets: HttpTarget[] = [];
  const close = async () => {
    for (const t of targets) await t.close();
    await Promise.all(children.map((c) => c.stop()));
  };
  try {
    const baselineEnv = { ...process.env, BENCH_SAAS_URL: saas.url, BENCH_SAAS_TOKEN: saas.token };
    const [gateway, base2026, base2025] = await Promise.all([
      startGateway(env),
      startChild('plain SDK 2026-07-28 server', tsxArgs('baseline-2026.ts'), baselineEnv, /^listening (\S+)$/m),
      startChild('plain SDK 2025 server', tsxArgs('baseline-2025.ts'), baselineEnv, /^listening (\S+)$/m),
    ]);
    children.push(gateway, base2026, base2025);
    const signIns = Math.ceil(clients / CLIENTS_PER_SIGN_IN);
    log(`Signing in to the HTTP gateway ${signIns} times (OAuth: registration, IdP login, consent)...`);
    const tokens = await signIn(`${gateway.origin}/mcp`, signIns);
    for (const era of ERAS) {
      for (const path of ['gateway', 'plain SDK'] as const) {
        const origin = path === 'gateway' ? gateway.origin : era === '2026-07-28' ? base2026.origin : base2025.origin;
        try {
          const c = await connectClients(era, `${origin}/mcp`, clients, path === 'gateway' ? tokens : undefined);
          targets.push({ era, path, calls: c.calls, close: c.close });
        } catch (e) {
          const error = (e instanceof Error ? e.message : String(e)).split('\n')[0]!.slice(0, 200);
          log(`  ${era} ${path}: not measured: ${error}`);
          targets.push({ era, path, calls: [], error, close: async () => {} });
        }
      }
    }
    return { targets, close };
  } catch (e) {
    await close();
    throw e;
  }
}
