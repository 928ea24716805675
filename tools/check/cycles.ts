/**
 * `npm run check:cycles`: no import cycle in src/, between files or between folders. A folder is a
 * concept (audit, store, control...); if two folders import each other, neither can be read, tested or
 * replaced on its own; if two files do, the order in which ES modules evaluate decides what each sees.
 * Every relative import counts, type-only ones included, since they couple the files' vocabularies just
 * the same (stricter than `npx madge --circular src`, which a newcomer can still run). Files directly in
 * src/ (errors.ts, security.ts...) are units of their own. Exit 1 naming each cycle and the files that
 * make it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';
import { typeScriptSources } from '../build/sources.js';

const ROOT = resolve(import.meta.dirname, '../..');
const SRC = join(ROOT, 'src');

/** The source file a relative specifier names ("./x.js" is x.ts or x.tsx, as NodeNext resolves it after the build). */
function sourceOf(src: string, from: string, specifier: string): string | undefined {
  const target = resolve(dirname(from), specifier);
  if (!target.startsWith(src + sep)) return undefined;
  const base = target.replace(/\.(js|jsx|ts|tsx)$/, '');
  return [`${base}.ts`, `${base}.tsx`, target].find((p) => existsSync(p));
}

type Graph = Map<string, Map<string, Set<string>>>;

function addEdge(g: Graph, from: string, to: string, via: string): void {
  const out = g.get(from) ?? new Map<string, Set<string>>();
  g.set(from, out);
  const files = out.get(to) ?? new Set<string>();
  out.set(to, files);
  files.add(via);
}

/** Tarjan's strongly connected components: every group of two or more nodes (or a node importing itself) is a cycle. */
function cycles(g: Graph): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const groups: string[][] = [];
  let next = 0;
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of g.get(v)?.keys() ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) !== index.get(v)) return;
    const group: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      group.push(w);
    } while (w !== v);
    if (group.length > 1 || g.get(v)?.has(v)) groups.push(group.sort());
  };
  for (const v of g.keys()) if (!index.has(v)) visit(v);
  return groups;
}

export interface CycleReport {
  /** Source files scanned. */
  files: number;
  /** Folders directly under the root and top-level files. */
  units: number;
  /** Each group of files that import each other, round; with the imports that make it. */
  fileCycles: Array<{ files: string[]; imports: string[] }>;
  /** Each group of folders that import each other, round; with the files that import across. */
  folderCycles: Array<{ folders: string[]; imports: string[] }>;
}

/** The import cycles of the TypeScript sources under `src` (paths in the report are relative to `root`). */
export function findCycles(src: string, root = dirname(src)): CycleReport {
  const unitOf = (file: string): string => {
    const parts = relative(src, file).split(sep);
    return parts.length > 1 ? parts[0]! : parts[0]!.replace(/\.tsx?$/, '');
  };
  const files: Graph = new Map();
  const folders: Graph = new Map();
  const all = typeScriptSources(src);
  for (const file of all) {
    const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    const from = relative(root, file);
    for (const { fileName } of importedFiles) {
      if (!fileName.startsWith('.')) continue;
      const target = sourceOf(src, file, fileName);
      if (target === undefined) continue;
      addEdge(files, from, relative(root, target), from);
      if (unitOf(file) !== unitOf(target)) addEdge(folders, unitOf(file), unitOf(target), from);
    }
  }
  const across = (g: Graph, group: string[], say: (a: string, b: string, via: Set<string>) => string) =>
    group.flatMap((a) => [...(g.get(a) ?? [])].filter(([b]) => group.includes(b)).map(([b, via]) => say(a, b, via)));
  return {
    files: all.length,
    units: new Set(all.map(unitOf)).size,
    fileCycles: cycles(files).map((group) => ({ files: group, imports: across(files, group, (a, b) => `${a} imports ${b}`) })),
    folderCycles: cycles(folders).map((group) => ({ folders: group, imports: across(folders, group, (a, b, via) => `${a} -> ${b}: ${[...via].join(', ')}`) })),
  };
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  const report = findCycles(SRC, ROOT);
  if (report.fileCycles.length === 0 && report.folderCycles.length === 0) {
    console.log(`No import cycle between the ${report.files} files of src/, nor between its ${report.units} folders and top-level files.`);
    process.exit(0);
  }
  for (const c of report.fileCycles) console.error(`Cycle between src/ files: ${c.files.join(', ')}\n  ${c.imports.join('\n  ')}`);
  for (const c of report.folderCycles) console.error(`Cycle between src/ folders: ${c.folders.join(', ')}\n  ${c.imports.join('\n  ')}`);
  console.error('Move what both sides need to a lower file or folder (docs/architecture.md, "Layers").');
  process.exit(1);
}
