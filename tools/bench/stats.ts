import { performance } from 'node:perf_hooks';

export interface Stats {
  p50: number;
  p99: number;
  rps: number;
}

export interface Sample {
  latencies: number[];
  wallMs: number;
}

export function summarize(latencies: number[], wallMs: number): Stats {
  const s = [...latencies].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
  return { p50: at(0.5), p99: at(0.99), rps: (latencies.length / wallMs) * 1000 };
}

/**
 * `total` calls over `concurrency` workers; worker k uses `once(k)` (its own client when the
 * caller gives each worker one). Latency per call, wall time for the whole run.
 */
export async function run(concurrency: number, total: number, once: (worker: number) => Promise<void>): Promise<Sample> {
  const latencies: number[] = [];
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async (_, k) => {
      while (next++ < total) {
        const t0 = performance.now();
        await once(k);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  return { latencies, wallMs: performance.now() - start };
}

/** Accumulates samples of interleaved rounds under one key. */
export class Results {
  readonly #by = new Map<string, Sample>();
  add(key: string, s: Sample): void {
    const prev = this.#by.get(key) ?? { latencies: [], wallMs: 0 };
    this.#by.set(key, { latencies: prev.latencies.concat(s.latencies), wallMs: prev.wallMs + s.wallMs });
  }
  stats(key: string): Stats | undefined {
    const s = this.#by.get(key);
    return s && s.latencies.length ? summarize(s.latencies, s.wallMs) : undefined;
  }
}
