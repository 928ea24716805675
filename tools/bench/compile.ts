/**
 * What the bench's children run. The plain baselines run as JavaScript, as the gateway runs its
 * compiled dist/: without a TypeScript loader in the process, neither side carries the loader's
 * memory or start-up cost in its RSS and CPU figures. Each baseline file is transpiled on its own
 * (no type check: `tsc --noEmit` checks tools/) into the run's directory, from where its imports resolve
 * through the run's link to the repository's node_modules (linkModules).
 */
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { buildDist, distIsCurrent } from '../testkit/build.js';
import { ROOT } from '../testkit/env.js';

const SOURCES = ['baseline-tool.ts', 'baseline-2025.ts', 'baseline-2026.ts', 'baseline-stdio.ts'] as const;

/**
 * `<runDir>/node_modules`, a link to the repository's: the run's copies (baselines, the gateway's dist/)
 * resolve their imports by walking up from where they are, and BENCH_DIR may put the run outside the
 * repository (another disk, /tmp). Removing the run removes the link, never what it points to.
 */
function linkModules(runDir: string): void {
  const link = join(runDir, 'node_modules');
  if (!existsSync(link)) symlinkSync(join(ROOT, 'node_modules'), link, 'dir');
}

/** Transpiles the baselines into `runDir`; returns the path of the JavaScript file for a baseline's source name. */
export function compileBaselines(runDir: string): (source: (typeof SOURCES)[number]) => string {
  linkModules(runDir);
  const OUT = join(runDir, 'baselines');
  mkdirSync(OUT, { recursive: true });
  // An ES module next to node_modules: "type" decides how Node reads the .js files.
  writeFileSync(join(OUT, 'package.json'), '{"type":"module"}\n');
  for (const name of SOURCES) {
    const source = readFileSync(join(ROOT, 'tools/bench', name), 'utf8');
    const { outputText } = ts.transpileModule(source, {
      fileName: name,
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: false },
    });
    writeFileSync(join(OUT, name.replace(/\.ts$/, '.js')), outputText);
  }
  return (source) => join(OUT, source.replace(/\.ts$/, '.js'));
}

/**
 * A copy of the built gateway (bin/, dist/, package.json) in the run's directory, whose children
 * run it: other work in the same tree may rebuild or clean dist/ while the bench runs, and the bench
 * measures one build from start to end. Its imports resolve from the repository's node_modules through
 * the run's link (linkModules). Returns the copy's bin/xaa-gateway.js.
 */
export async function snapshotGateway(runDir: string): Promise<string> {
  linkModules(runDir);
  const to = join(runDir, 'gateway');
  for (let attempt = 1; ; attempt++) {
    await buildDist();
    try {
      rmSync(to, { recursive: true, force: true });
      cpSync(join(ROOT, 'dist'), join(to, 'dist'), { recursive: true, filter: (src) => !src.endsWith('.build-stamp') });
      cpSync(join(ROOT, 'bin/xaa-gateway.js'), join(to, 'bin/xaa-gateway.js'));
      cpSync(join(ROOT, 'package.json'), join(to, 'package.json'));
      // A build that started meanwhile may have left a partial dist/: copy again once it is done.
      if (distIsCurrent() && existsSync(join(to, 'dist/cli.js'))) return join(to, 'bin/xaa-gateway.js');
    } catch (e) {
      if (attempt >= 5) throw new Error(`could not copy dist/ for the bench: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
    if (attempt >= 5) throw new Error('dist/ kept changing while the bench copied it (5 attempts)');
  }
}
