import { createConnection } from 'node:net';
import pg from 'pg';

/**
 * vitest globalSetup: the suites of the distributed mode use the machine's PostgreSQL (database `test`) and
 * Redis for real. On a machine without them, `npm test` skips those suites and says so in one loud line
 * (XAA_SKIP_POSTGRES / XAA_SKIP_REDIS are set for the workers); under CI (CI=true) they are mandatory and
 * a missing service fails the run at once, naming it. Setting XAA_SKIP_POSTGRES=1 or XAA_SKIP_REDIS=1
 * yourself skips them knowingly without probing.
 */

const POSTGRES_URL = process.env.XAA_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const REDIS_URL = process.env.XAA_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const PROBE_MS = 5_000;

async function probePostgres(): Promise<string | undefined> {
  const c = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: PROBE_MS });
  try {
    await c.connect();
    await c.query('SELECT 1');
    return undefined;
  } catch (e) {
    return (e as Error).message || String(e);
  } finally {
    await c.end().catch(() => {});
  }
}

/** A PING over RESP: no client library needed to know whether Redis answers. */
function probeRedis(): Promise<string | undefined> {
  const u = new URL(REDIS_URL);
  return new Promise((resolve) => {
    const s = createConnection({ host: u.hostname, port: Number(u.port || 6379) });
    const done = (why: string | undefined) => {
      s.destroy();
      resolve(why);
    };
    s.setTimeout(PROBE_MS, () => done(`no answer within ${PROBE_MS} ms`));
    s.on('error', (e) => done(e.message));
    s.on('connect', () => s.write('*1\r\n$4\r\nPING\r\n'));
    s.on('data', (d) => done(/^\+PONG|^-NOAUTH/.test(d.toString()) ? undefined : `unexpected answer ${JSON.stringify(d.toString().slice(0, 40))}`));
  });
}

export default async function setup(): Promise<void> {
  const ci = !!process.env.CI && process.env.CI !== 'false';
  const services = [
    { name: 'PostgreSQL', url: POSTGRES_URL.replace(/\/\/[^@/]*@/, '//'), skipVar: 'XAA_SKIP_POSTGRES', probe: probePostgres },
    { name: 'Redis', url: REDIS_URL, skipVar: 'XAA_SKIP_REDIS', probe: probeRedis },
  ];
  for (const s of services) {
    if (process.env[s.skipVar] === '1') continue;
    const why = await s.probe();
    if (!why) continue;
    if (ci) throw new Error(`${s.name} at ${s.url} is unreachable (${why}): CI runs the ${s.name} suites, start it (see the README's Development section)`);
    process.env[s.skipVar] = '1';
    process.stderr.write(
      `\n!!! ${s.name} at ${s.url} is unreachable (${why}): its test suites are SKIPPED. Start it to run them; CI=true makes them mandatory. !!!\n\n`,
    );
  }
}
