#!/usr/bin/env node
/**
 * `npm test`: the type check and ESLint over one TypeScript program of src, test and tools
 * (`npm run check:static`), the cycle check (`npm run check:cycles`) and vitest, side by side.
 * The two checks run at the lowest CPU priority (nice 19): they take the cycles vitest leaves idle
 * while its tests wait on servers and child processes, and never slow it (run at the same priority
 * beside it, they made a CI run slower than running them first). vitest's output streams as it
 * comes; each check's output is printed when it ends, under a header naming it.
 * The run fails if any of the three fails, and says which. Arguments go to vitest
 * (`npm test -- test/audit` runs those files, after the same checks).
 */
import { spawn } from 'node:child_process';
import { setPriority } from 'node:os';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
const node = process.execPath;

/** Runs a command, its output kept for the end (quiet) or passed through (vitest). */
function run(name, command, args, { quiet, idle = false }) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: quiet ? ['ignore', 'pipe', 'pipe'] : 'inherit' });
    if (idle && child.pid !== undefined) {
      try {
        // Set before the child starts processes of its own, which inherit it.
        setPriority(child.pid, 19);
      } catch {
        // Not permitted here: it runs at normal priority, slower but the same check.
      }
    }
    let output = '';
    if (quiet) {
      child.stdout.on('data', (d) => (output += d));
      child.stderr.on('data', (d) => (output += d));
    }
    child.on('error', (e) => resolve({ name, code: 1, output: `${output}${e.message}\n` }));
    child.on('close', (code, signal) => resolve({ name, code: code ?? (signal ? 1 : 0), output }));
  });
}

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const checks = [
  run('npm run check:static (type check and eslint)', npm, ['run', '-s', 'check:static'], { quiet: true, idle: true }),
  run('npm run check:cycles', npm, ['run', '-s', 'check:cycles'], { quiet: true, idle: true }),
];
// vitest's bin (its package exports do not name the file): next to its package.json.
const vitestBin = join(dirname(require.resolve('vitest/package.json')), 'vitest.mjs');
const tests = run('vitest run', node, [vitestBin, 'run', ...process.argv.slice(2)], { quiet: false });

const results = [...(await Promise.all(checks)), await tests];
for (const r of results.slice(0, 2)) {
  process.stdout.write(`\n--- ${r.name} (exit ${r.code})\n${r.output}`);
}
const failed = results.filter((r) => r.code !== 0).map((r) => r.name);
if (failed.length) {
  process.stdout.write(`\nnpm test failed: ${failed.join(', ')}\n`);
  process.exit(1);
}
