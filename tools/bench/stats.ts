import { performance } from 'node:perf_hooks';

/**
 * One client's call. It resolves when the call succeeded; it throws a {@link CallError} saying how
 * it failed (an HTTP 503 refusal, with or without Retry-After, is counted apart from other failures).
 */
export type CallFn = () => Promise<void>;

export class CallError extends Error {
  constructor(
    message: string,
    /** The HTTP status the server answered, when the failure was an HTTP answer. */
    readonly status?: number,
    /** The Retry-After header of that answer, if any. */
    readonly retryAfter?: string | null,
  ) {
    super(message);
  }
}

export interface Failures {
  /** 503 answers (overload refusals). */
  refused: number;
  /** ... of which carried Retry-After. */
  refusedWithRetryAfter: number;
  /** Every other failure (tool errors, other statuses, network errors). */
  other: number;
  /** First message of an "other" failure, for the report. */
  firstOther?: string;
}

/** What one cell measured in one round (or, added up, over all rounds). */
export interface Sample {
  /** Latencies of successful calls, ms. */
  latencies: number[];
  /** Wall time of the cell, ms. */
  wallMs: number;
  failures: Failures;
  /** utime+stime of the server process(es) over the cell, clock ticks (undefined: no server process, e.g. the direct path). */
  serverTicks?: number;
  /** CPU time of the bench process itself (clients and the demo SaaS) over the cell, ms. */
  benchCpuMs: number;
}

export const noFailures = (): Failures => ({ refused: 0, refusedWithRetryAfter: 0, other: 0 });

/**
 * `total` calls over `clients.length` clients, each calling back to back (the next call right after
 * its last answer, refused or not) until `total` calls have started. Latency per successful call;
 * wall time for the whole cell.
 */
export async function run(clients: readonly CallFn[], total: number): Promise<Omit<Sample, 'serverTicks'>> {
  const latencies: number[] = [];
  const failures = noFailures();
  let started = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(
    clients.map(async (call) => {
      while (started < total) {
        started++;
        const t = performance.now();
        try {
          await call();
          latencies.push(performance.now() - t);
        } catch (e) {
          if (e instanceof CallError && e.status === 503) {
            failures.refused++;
            if (e.retryAfter) failures.refusedWithRetryAfter++;
          } else {
            failures.other++;
            failures.firstOther ??= (e instanceof Error ? e.message : String(e)).slice(0, 300);
          }
        }
      }
    }),
  );
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { latencies, wallMs, failures, benchCpuMs: (cpu.user + cpu.system) / 1000 };
}

export function addSamples(a: Sample | undefined, b: Sample): Sample {
  if (!a) return { ...b, latencies: [...b.latencies], failures: { ...b.failures } };
  const firstOther = a.failures.firstOther ?? b.failures.firstOther;
  return {
    latencies: a.latencies.concat(b.latencies),
    wallMs: a.wallMs + b.wallMs,
    failures: {
      refused: a.failures.refused + b.failures.refused,
      refusedWithRetryAfter: a.failures.refusedWithRetryAfter + b.failures.refusedWithRetryAfter,
      other: a.failures.other + b.failures.other,
      ...(firstOther ? { firstOther } : {}),
    },
    ...(a.serverTicks !== undefined || b.serverTicks !== undefined ? { serverTicks: (a.serverTicks ?? 0) + (b.serverTicks ?? 0) } : {}),
    benchCpuMs: a.benchCpuMs + b.benchCpuMs,
  };
}

export interface Summary {
  /** Successful calls. */
  ok: number;
  p50: number;
  p99: number;
  /** Successful calls per second of wall time. */
  rps: number;
  refused: number;
  refusedWithRetryAfter: number;
  otherErrors: number;
  firstOtherError?: string;
  /** Server CPU per successful call, µs (undefined without a server process or without a successful call). */
  cpuUsPerCall?: number;
  /** The bench process's CPU over the cell's wall time, % of one core. */
  benchCpuPct: number;
}

export function percentile(sorted: readonly number[], q: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

export function summarize(s: Sample, ticksPerSecond: number): Summary {
  const sorted = [...s.latencies].sort((a, b) => a - b);
  const ok = sorted.length;
  return {
    ok,
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    rps: (ok / s.wallMs) * 1000,
    refused: s.failures.refused,
    refusedWithRetryAfter: s.failures.refusedWithRetryAfter,
    otherErrors: s.failures.other,
    ...(s.failures.firstOther ? { firstOtherError: s.failures.firstOther } : {}),
    ...(s.serverTicks !== undefined && ok ? { cpuUsPerCall: ((s.serverTicks / ticksPerSecond) * 1e6) / ok } : {}),
    benchCpuPct: (s.benchCpuMs / s.wallMs) * 100,
  };
}
