import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import pg from 'pg';
import { queryAudit, verifyAuditDir, type AuditRecord, type VerifyResult } from '../../src/audit/index.js';
import { tokenFingerprint } from '../../src/security.js';
import { localAuditKeys } from '../../src/audit/key-files.js';
import { PgAuditSource } from '../../src/audit/pg-source.js';
import { AUDIT_KEY_FILE, type AuditJwks } from '../../src/audit/signing-key.js';
import type { GatewayConfigInput } from '../../src/config/schema.js';
import { DEMO_SECRETS_DIR, demoConfig, startDemoEnterprise, type DemoEnterprise } from '../../tools/demo/index.js';
import { BIN } from '../../tools/testkit/env.js';
import { createTestDatabase, reservePort, type TestDatabase } from '../server/http/served-gateway.js';
import { startHaproxy, type RunningHaproxy } from './haproxy.js';

/**
 * A fleet as an operator runs it: the demo enterprise, N `xaa-gateway serve` processes sharing one
 * PostgreSQL database and Redis, each on its own machine-like directory (own config file copy, own
 * audit signing key), with the same config bytes, behind HAProxy in plain round robin. Each writes its
 * audit chain (XAA_INSTANCE_ID gw1, gw2...) to the fleet's audit table in that database. server.publicUrl is
 * HAProxy's frontend. One tool's downstream URL points at a recording proxy in front of the demo
 * SaaS, which counts the requests that reached it per access-token fingerprint, so a downstream
 * request can be traced to the instance whose audit chain must hold its decision record.
 */

export const REDIS_URL = process.env.XAA_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const ADMIN_TOKEN_FILE = join(DEMO_SECRETS_DIR, 'gateway-admin-token');
/** The tool the fleet tests call (GET, reaches the demo SaaS through the recording proxy). */
export const FLEET_TOOL = 'expenses_pending_approvals';

export interface Instance {
  name: string;
  dir: string;
  configPath: string;
  auditDir: string;
  /** http://127.0.0.1:<port> the instance listens on (not publicUrl). */
  origin: string;
  port: number;
  pid: number;
  alive(): boolean;
  stderr(): string;
  kill9(): Promise<void>;
  stop(): Promise<number | null>;
  /** Starts it again after a stop or kill, on the same port, directory and instance name (HAProxy's server line stays valid). */
  restart(): Promise<void>;
  /** Every record of this instance's audit chain, from the fleet's audit table (read with src/audit). */
  audit(): Promise<AuditRecord[]>;
  /** `audit verify` over the fleet's audit table: every instance's chain and checkpoints, with every instance's public keys. */
  verifyAudit(): Promise<VerifyResult>;
}

export interface RecordingProxy {
  url: string;
  /** Requests that reached the SaaS, per base64url(SHA-256(access token)): the audit records' tokenFingerprint. */
  byFingerprint: Map<string, number>;
  total(): number;
  close(): Promise<void>;
}

export interface Fleet {
  demo: DemoEnterprise;
  dir: string;
  db: TestDatabase;
  publicUrl: string;
  mcpUrl: string;
  haproxy: RunningHaproxy;
  instances: Instance[];
  saas: RecordingProxy;
  close(): Promise<void>;
}

/** Forwards to `target`, counting by token fingerprint; `delayMs` keeps calls in flight long enough to be caught by a kill. */
async function startRecordingProxy(target: string, delayMs: number): Promise<RecordingProxy> {
  const byFingerprint = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    const auth = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
    if (auth) {
      const fp = tokenFingerprint(auth[1]!);
      byFingerprint.set(fp, (byFingerprint.get(fp) ?? 0) + 1);
    }
    const forward = () => {
      const up = httpRequest(new URL(req.url ?? '/', target), { method: req.method, headers: { ...req.headers, host: new URL(target).host } }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      up.on('error', () => res.writeHead(502).end());
      req.pipe(up);
    };
    if (delayMs > 0) setTimeout(forward, delayMs);
    else forward();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    byFingerprint,
    total: () => [...byFingerprint.values()].reduce((a, b) => a + b, 0),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

interface Spawned {
  child: ChildProcess;
  origin: string;
  stderr(): string;
  exited: Promise<number | null>;
}

/** One `serve` process; resolves once it prints its "listening on" line. */
async function spawnServe(name: string, dir: string, configPath: string, databaseUrl: string, port: number): Promise<Spawned> {
  // XAA_INSTANCE_ID: each instance writes its own chain in the fleet's audit table.
  const childEnv: NodeJS.ProcessEnv = { ...process.env, XAA_LOG_LEVEL: 'warn', DATABASE_URL: databaseUrl, REDIS_URL, XAA_INSTANCE_ID: name };
  // Each instance runs from its own directory, like a host of its own.
  const child: ChildProcess = spawn(process.execPath, [BIN, '--config', configPath, 'serve', '--host', '127.0.0.1', '--port', String(port)], {
    cwd: dir,
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const listen = await new Promise<string | Error>((resolve) => {
    const timer = setTimeout(() => resolve(new Error('no "listening on" line within 40 s')), 40_000);
    const onData = () => {
      const m = /^MCP endpoint: \S+ {2}\(listening on (\S+)\)$/m.exec(stdout);
      if (m) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        resolve(m[1]!);
      }
    };
    child.stdout!.on('data', onData);
    onData();
    void exited.then((code) => {
      clearTimeout(timer);
      resolve(new Error(`exited with code ${code}`));
    });
  });
  if (listen instanceof Error) {
    child.kill('SIGKILL');
    throw new Error(`${name}: xaa-gateway serve did not start: ${listen.message}\n${stderr}`);
  }
  return { child, origin: new URL(listen).origin, stderr: () => stderr, exited };
}

/** Every instance's audit public keys: each keeps its key in its own server.dataDir. */
async function fleetAuditKeys(dirs: string[]): Promise<AuditJwks> {
  return (await localAuditKeys(dirs.map((d) => join(d, 'store', AUDIT_KEY_FILE)))).keys;
}

async function startInstance(name: string, dir: string, configPath: string, databaseUrl: string, allDirs: () => string[]): Promise<Instance> {
  let s = await spawnServe(name, dir, configPath, databaseUrl, 0);
  const port = Number(new URL(s.origin).port);
  const alive = () => s.child.exitCode === null && s.child.signalCode === null;
  const source = () => new PgAuditSource({ databaseUrl });
  const inst: Instance = {
    name,
    dir,
    configPath,
    auditDir: join(dir, 'audit'),
    origin: s.origin,
    port,
    pid: s.child.pid!,
    alive,
    stderr: () => s.stderr(),
    async kill9() {
      if (alive()) process.kill(s.child.pid!, 'SIGKILL');
      await s.exited;
    },
    async stop() {
      if (alive()) s.child.kill('SIGTERM');
      return s.exited;
    },
    async restart() {
      if (alive()) throw new Error(`${name} is still running`);
      s = await spawnServe(name, dir, configPath, databaseUrl, port);
      inst.pid = s.child.pid!;
    },
    async audit() {
      const src = source();
      const out: AuditRecord[] = [];
      try {
        for await (const r of queryAudit(src, { instance: name })) out.push(r);
      } finally {
        await src.close();
      }
      return out;
    },
    async verifyAudit() {
      const src = source();
      try {
        return await verifyAuditDir(src, { keys: await fleetAuditKeys(allDirs()) });
      } finally {
        await src.close();
      }
    },
  };
  return inst;
}

export interface FleetOptions {
  size?: number;
  /** Added by the recording proxy before each SaaS request. */
  saasDelayMs?: number;
  /** Merged into the config's server section (after publicUrl, encryptionKey, dataDir, trustProxyHops). */
  server?: Partial<NonNullable<GatewayConfigInput['server']>>;
}

export async function startFleet(opts: FleetOptions = {}): Promise<Fleet> {
  const size = opts.size ?? 3;
  const cleanup: Array<() => Promise<unknown>> = [];
  const close = async () => {
    for (const c of cleanup.reverse()) await c().catch(() => {});
  };
  try {
    const dir = mkdtempSync(join(tmpdir(), 'xaa-fleet-'));
    cleanup.push(async () => rmSync(dir, { recursive: true, force: true }));
    const demo = await startDemoEnterprise({ ports: 'random' });
    cleanup.push(() => demo.stop());
    const saas = await startRecordingProxy(demo.urls.expenses, opts.saasDelayMs ?? 0);
    cleanup.push(() => saas.close());
    const db = await createTestDatabase();
    cleanup.push(() => db.drop());

    // The balancer's port first: it is server.publicUrl, the issuer of every instance's tokens.
    // Held until HAProxy starts (see reservePort): the instances start meanwhile, seconds on a busy machine.
    const frontend = await reservePort();
    cleanup.push(() => frontend.release());
    const frontendPort = frontend.port;
    const publicUrl = `http://127.0.0.1:${frontendPort}`;
    const keyFile = join(dir, 'encryption.key');
    writeFileSync(keyFile, randomBytes(32).toString('base64'));
    const config = demoConfig(demo.urls, { secretsDir: DEMO_SECRETS_DIR, publicUrl, auditDir: 'audit' });
    // One proxy hop (HAProxy's `option forwardfor`): rate limits count the client's address, not the balancer's.
    config.server = { publicUrl, encryptionKey: { file: keyFile }, dataDir: 'store', trustProxyHops: 1, ...opts.server };
    delete config.ssf;
    // Checkpoints every 2 s (default 60): a test of a few seconds sees each instance sign its chain.
    config.audit = { ...config.audit, checkpoints: { intervalSeconds: 2 } };
    const tool = config.tools!.find((t) => t.name === FLEET_TOOL)!;
    tool.http = { ...tool.http, url: `${saas.url}${new URL(tool.http.url).pathname}` };
    const text = JSON.stringify(config, null, 2);

    const instances: Instance[] = [];
    // One after the other: the first migrates the database, the others find it done.
    for (let i = 1; i <= size; i++) {
      const idir = join(dir, `gw${i}`);
      mkdirSync(idir);
      const configPath = join(idir, 'mcp.config.json');
      writeFileSync(configPath, text); // the same bytes on every instance; audit.dir is relative to it
      const inst = await startInstance(`gw${i}`, idir, configPath, db.url, () => instances.map((x) => x.dir));
      instances.push(inst);
      cleanup.push(() => inst.kill9());
    }
    await frontend.release();
    const haproxy = await startHaproxy(dir, {
      frontend: `127.0.0.1:${frontendPort}`,
      stats: `unix@${join(dir, 'haproxy-stats.sock')}`,
      servers: instances.map((i) => ({ name: i.name, address: `127.0.0.1:${i.port}` })),
    });
    cleanup.push(() => haproxy.stop());
    await haproxy.waitFor(
      'UP',
      instances.map((i) => i.name),
    );
    const ready = await fetch(`${publicUrl}/readyz`);
    if (ready.status !== 200) throw new Error(`${publicUrl}/readyz answered ${ready.status}: ${await ready.text()}`);

    return {
      demo,
      dir,
      db,
      publicUrl,
      mcpUrl: `${publicUrl}/mcp`,
      haproxy,
      instances,
      saas,
      async close() {
        // Graceful stops first so their audit logs close; killed ones are already gone.
        await Promise.all(instances.map((i) => i.stop()));
        await close();
      },
    };
  } catch (e) {
    await close();
    throw e;
  }
}

/** Connections holding a LISTEN in the fleet's database (the kill-switch / config fan-out). */
export async function listenConnections(db: TestDatabase): Promise<number[]> {
  return withDb(db, async (c) =>
    (
      await c.query<{ pid: number }>(
        `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND query ILIKE 'LISTEN %'`,
      )
    ).rows.map((r) => r.pid),
  );
}

/** pg_terminate_backend of every LISTEN connection: what a PostgreSQL restart or failover does to them. */
export async function killListenConnections(db: TestDatabase): Promise<number> {
  return withDb(db, async (c) => {
    const r = await c.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND query ILIKE 'LISTEN %'`,
    );
    return r.rowCount ?? 0;
  });
}

async function withDb<T>(db: TestDatabase, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: db.url, connectionTimeoutMillis: 5000 });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/**
 * fetch that dials one instance directly while the URL (and so the Host header) stays publicUrl's:
 * what a client on the instance's network sees, bypassing the balancer. WHATWG fetch cannot set
 * Host, hence node:http.
 */
export function dialFetch(instanceOrigin: string): typeof fetch {
  const target = new URL(instanceOrigin);
  return ((input: string | URL | Request, init: RequestInit = {}) =>
    new Promise<Response>((resolve, reject) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      const headers: Record<string, string> = {};
      new Headers(input instanceof Request ? input.headers : undefined).forEach((v, k) => (headers[k] = v));
      new Headers(init.headers).forEach((v, k) => (headers[k] = v));
      headers.host = url.host;
      const body = init.body;
      if (body !== undefined && body !== null && typeof body !== 'string' && !(body instanceof URLSearchParams)) {
        reject(new TypeError('dialFetch: only string or URLSearchParams bodies'));
        return;
      }
      const data = body === undefined || body === null ? undefined : String(body);
      if (data !== undefined && body instanceof URLSearchParams) headers['content-type'] ??= 'application/x-www-form-urlencoded;charset=UTF-8';
      const req = httpRequest(
        {
          host: target.hostname,
          port: target.port,
          path: url.pathname + url.search,
          method: init.method ?? (input instanceof Request ? input.method : 'GET'),
          headers,
          ...(init.signal ? { signal: init.signal } : {}),
        },
        (res) => {
          const h = new Headers();
          for (const [k, v] of Object.entries(res.headers)) {
            if (Array.isArray(v)) v.forEach((x) => h.append(k, x));
            else if (v !== undefined) h.set(k, v);
          }
          const status = res.statusCode ?? 502;
          const noBody = status === 204 || status === 304 || init.method === 'HEAD';
          if (noBody) res.resume();
          resolve(new Response(noBody ? null : (Readable.toWeb(res) as ReadableStream), { status, headers: h }));
        },
      );
      req.on('error', reject);
      req.end(data);
    })) as typeof fetch;
}
