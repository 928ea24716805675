/**
 * The bench's knobs, all environment variables, parsed once. The defaults finish in about 5
 * minutes on a 2-core machine; BENCH_QUICK=1 runs every cell with few calls (well under a minute,
 * for the smoke test: the shape of the output, not its figures).
 */
import { resolve } from 'node:path';
import { z } from 'zod';
import { DEFAULT_ADMIN_DATABASE_URL } from './postgres.js';

/** Clients per cell over HTTP; the last is the overload cell. */
export const HTTP_CLIENTS = [1, 10, 50] as const;
export const OVERLOAD_CLIENTS = 200;

const count = (min: number) => z.coerce.number().int().min(min);
const clientList = z
  .string()
  .regex(/^\d+(,\d+)*$/, 'a comma-separated list of client counts, e.g. "1,10,50"')
  .transform((s) => [...new Set(s.split(',').map(Number))].sort((a, b) => a - b))
  .refine((l) => l.every((n) => HTTP_CLIENTS.includes(n as (typeof HTTP_CLIENTS)[number])), 'each count must be one of 1, 10, 50');

const Env = z.object({
  BENCH_QUICK: z.enum(['0', '1']).default('0'),
  BENCH_ROUNDS: count(1).optional(),
  BENCH_CALLS_1: count(1).optional(),
  BENCH_CALLS_10: count(10).optional(),
  BENCH_CALLS_50: count(50).optional(),
  BENCH_CALLS_200: count(200).optional(),
  BENCH_STDIO_CLIENTS: clientList.optional(),
  BENCH_SESSIONS: count(1).optional(),
  BENCH_STDIO_AUDIT: z.enum(['shared', 'per-process']).default('shared'),
  BENCH_STORE: z.enum(['pglite', 'postgres']).optional(),
  BENCH_DATABASE_URL: z.string().url().optional(),
  BENCH_JSON: z.string().min(1).optional(),
  BENCH_DIR: z.string().min(1).optional(),
  BENCH_PROFILE: z.string().min(1).optional(),
});

export interface BenchOptions {
  quick: boolean;
  rounds: number;
  /** Calls per cell and round, by client count (1, 10, 50, 200). */
  calls: Record<number, number>;
  stdioClients: number[];
  /**
   * shared: every stdio gateway process uses one config, hence one audit directory (as one person's
   * desktop clients do; each process appends to a chain of its own there); per-process: a config and
   * audit directory per process.
   */
  stdioAudit: 'shared' | 'per-process';
  /** Extra 2025 sessions opened to measure memory per session. */
  sessions: number;
  store: { kind: 'pglite' } | { kind: 'postgres'; adminUrl: string };
  /** Where the JSON dump goes (default: the run directory's parent, see index.ts). */
  jsonPath?: string;
  /** Parent of the run's working directory (config, audit, embedded store); default under node_modules/.cache. */
  dir?: string;
  /** Every server process (gateways and baselines) runs with --cpu-prof, its .cpuprofile written here at exit. */
  profileDir?: string;
}

export function parseOptions(env: NodeJS.ProcessEnv): BenchOptions {
  const parsed = Env.safeParse(env);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`bench knobs: ${issues} (see docs/bench.md, "Knobs")`);
  }
  const e = parsed.data;
  const quick = e.BENCH_QUICK === '1';
  const postgres = e.BENCH_STORE === 'postgres' || (e.BENCH_STORE === undefined && e.BENCH_DATABASE_URL !== undefined);
  return {
    quick,
    rounds: e.BENCH_ROUNDS ?? (quick ? 1 : 3),
    calls: {
      1: e.BENCH_CALLS_1 ?? (quick ? 10 : 300),
      10: e.BENCH_CALLS_10 ?? (quick ? 30 : 1000),
      50: e.BENCH_CALLS_50 ?? (quick ? 60 : 1500),
      [OVERLOAD_CLIENTS]: e.BENCH_CALLS_200 ?? (quick ? 200 : 2000),
    },
    // 50 stdio clients are 100 Node processes (about 40 s to start, 8 GiB): the full run only.
    stdioClients: e.BENCH_STDIO_CLIENTS ?? (quick ? [1, 10] : [1, 10, 50]),
    stdioAudit: e.BENCH_STDIO_AUDIT,
    sessions: e.BENCH_SESSIONS ?? (quick ? 16 : 200),
    store: postgres ? { kind: 'postgres', adminUrl: e.BENCH_DATABASE_URL ?? DEFAULT_ADMIN_DATABASE_URL } : { kind: 'pglite' },
    ...(e.BENCH_JSON ? { jsonPath: e.BENCH_JSON } : {}),
    ...(e.BENCH_DIR ? { dir: resolve(e.BENCH_DIR) } : {}),
    ...(e.BENCH_PROFILE ? { profileDir: e.BENCH_PROFILE } : {}),
  };
}
