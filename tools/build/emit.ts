/**
 * Emits dist/ (what the package ships and the tests' spawned CLI runs) from src/: every module
 * transpiled on its own by esbuild, not bundled, so dist/ mirrors src/ file for file. Type checking is
 * tsc's alone (`npm run build` runs `tsc -p tsconfig.build.json` first; `npm test` checks src,
 * test and tools): tsc's own emit of the same files took 13 s of CPU, esbuild's takes well under one.
 * Every module already compiles on its own: vitest and tsx load src/ the same way.
 *
 *   tsx tools/build/emit.ts             dist/ emptied, then written
 *   emitDist({ clean: false })          overwrite in place (tools/testkit/build.ts removes orphans)
 */
import { rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { build, type Message } from 'esbuild';
import { typeScriptSources } from './sources.js';

const ROOT = resolve(import.meta.dirname, '../..');
const SRC = join(ROOT, 'src');
export const DIST = join(ROOT, 'dist');
/** Written last by every emit: its mtime is when the emit started (tools/testkit/build.ts compares sources with it). */
export const STAMP = join(DIST, '.build-stamp');

/** Emits dist/; resolves with esbuild's warnings (none expected), rejects naming the file and line of an error. */
export async function emitDist({ clean = true }: { clean?: boolean } = {}): Promise<Message[]> {
  const started = new Date();
  if (clean) rmSync(DIST, { recursive: true, force: true });
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: typeScriptSources(SRC),
    outbase: SRC,
    outdir: DIST,
    bundle: false,
    format: 'esm',
    platform: 'node',
    // The oldest Node the package supports (package.json engines).
    target: 'node20.19',
    // The JSX settings and class-field semantics of the shipped build (ES2022 class fields, preact).
    tsconfig: join(ROOT, 'tsconfig.build.json'),
    logLevel: 'silent',
  });
  writeFileSync(STAMP, started.toISOString());
  // Sources edited while esbuild ran are newer than this, and make the next check build again.
  utimesSync(STAMP, started, started);
  return result.warnings;
}

if (process.argv[1] && resolve(process.argv[1]) === import.meta.filename) {
  emitDist().then(
    (warnings) => {
      for (const w of warnings) console.warn(`warning: ${w.location ? `${w.location.file}:${w.location.line}: ` : ''}${w.text}`);
    },
    (e) => {
      console.error(e instanceof Error ? e.message : String(e));
      process.exit(1);
    },
  );
}
