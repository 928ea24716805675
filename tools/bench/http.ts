/**
 * The HTTP side of `npm run bench`: `xaa-gateway serve` (/mcp) driven by 2026-07-28 clients (SDK v2
 * `Client` pinned to 2026-07-28) and 2025-11-25 clients (SDK v1 `Client`, one session each), each
 * beside the plain-SDK server of the same era making the same downstream GET with a static token,
 * and the direct GET. Every server is a child process of its own (its pid is what /proc is read
 * for); every client has its own connection (client-fetch.ts).
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
import { DEMO_SECRETS_DIR, demoConfig, type DemoUrls } from '../demo/index.js';
import { ROOT } from '../testkit/env.js';
import { DanceProvider, LoopbackRedirect } from '../../test/server/http/oauth-client.js';
import { clientFetch, type ClientFetch } from './client-fetch.js';
import { memory, samplePeak, serverNodeFlags } from './proc.js';
import { CallError, type CallFn } from './stats.js';

export const ERAS = ['2026-07-28', '2025-11-25'] as const;
export type Era = (typeof ERAS)[number];

export const TOOL = 'expenses_pending_approvals';
const CLIENT_INFO = { name: 'xaa-bench', version: '1.0.0' };

export interface ServerChild {
  label: string;
  origin: string;
  pid: number;
  /**
   * Memory peak of the start, KiB: the process's VmHWM when it said it was ready, or the RSS of the
   * process and its children (sampled every 50 ms) if higher, e.g. a store initialized in a child.
   */
  startPeakKiB: number;
  /** The last 64 KiB of its stderr, for a failure report. */
  stderrTail(): string;
  stop(): Promise<void>;
}

/** A set of connected clients (one call function each) and how to disconnect them. */
export interface Clients {
  calls: CallFn[];
  close(): Promise<void>;
}

export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const TAIL = 64 * 1024;

/** Server processes started and not yet exited: an interrupted run kills those its cleanup did not reach yet. */
const live = new Set<ChildProcess>();

export function killStrayServers(): void {
  for (const c of live) c.kill('SIGKILL');
}

/** Spawns `node <args>` and waits for its ready line on stdout (the line's first group is its URL). */
async function startChild(label: string, args: string[], env: NodeJS.ProcessEnv, ready: RegExp): Promise<ServerChild> {
  const child: ChildProcess = spawn(process.execPath, [...serverNodeFlags, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout = (stdout + d.toString()).slice(-TAIL)));
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-TAIL)));
  live.add(child);
  const exited = new Promise<void>((r) =>
    child.on('exit', () => {
      live.delete(child);
      r();
    }),
  );
  const sampler = samplePeak(child.pid!);
  const origin = await new Promise<string>((resolve, reject) => {
    // A hang guard, not a start-up budget: the first start of an embedded store on a busy 2-core box takes 20 s and more.
    const timer = setTimeout(() => reject(new Error(`${label}: no ready line within 120 s\n${stderr}`)), 120_000);
    const check = () => {
      const m = ready.exec(stdout);
      if (m) {
        clearTimeout(timer);
        child.stdout!.off('data', check);
        resolve(new URL(m[1]!).origin);
      }
    };
    child.stdout!.on('data', check);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`${label} exited (${child.exitCode ?? child.signalCode})\n${stderr}`));
    });
  }).finally(() => sampler.stop());
  return {
    label,
    origin,
    pid: child.pid!,
    startPeakKiB: Math.max(sampler.stop(), memory(child.pid!).hwmKiB),
    stderrTail: () => stderr,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const t0 = Date.now();
        void exited.then(() => process.env.BENCH_DEBUG && process.stderr.write(`${label} stopped in ${Date.now() - t0} ms\n`));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}

/** A plain-SDK baseline (compiled JavaScript, see compile.ts): env BENCH_SAAS_URL, BENCH_SAAS_TOKEN. */
export function startBaseline(label: string, script: string, saas: { url: string; token: string }): Promise<ServerChild> {
  return startChild(label, [script], { ...process.env, BENCH_SAAS_URL: saas.url, BENCH_SAAS_TOKEN: saas.token }, /^listening (\S+)$/m);
}

export interface GatewayOptions {
  /** The gateway's bin/xaa-gateway.js (the run's copy, see compile.ts). */
  bin: string;
  urls: DemoUrls;
  /** The gateway's own directory (config, key, audit, embedded store). */
  dir: string;
  /** PostgreSQL store (DATABASE_URL); embedded PGlite when absent. */
  databaseUrl?: string;
  /**
   * audit.sink, always set: with DATABASE_URL the gateway's default is "postgres", so leaving it unset
   * would switch the sink with the store. "postgres" needs `databaseUrl`.
   */
  auditSink: 'file' | 'postgres';
  /** XAA_INSTANCE_ID: the name of the instance's audit chain (two live instances must differ). */
  instance: string;
  /**
   * server.encryptionKey (base64 of 32 bytes); a fresh random one when absent. Instances sharing one
   * PostgreSQL store must share it (the store proves its key at open).
   */
  encryptionKey?: string;
  /** For progress and failure messages; default "xaa-gateway serve". */
  label?: string;
}

/**
 * `xaa-gateway serve` on the demo enterprise, publicUrl = its own origin (so its own authorization
 * server: tokens of one instance are not another's). The OAuth endpoints' rate limits and the 2025
 * session cap per sign-in are raised (one address, few sign-ins, hundreds of sessions); overload
 * settings stay at their defaults. The audit sink is always explicit (`o.auditSink`).
 */
export async function startGateway(o: GatewayOptions): Promise<ServerChild & { auditDir: string; encryptionKey: string }> {
  if (o.auditSink === 'postgres' && !o.databaseUrl) throw new Error('startGateway: the PostgreSQL audit sink needs a databaseUrl');
  mkdirSync(o.dir, { recursive: true });
  const port = await freePort();
  const publicUrl = `http://127.0.0.1:${port}`;
  const keyFile = join(o.dir, 'encryption.key');
  const encryptionKey = o.encryptionKey ?? randomBytes(32).toString('base64');
  writeFileSync(keyFile, encryptionKey);
  // The file sink's directory; with the PostgreSQL sink the records go to the store's database instead.
  const auditDir = join(o.dir, 'audit');
  const config = demoConfig(o.urls, { auditDir, secretsDir: DEMO_SECRETS_DIR, publicUrl });
  config.audit = { ...config.audit, dir: auditDir, sink: o.auditSink };
  const many = { windowSeconds: 60, perAddress: 100_000, perClient: 100_000 };
  config.server = {
    publicUrl,
    port,
    encryptionKey: { file: keyFile },
    dataDir: join(o.dir, 'store'),
    accessTokenTtlSeconds: 900,
    rateLimits: { register: many, authorize: many, token: many },
    // One sign-in holds every 2025 client of the run (index.ts, SESSIONS_PER_SIGN_IN); the default cap is 16.
    sessions: { maxPerSignIn: 1000 },
  };
  delete config.ssf;
  const configPath = join(o.dir, 'mcp.config.json');
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  const env: NodeJS.ProcessEnv = { ...process.env, XAA_LOG_LEVEL: 'warn', XAA_INSTANCE_ID: o.instance };
  delete env.DATABASE_URL;
  if (o.databaseUrl) env.DATABASE_URL = o.databaseUrl;
  const child = await startChild(
    o.label ?? 'xaa-gateway serve',
    [o.bin, '--config', configPath, 'serve', '--host', '127.0.0.1', '--port', String(port)],
    env,
    /^MCP endpoint: \S+ {2}\(listening on (\S+)\)$/m,
  );
  return { ...child, auditDir, encryptionKey };
}

/**
 * Gateway access tokens, one per sign-in through the gateway's authorization server (registration,
 * IdP login form, consent, code exchange), a few at a time.
 */
export async function signIn(mcpUrl: string, n: number): Promise<string[]> {
  // One loopback redirect per sign-in in flight: a provider reads the code its redirect received last.
  const parallel = Math.min(4, n);
  const redirects = await Promise.all(Array.from({ length: parallel }, () => LoopbackRedirect.start()));
  try {
    const one = async (i: number) => {
      const provider = new DanceProvider({
        redirect: redirects[i % parallel]!,
        clientName: `Bench Agent ${i + 1}`,
        username: 'alice',
        password: 'alice-demo-pass',
      });
      if ((await auth(provider, { serverUrl: mcpUrl })) !== 'REDIRECT') throw new Error('expected a sign-in redirect');
      if ((await auth(provider, { serverUrl: mcpUrl, authorizationCode: provider.lastCode() })) !== 'AUTHORIZED') throw new Error('the code exchange failed');
      return provider.tokens()!.access_token;
    };
    const tokens: string[] = [];
    for (let i = 0; i < n; i += parallel) tokens.push(...(await Promise.all(Array.from({ length: Math.min(parallel, n - i) }, (_, j) => one(i + j)))));
    return tokens;
  } finally {
    await Promise.all(redirects.map((r) => r.close()));
  }
}

function failure(e: unknown, f: ClientFetch): CallError {
  const message = (e instanceof Error ? e.message : String(e)).split('\n')[0]!.slice(0, 300);
  const last = f.last();
  return last && last.status !== 200 ? new CallError(message, last.status, last.retryAfter) : new CallError(message);
}

function toolError(content: unknown): CallError {
  return new CallError(`tool error: ${JSON.stringify(content).slice(0, 300)}`);
}

/** One MCP client of an era on its own connection; `token` for the gateway (the plain servers take none). */
async function connectOne(era: Era, mcpUrl: string, token: string | undefined): Promise<{ call: CallFn; close: () => Promise<void> }> {
  const f = clientFetch();
  const requestInit: RequestInit = token ? { headers: { Authorization: `Bearer ${token}` } } : {};
  const client =
    era === '2026-07-28' ? new ClientV2(CLIENT_INFO, { versionNegotiation: { mode: { pin: '2026-07-28' } } }) : new ClientV1(CLIENT_INFO, { capabilities: {} });
  try {
    if (client instanceof ClientV2) await client.connect(new TransportV2(new URL(mcpUrl), { requestInit, fetch: f.fetch }));
    else await client.connect(new TransportV1(new URL(mcpUrl), { requestInit, fetch: f.fetch }));
  } catch (e) {
    f.close();
    throw e;
  }
  const call: CallFn = async () => {
    f.reset();
    let r: { isError?: boolean; content?: unknown };
    try {
      r = (await client.callTool({ name: TOOL, arguments: {} })) as { isError?: boolean; content?: unknown };
    } catch (e) {
      throw failure(e, f);
    }
    if (r.isError) throw toolError(r.content);
  };
  return {
    call,
    close: async () => {
      await client.close().catch(() => {});
      f.close();
    },
  };
}

/**
 * `n` clients of an era, 10 connecting at a time (a burst of handshakes is not what is measured).
 * Client k uses token `tokens[floor(k / perToken)]`.
 */
export async function connectClients(era: Era, mcpUrl: string, n: number, tokens?: { list: string[]; perToken: number }): Promise<Clients> {
  const clients: Array<{ call: CallFn; close: () => Promise<void> }> = [];
  const close = async () => void (await Promise.all(clients.map((c) => c.close())));
  try {
    for (let i = 0; i < n; i += 10) {
      const batch = Array.from({ length: Math.min(10, n - i) }, (_, j) => {
        const token = tokens ? tokens.list[Math.floor((i + j) / tokens.perToken)] : undefined;
        if (tokens && !token) throw new Error(`no sign-in for client ${i + j + 1}`);
        return connectOne(era, mcpUrl, token);
      });
      clients.push(...(await Promise.all(batch)));
    }
  } catch (e) {
    await close();
    throw e;
  }
  return { calls: clients.map((c) => c.call), close };
}

/** `n` clients making the tool's GET to the SaaS themselves, each on its own connection. */
export function directClients(url: string, token: string, n: number): Clients {
  const fetches = Array.from({ length: n }, () => clientFetch());
  const calls = fetches.map<CallFn>((f) => async () => {
    const res = await f.fetch(url, { headers: { authorization: `Bearer ${token}`, accept: 'application/json' } });
    const body = await res.text();
    if (!res.ok) throw new CallError(`direct GET answered ${res.status}: ${body.slice(0, 200)}`, res.status, res.headers.get('retry-after'));
  });
  return { calls, close: async () => fetches.forEach((f) => f.close()) };
}
