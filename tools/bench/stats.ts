import { performance } from 'node:perf_hooks';

export interface Stats {
  p50: number;
  p99: number;
  rps: number;
}

export interface Sample {
  latencies: number[];
  wallMs: number;
  /** Calls that threw (left out of the latencies), and the first message. */
  errors: number;
  firstError?: string;
}

export function summarize(latencies: number[], wallMs: number): Stats {
  const s = [...latencies].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
  return { p50: at(0.5), p99: at(0.99), rps: (latencies.length / wallMs) * 1000 };
}

/**
 * `total` calls over `concurrency` workers; worker k uses `once(k)` (its own client when the
 * caller gives each worker one). Latency per call, wall time for the whole run; a call that throws
 * is counted as an error, not timed.
 */
export async function run(concurrency: number, total: number, once: (worker: number) => Promise<void>): Promise<Sample> {
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async (_, k) => {
      while (next++ < total) {
        const t0 = performance.now();
        try {
          await once(k);
          latencies.push(performance.now() - t0);
        } catch (e) {
          errors++;
          firstError ??= e instanceof Error ? e.message : String(e);
        }
      }
    }),
  );
  return { latencies, wallMs: performance.now() - start, errors, ...(firstError ? { firstError } : {}) };
}

/** Accumulates samples of interleaved rounds under one key. */
export class Results {
  readonly #by = new Map<string, Sample>();
  add(key: string, s: Sample): void {
    const prev = this.#by.get(key) ?? { latencies: [], wallMs: 0, errors: 0 };
    const firstError = prev.firstError ?? s.firstError;
    this.#by.set(key, { latencies: prev.latencies.concat(s.latencies), wallMs: prev.wallMs + s.wallMs, errors: prev.errors + s.errors, ...(firstError ? { firstError } : {}) });
  }
  stats(key: string): Stats | undefined {
    const s = this.#by.get(key);
    return s && s.latencies.length ? summarize(s.latencies, s.wallMs) : undefined;
  }
  errors(key: string): { count: number; first?: string } {
    const s = this.#by.get(key);
    return { count: s?.errors ?? 0, ...(s?.firstError ? { first: s.firstError } : {}) };
  }
}
