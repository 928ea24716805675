/**
 * The flush floor: what making one record durable costs on this machine's disk, with no gateway
 * around it, measured in the same run as the calls (at the start of each round). The p50 budgets
 * (0.5 ms over the plain server with the file sink, 1 ms with the PostgreSQL sink) hold the decision
 * record's flush, and the disk decides how much of them that flush takes: the report shows it beside
 * each p50 check.
 *
 * - file: a 1 KiB append and its fdatasync on the calling thread, as the file sink makes them
 *   (src/audit/fs.ts), in the run's directory (the file system of every audit directory of the run);
 * - postgres: a 1 KiB row inserted in autocommit with synchronous_commit on (one WAL flush), as the
 *   PostgreSQL sink commits a decision, in a table of the scratch database.
 *
 * One sample every GAP_MS, as a single client's calls arrive: a disk idle between flushes answers
 * slower than one flushed back to back, and the 1-client cells are the idle case.
 */
import { closeSync, fdatasyncSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { percentile } from './stats.js';

const GAP_MS = 3;
const RECORD = Buffer.from(`${JSON.stringify({ pad: 'x'.repeat(1000) })}\n`);

export interface Floor {
  /** Samples over all rounds. */
  n: number;
  p50: number;
  p99: number;
}

export function floorOf(latenciesMs: readonly number[]): Floor {
  const sorted = [...latenciesMs].sort((a, b) => a - b);
  return { n: sorted.length, p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99) };
}

/** `n` appends with fdatasync to a probe file in `dir` (removed after), ms each. */
export async function fileFlushLatencies(dir: string, n: number): Promise<number[]> {
  const path = join(dir, 'flush-probe');
  const fd = openSync(path, 'a', 0o600);
  const out: number[] = [];
  try {
    for (let i = 0; i < n; i++) {
      await sleep(GAP_MS);
      const t0 = performance.now();
      writeSync(fd, RECORD);
      fdatasyncSync(fd);
      out.push(performance.now() - t0);
    }
  } finally {
    closeSync(fd);
    rmSync(path, { force: true });
  }
  return out;
}

/** `n` committed single-row INSERTs (synchronous_commit on) into a probe table of `url`'s database, ms each. */
export async function pgCommitLatencies(url: string, n: number): Promise<number[]> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000, options: '-c synchronous_commit=on' });
  await c.connect();
  const out: number[] = [];
  try {
    await c.query('CREATE TABLE IF NOT EXISTS bench_flush_probe (id BIGSERIAL PRIMARY KEY, record TEXT NOT NULL)');
    const text = RECORD.toString('utf8');
    for (let i = 0; i < n; i++) {
      await sleep(GAP_MS);
      const t0 = performance.now();
      await c.query({ name: 'bench-flush-probe', text: 'INSERT INTO bench_flush_probe (record) VALUES ($1)', values: [text] });
      out.push(performance.now() - t0);
    }
  } finally {
    await c.end();
  }
  return out;
}
