import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * vitest globalSetup: tests that spawn `bin/xaa-gateway.js` run dist/, the JavaScript the package ships
 * (no TypeScript loader at run time), so dist/ is rebuilt from src/ before the run whenever a source
 * is newer than the last build. The build is tsc's incremental emit without type checking (`npm test`
 * type-checks src, test and tools with `tsc --noEmit` first); an unchanged tree costs a few stat calls.
 */

const ROOT = join(import.meta.dirname, '../..');
const DIST = join(ROOT, 'dist');
/** Written by every build (tsconfig.build.json); its mtime is the start of the last build. */
const STAMP = join(DIST, '.tsbuildinfo');
const INPUTS = ['src', 'tsconfig.json', 'tsconfig.build.json', 'package.json'];
/** Serializes builds of this tree by several test runs at once (a directory: mkdir is atomic). */
const LOCK = join(ROOT, 'node_modules/.cache/xaa-gateway-build.lock');
const LOCK_WAIT_MS = 180_000;

function newestInput(path: string): number {
  const s = statSync(path);
  if (!s.isDirectory()) return s.mtimeMs;
  let newest = s.mtimeMs; // a deleted or renamed source changes its directory
  for (const name of readdirSync(path)) newest = Math.max(newest, newestInput(join(path, name)));
  return newest;
}

export function distIsCurrent(): boolean {
  if (!existsSync(join(DIST, 'cli.js')) || !existsSync(STAMP)) return false;
  const built = statSync(STAMP).mtimeMs;
  return INPUTS.every((p) => !existsSync(join(ROOT, p)) || newestInput(join(ROOT, p)) <= built);
}

function holderAlive(): boolean {
  try {
    process.kill(Number(readFileSync(join(LOCK, 'pid'), 'utf8')), 0);
    return true;
  } catch (e) {
    // EPERM: the process exists under another user.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function withLock<T>(fn: () => T): Promise<T> {
  mkdirSync(join(LOCK, '..'), { recursive: true });
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      mkdirSync(LOCK);
      writeFileSync(join(LOCK, 'pid'), String(process.pid));
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      // A holder that died (or has not written its pid yet and is checked again next turn).
      if (existsSync(join(LOCK, 'pid')) && !holderAlive()) rmSync(LOCK, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error(`another build of ${ROOT} held ${LOCK} for ${LOCK_WAIT_MS / 1000} s`, { cause: e });
      await sleep(250);
    }
  }
  try {
    return fn();
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}

/** An incremental build leaves the output of a deleted or renamed source behind: remove it (`npm run build` starts clean). */
function removeOrphans(dir: string): void {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, e.name);
    if (e.isDirectory()) removeOrphans(path);
    else if (e.name.endsWith('.js')) {
      const source = join(ROOT, 'src', path.slice(DIST.length + 1, -'.js'.length));
      if (!existsSync(`${source}.ts`) && !existsSync(`${source}.tsx`)) rmSync(path);
    }
  }
}

/** Builds dist/ unless it is current; throws with tsc's output if the build emits nothing usable. */
export async function buildDist(): Promise<'current' | 'built'> {
  if (distIsCurrent()) return 'current';
  return withLock(() => {
    if (distIsCurrent()) return 'current' as const; // built by another run while this one waited
    const started = new Date();
    const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
    const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--noCheck'], { cwd: ROOT, encoding: 'utf8' });
    if (!existsSync(join(DIST, 'cli.js'))) {
      throw new Error(`tsc -p tsconfig.build.json (dist/ for the spawned CLI) failed (exit ${r.status}):\n${r.stdout}${r.stderr}`);
    }
    // tsc emits despite syntax errors; those fail `tsc --noEmit` (npm test) and the tests of that code.
    if (r.status !== 0) console.warn(`[build] tsc -p tsconfig.build.json exited ${r.status}:\n${r.stdout}${r.stderr}`);
    removeOrphans(DIST);
    // Inputs edited while tsc ran are newer than this and trigger the next build.
    if (existsSync(STAMP)) utimesSync(STAMP, started, started);
    return 'built' as const;
  });
}

export default async function setup(): Promise<void> {
  await buildDist();
}
