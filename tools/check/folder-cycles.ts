/**
 * `npm run check:cycles`, second half: no cycle between the folders of src/ (madge, the first half,
 * checks files). A folder is a concept (audit, store, control...); if two folders import each other,
 * neither can be read, tested or replaced on its own. Every import counts, type-only ones included,
 * since they couple the folders' vocabularies just the same. Files directly in src/ (errors.ts,
 * security.ts...) are units of their own. Exit 1 naming each cycle and the files that make it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';

const ROOT = resolve(import.meta.dirname, '../..');
const SRC = join(ROOT, 'src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : /\.tsx?$/.test(e.name) && !e.name.endsWith('.d.ts') ? [join(dir, e.name)] : [],
  );
}

/** The folder directly under src/ a file belongs to, or the file's own name for a file in src/. */
function unitOf(file: string): string {
  const parts = relative(SRC, file).split(sep);
  return parts.length > 1 ? parts[0]! : parts[0]!.replace(/\.tsx?$/, '');
}

/** unit -> unit -> the files that import across. */
const edges = new Map<string, Map<string, Set<string>>>();
for (const file of sourceFiles(SRC)) {
  const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
  for (const { fileName } of importedFiles) {
    if (!fileName.startsWith('.')) continue;
    const target = resolve(dirname(file), fileName);
    if (!target.startsWith(SRC + sep)) continue;
    const from = unitOf(file);
    const to = unitOf(target);
    if (from === to) continue;
    const out = edges.get(from) ?? new Map<string, Set<string>>();
    edges.set(from, out);
    const files = out.get(to) ?? new Set<string>();
    out.set(to, files);
    files.add(relative(ROOT, file));
  }
}

// Tarjan's strongly connected components: every group of two or more folders is a cycle.
const index = new Map<string, number>();
const low = new Map<string, number>();
const stack: string[] = [];
const onStack = new Set<string>();
const groups: string[][] = [];
let next = 0;
function visit(v: string): void {
  index.set(v, next);
  low.set(v, next++);
  stack.push(v);
  onStack.add(v);
  for (const w of edges.get(v)?.keys() ?? []) {
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
  if (group.length > 1) groups.push(group.sort());
}
for (const v of edges.keys()) if (!index.has(v)) visit(v);

const units = new Set([...edges.keys(), ...[...edges.values()].flatMap((m) => [...m.keys()])]);
if (groups.length === 0) {
  console.log(`No cycle between the ${units.size} folders and top-level files of src/.`);
  process.exit(0);
}
for (const group of groups) {
  console.error(`Cycle between src/ folders: ${group.join(', ')}`);
  for (const a of group) {
    for (const [b, files] of edges.get(a) ?? []) {
      if (group.includes(b)) console.error(`  ${a} -> ${b}: ${[...files].join(', ')}`);
    }
  }
}
console.error('Move what both sides need to the lower folder (docs/architecture.md, "Layers").');
process.exit(1);
