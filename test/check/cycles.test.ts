import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { findCycles } from '../../tools/check/cycles.js';

/** `npm run check:cycles` on small trees: what it must find, and what it must let through. */

let dirs: string[] = [];
afterEach(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs = [];
});

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'xaa-cycles-'));
  dirs.push(root);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, 'src', path)), { recursive: true });
    writeFileSync(join(root, 'src', path), text);
  }
  return join(root, 'src');
}

const cases: Array<{ name: string; files: Record<string, string>; fileCycles: string[][]; folderCycles: string[][] }> = [
  {
    name: 'a layered tree',
    files: {
      'a/x.ts': "import { y } from '../b/y.js';\nexport const x = y;",
      'b/y.ts': "import { z } from './z.js';\nexport const y = z;",
      'b/z.ts': 'export const z = 1;',
      'errors.ts': "import type { x } from './a/x.js';\nexport type E = typeof x;",
    },
    fileCycles: [],
    folderCycles: [],
  },
  {
    name: 'two files importing each other, one by a type-only import',
    files: {
      'a/x.ts': "import { y } from './y.js';\nexport const x = y;",
      'a/y.ts': "import type { x } from './x.js';\nexport const y = 1 as unknown as typeof x;",
    },
    fileCycles: [['src/a/x.ts', 'src/a/y.ts']],
    folderCycles: [],
  },
  {
    name: 'a file importing itself',
    files: { 'a/x.ts': "export * from './x.js';\nexport const x = 1;" },
    fileCycles: [['src/a/x.ts']],
    folderCycles: [],
  },
  {
    name: 'folders importing each other through different files (no file cycle)',
    files: {
      'a/x.ts': "import { y } from '../b/y.js';\nexport const x = y;",
      'a/w.ts': 'export const w = 1;',
      'b/y.ts': 'export const y = 1;',
      'b/v.ts': "export { w } from '../a/w.js';",
    },
    fileCycles: [],
    folderCycles: [['a', 'b']],
  },
  {
    name: 'a three-file ring, .tsx included, across a top-level file',
    files: {
      'a/page.tsx': "import { s } from '../security.js';\nexport const Page = () => s;",
      'security.ts': "import { y } from './b/y.js';\nexport const s = y;",
      'b/y.ts': "import { Page } from '../a/page.js';\nexport const y = typeof Page;",
    },
    fileCycles: [['src/a/page.tsx', 'src/b/y.ts', 'src/security.ts']],
    folderCycles: [['a', 'b', 'security']],
  },
];

describe('check:cycles', () => {
  it.each(cases)('$name', ({ files, fileCycles, folderCycles }) => {
    const r = findCycles(tree(files));
    expect(r.files).toBe(Object.keys(files).length);
    expect(r.fileCycles.map((c) => c.files)).toEqual(fileCycles);
    expect(r.folderCycles.map((c) => c.folders)).toEqual(folderCycles);
    // Each cycle names at least as many imports as it has members (each member imports another).
    for (const c of r.fileCycles) expect(c.imports.length).toBeGreaterThanOrEqual(c.files.length);
    for (const c of r.folderCycles) expect(c.imports.length).toBeGreaterThanOrEqual(c.folders.length);
  });

  it('names the imports that close a cycle', () => {
    const r = findCycles(
      tree({ 'a/x.ts': "import { y } from '../b/y.js';\nexport const x = y;", 'b/y.ts': "import { x } from '../a/x.js';\nexport const y = x;" }),
    );
    expect(r.fileCycles[0]!.imports.sort()).toEqual(['src/a/x.ts imports src/b/y.ts', 'src/b/y.ts imports src/a/x.ts']);
    expect(r.folderCycles[0]!.imports.sort()).toEqual(['a -> b: src/a/x.ts', 'b -> a: src/b/y.ts']);
  });

  it('finds none in this repository', () => {
    const r = findCycles(join(import.meta.dirname, '../../src'));
    expect(r.files).toBeGreaterThan(200);
    expect([...r.fileCycles, ...r.folderCycles]).toEqual([]);
  });
});
