import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseOptions } from '../../tools/bench/options.js';

describe('bench knobs', () => {
  it.each([
    ['a full run measures stdio at 1, 10 and 50 clients', {}, [1, 10, 50]],
    ['QUICK stays at 1 and 10 (50 stdio clients are 100 processes)', { BENCH_QUICK: '1' }, [1, 10]],
    ['BENCH_STDIO_CLIENTS picks them, sorted and without repeats', { BENCH_STDIO_CLIENTS: '50,1,50' }, [1, 50]],
  ])('%s', (_, env, stdioClients) => {
    expect(parseOptions(env).stdioClients).toEqual(stdioClients);
  });

  it('refuses a client count the bench has no cells for, naming the knob', () => {
    expect(() => parseOptions({ BENCH_STDIO_CLIENTS: '1,20' })).toThrow(
      'bench knobs: BENCH_STDIO_CLIENTS: each count must be one of 1, 10, 50 (see docs/bench.md, "Knobs")',
    );
  });

  it("BENCH_DIR given relative is taken from the working directory (the run's configs name paths under it)", () => {
    expect(parseOptions({ BENCH_DIR: 'node_modules/.cache/x' }).dir).toBe(resolve('node_modules/.cache/x'));
  });
});
