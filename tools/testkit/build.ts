import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DIST, emitDist, STAMP } from '../build/emit.js';

/**
 * vitest globalSetup: tests that spawn `bin/xaa-gateway.js` run dist/, the JavaScript the package ships
 * (no TypeScript loader at run time), so dist/ is rebuilt from src/ before the run whenever a source
 * is newer than the last build. The build is tools/build/emit.ts (esbuild, each module on its own, well
 * under a second; `npm test` type-checks src, test and tools with `tsc --noEmit` beside the tests); an
 * unchanged tree costs a few stat calls.
 */

const ROOT = join(import.meta.dirname, '../..');
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

async function withLock<T>(fn: () => Promise<T>): Promise<T> {
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
    return await fn();
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}

/** A build in place leaves the output of a deleted or renamed source behind: remove it (`npm run build` starts clean). */
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

/** Builds dist/ unless it is current; throws naming the file and line when a module does not compile. */
export async function buildDist(): Promise<'current' | 'built'> {
  if (distIsCurrent()) return 'current';
  return withLock(async () => {
    if (distIsCurrent()) return 'current' as const; // built by another run while this one waited
    try {
      // In place: a test run beside this one may be starting the CLI from dist/ right now.
      await emitDist({ clean: false });
    } catch (e) {
      throw new Error(`emitting dist/ for the spawned CLI failed (tools/build/emit.ts):\n${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
    removeOrphans(DIST);
    return 'built' as const;
  });
}

export default async function setup(): Promise<void> {
  await buildDist();
}
