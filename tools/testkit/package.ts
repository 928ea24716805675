import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
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
