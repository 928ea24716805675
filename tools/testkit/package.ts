import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { ROOT } from './env.js';

const run = promisify(execFile);
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';

export interface InstalledPackage {
  /** The `npm pack` tarball. */
  tarball: string;
  /** Paths in the tarball, sorted. */
  packed: string[];
  /** Where the tarball is installed: <install>/node_modules/xaa-gateway. */
  install: string;
  /** The installed `xaa-gateway` bin. */
  bin: string;
}

/**
 * The package as an operator gets it: `npm pack` of the repository into `work`, and the tarball
 * installed (without dev dependencies) into an empty project under `work`. dist/ is current (the
 * suite's globalSetup built it); --ignore-scripts keeps `prepare` from cleaning dist/ under other
 * test files that run the CLI meanwhile (publishing runs it; the file list is the same). Installing
 * reaches the npm registry, or npm's cache (--prefer-offline), for the dependencies.
 */
export async function packAndInstall(work: string): Promise<InstalledPackage> {
  const pack = await run(NPM, ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 });
  const [info] = JSON.parse(pack.stdout) as [{ filename: string; files: { path: string }[] }];
  const tarball = join(work, info.filename);
  const install = join(work, 'install');
  mkdirSync(install);
  writeFileSync(join(install, 'package.json'), JSON.stringify({ name: 'xaa-package-test', private: true }));
  await run(NPM, ['install', tarball, '--omit=dev', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd: install,
    maxBuffer: 16 * 1024 * 1024,
  });
  return { tarball, packed: info.files.map((f) => f.path).sort(), install, bin: join(install, 'node_modules/.bin/xaa-gateway') };
}

/**
 * The package packed and installed once per test run, shared by the test files that need it (the package
 * suite, the browser sign-in): read it, never write under it. The first caller builds it under the run's
 * directory (XAA_TEST_RUN_DIR, made by globalSetup) while holding a lock directory; the others wait for
 * its result, a file naming the package or the error that stopped it.
 */
export async function sharedPackage(): Promise<InstalledPackage> {
  const runDir = process.env.XAA_TEST_RUN_DIR;
  if (!runDir) throw new Error('XAA_TEST_RUN_DIR is not set: run the tests through vitest (tools/testkit/run-dir.ts is a globalSetup)');
  const work = join(runDir, 'package');
  const result = join(runDir, 'package.json');
  try {
    mkdirSync(work);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    return waitForResult(result);
  }
  let outcome: { ok: InstalledPackage } | { error: string };
  try {
    outcome = { ok: await packAndInstall(work) };
  } catch (e) {
    outcome = { error: (e as Error).message };
  }
  writeFileSync(`${result}.tmp`, JSON.stringify(outcome));
  renameSync(`${result}.tmp`, result);
  if ('error' in outcome) throw new Error(outcome.error);
  return outcome.ok;
}

async function waitForResult(result: string): Promise<InstalledPackage> {
  // No deadline of its own: the builder's npm runs under vitest's hook timeout, a hang guard.
  while (!existsSync(result)) await sleep(250);
  const outcome = JSON.parse(readFileSync(result, 'utf8')) as { ok: InstalledPackage } | { error: string };
  if ('error' in outcome) throw new Error(`packing the shared package failed in another test file: ${outcome.error}`);
  return outcome.ok;
}
