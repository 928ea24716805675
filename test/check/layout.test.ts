import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { expect, it } from 'vitest';
import { typeScriptSources } from '../../tools/build/sources.js';

/** Issue 10's bound on a file a newcomer has to read whole: every source file of src/ under 400 lines. */
const SRC = join(import.meta.dirname, '../../src');
const MAX_LINES = 400;

it(`every file of src/ is under ${MAX_LINES} lines (split one that grows past it by concept, as store/ is by aggregate)`, () => {
  const files = typeScriptSources(SRC);
  expect(files.length).toBeGreaterThan(200);
  const long = files
    .map((f) => ({ file: relative(join(SRC, '..'), f), lines: readFileSync(f, 'utf8').split('\n').length - 1 }))
    .filter((f) => f.lines >= MAX_LINES)
    .map((f) => `${f.file}: ${f.lines} lines`);
  expect(long).toEqual([]);
});
