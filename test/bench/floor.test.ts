import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fileFlushLatencies, floorOf, pgCommitLatencies } from '../../tools/bench/floor.js';
import { createScratchDatabase } from '../../tools/bench/postgres.js';

const adminUrl = process.env.XAA_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const skipPostgres = process.env.XAA_SKIP_POSTGRES === '1';
const dir = mkdtempSync(join(tmpdir(), 'xaa-floor-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const finitePositive = (xs: number[]) => xs.every((x) => Number.isFinite(x) && x > 0);

describe('the flush floor (tools/bench/floor.ts)', () => {
  it('times each append and fdatasync, and leaves no probe file behind', async () => {
    const latencies = await fileFlushLatencies(dir, 5);
    expect(latencies).toHaveLength(5);
    expect(finitePositive(latencies)).toBe(true);
    expect(readdirSync(dir)).toEqual([]);
  });

  it.skipIf(skipPostgres)('times each committed INSERT in a scratch database', async () => {
    const db = await createScratchDatabase(adminUrl);
    try {
      const latencies = await pgCommitLatencies(db.url, 5);
      expect(latencies).toHaveLength(5);
      expect(finitePositive(latencies)).toBe(true);
    } finally {
      await db.drop();
    }
  });

  it('p50 and p99 over the samples, whatever their order', () => {
    const samples = [5, 1, 4, 2, 3, 9, 8, 7, 6, 10];
    expect(floorOf(samples)).toEqual({ n: 10, p50: 6, p99: 10 });
  });
});
