import { PgAuditSource } from '../../../src/audit/pg-source.js';
import { FileAuditSource, queryAudit, type AuditRecord, type AuditSource } from '../../../src/audit/index.js';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { BIN, type Env } from '../../../tools/testkit/env.js';
import { spawnServe, type SpawnedServe } from '../../../tools/testkit/serve.js';
import { serverSection } from './harness.js';

/**
 * `xaa-gateway serve` as an operator runs it: a child process started from the CLI on a config file,
 * on the embedded store (PGlite in server.dataDir) or on PostgreSQL (DATABASE_URL), stopped with
 * SIGTERM. A restart is a new process on the same config, data and port.
 */

export const CIMD_CA_FILE = join(import.meta.dirname, 'fixtures/cimd-host.cert.pem');
export const CIMD_KEY_FILE = join(import.meta.dirname, 'fixtures/cimd-host.key.pem');

export interface Engine {
  name: string;
  kind: 'pglite' | 'postgres';
  skip: boolean;
}

/** Unreachable PostgreSQL fails these tests, as in test/store/postgres.test.ts; XAA_SKIP_POSTGRES=1 skips them knowingly. */
export const ENGINES: readonly Engine[] = [
  { name: 'embedded PGlite', kind: 'pglite', skip: false },
  { name: 'PostgreSQL', kind: 'postgres', skip: process.env.XAA_SKIP_POSTGRES === '1' },
];

const ADMIN_DATABASE_URL = process.env.XAA_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: ADMIN_DATABASE_URL, connectionTimeoutMillis: 5000 });
  try {
    await c.connect();
  } catch (err) {
    throw new Error(`PostgreSQL at ${ADMIN_DATABASE_URL} is unreachable (set XAA_SKIP_POSTGRES=1 to skip these tests): ${(err as Error).message}`, {
      cause: err,
    });
  }
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/**
 * A database of its own per test file and run: parallel runs never share tables, and the gateway
 * uses the plain DATABASE_URL an operator would give it (default schema).
 */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `xaa_oauth_${randomBytes(6).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE "${name}"`));
  const url = new URL(ADMIN_DATABASE_URL);
  url.pathname = `/${name}`;
  return {
    url: url.href,
    // FORCE (PostgreSQL 13+): a connection left behind by a killed gateway does not block the drop.
    drop: () => admin(async (c) => void (await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`))),
  };
}

/** A port the OS says is free now; reused for every start so publicUrl (the tokens' issuer) stays the same. */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/**
 * A port held by a listener until `release()`: for an address that must be known long before the
 * process that binds it starts (HAProxy's frontend is every instance's publicUrl). Held, no other
 * test's OS-chosen port can land on it meanwhile; release it right before the real bind.
 */
export async function reservePort(): Promise<{ port: number; release(): Promise<void> }> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as { port: number }).port;
  return { port, release: () => new Promise<void>((resolve) => s.close(() => resolve())) };
}

/** Writes the env's config with a server section for http://127.0.0.1:<port> (loopback dev: CIMD over loopback allowed). */
export function writeServeConfig(env: Env, port: number): string {
  const publicUrl = `http://127.0.0.1:${port}`;
  env.writeConfig((c) => (c.server = { ...serverSection(publicUrl, env.dir), port }));
  return publicUrl;
}

/**
 * serve from the repository's bin with `preload` imported first (a probe that sees the process from inside),
 * on a free port, and with no OTLP endpoint from the machine's environment (tracing off). `extraEnv` adds to
 * the child's environment (DATABASE_URL, the probe's settings).
 */
export async function spawnServeWithPreload(env: Env, preload: string, extraEnv: NodeJS.ProcessEnv = {}): Promise<{ served: SpawnedServe; publicUrl: string }> {
  const port = await freePort();
  const publicUrl = writeServeConfig(env, port);
  const served = await spawnServe({
    command: [process.execPath, '--import', pathToFileURL(preload).href, BIN],
    configPath: env.configPath,
    port,
    cwd: process.cwd(),
    env: { NODE_EXTRA_CA_CERTS: CIMD_CA_FILE, OTEL_EXPORTER_OTLP_ENDPOINT: '', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: '', ...extraEnv },
  });
  return { served, publicUrl };
}

export interface ServedGateway {
  origin: string;
  mcpUrl: string;
  stderr(): string;
  /** Where it writes its audit records: the PostgreSQL table with a databaseUrl, else the env's directory. */
  auditSource(): AuditSource;
  /** Every audit record it wrote, by time. */
  audit(): Promise<AuditRecord[]>;
  /** SIGTERM and wait for the exit code. */
  stop(): Promise<number | null>;
}

export async function startServedGateway(env: Env, opts: { port: number; databaseUrl?: string; instance?: string }): Promise<ServedGateway> {
  const served = await spawnServe({
    command: [process.execPath, BIN],
    configPath: env.configPath,
    port: opts.port,
    cwd: process.cwd(),
    env: {
      NODE_EXTRA_CA_CERTS: CIMD_CA_FILE,
      ...(opts.databaseUrl ? { DATABASE_URL: opts.databaseUrl } : {}),
      ...(opts.instance ? { XAA_INSTANCE_ID: opts.instance } : {}),
    },
  });
  const auditSource = (): AuditSource => (opts.databaseUrl ? new PgAuditSource({ databaseUrl: opts.databaseUrl }) : new FileAuditSource(env.auditDir));
  return {
    origin: served.origin,
    mcpUrl: served.mcpUrl,
    stderr: served.stderr,
    stop: served.stop,
    auditSource,
    async audit() {
      const source = auditSource();
      const out: AuditRecord[] = [];
      try {
        for await (const r of queryAudit(source)) out.push(r);
      } finally {
        await source.close?.();
      }
      return out;
    },
  };
}
