/**
 * PostgreSQL mode: the gateway's store in a scratch database of its own, created for the run on the
 * server BENCH_DATABASE_URL names (default: the local test server) and dropped at the end, so runs
 * never share tables and nothing is left behind.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const DEFAULT_ADMIN_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test';

export interface ScratchDatabase {
  /** The DATABASE_URL the gateway gets. */
  url: string;
  /** host:port/database, for the report (no credentials). */
  label: string;
  drop(): Promise<void>;
}

async function withAdmin<T>(adminUrl: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 5000 });
  try {
    await c.connect();
  } catch (e) {
    const where = new URL(adminUrl);
    throw new Error(`PostgreSQL at ${where.host}${where.pathname} is unreachable (BENCH_DATABASE_URL): ${(e as Error).message}`, { cause: e });
  }
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

export async function createScratchDatabase(adminUrl: string): Promise<ScratchDatabase> {
  const name = `xaa_bench_${randomBytes(5).toString('hex')}`;
  await withAdmin(adminUrl, (c) => c.query(`CREATE DATABASE "${name}"`));
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.href,
    label: `${url.host}/${name}`,
    // FORCE (PostgreSQL 13+): a connection a killed gateway left behind does not block the drop.
    drop: () => withAdmin(adminUrl, async (c) => void (await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`))),
  };
}

/**
 * What makes a commit durable on the server, for the report: fsync and synchronous_commit, and the data
 * directory where the role may read it (a superuser, or pg_read_all_settings). Never throws.
 */
export async function durabilitySettings(url: string): Promise<{ fsync: string; synchronousCommit: string; dataDirectory?: string }> {
  const show = async (c: pg.Client, name: string) => {
    try {
      return String((await c.query<Record<string, unknown>>(`SHOW ${name}`)).rows[0]?.[name] ?? 'unknown');
    } catch {
      return undefined;
    }
  };
  try {
    return await withAdmin(url, async (c) => {
      const dataDirectory = await show(c, 'data_directory');
      return {
        fsync: (await show(c, 'fsync')) ?? 'unknown',
        synchronousCommit: (await show(c, 'synchronous_commit')) ?? 'unknown',
        ...(dataDirectory ? { dataDirectory } : {}),
      };
    });
  } catch {
    return { fsync: 'unknown', synchronousCommit: 'unknown' };
  }
}
