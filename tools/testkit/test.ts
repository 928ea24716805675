/**
 * `npm test`: the type check (`tsc --noEmit` over src, test and tools) and the cycle check (`npm run
 * check:cycles`) run beside vitest instead of before it. On two cores the test workers leave a share of
 * the machine idle while they wait on servers and child processes; the checks used to hold the start of
 * the tests for about 20 s. Their output is printed after the tests (a failure as soon as it happens, in
 * one line), and any of the three failing fails `npm test`. Arguments go to vitest (`npm test -- test/audit`).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '../..');
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';

interface Check {
  name: string;
  done: Promise<{ code: number; output: string }>;
}

/** A check run in the background with its output kept for the end. */
function background(name: string, command: string, args: string[]): Check {
  const child = spawn(command, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
  const done = new Promise<{ code: number; output: string }>((resolve) => {
    child.once('error', (e) => resolve({ code: 1, output: `${output}${e.message}\n` }));
    child.once('close', (code, signal) => {
      const result = { code: code ?? (signal ? 1 : 0), output };
      if (result.code !== 0) process.stderr.write(`\n!!! ${name} failed (exit ${result.code}); its output follows the tests\n\n`);
      resolve(result);
    });
  });
  return { name, done };
}

const checks = [
  background('type check (tsc --noEmit)', process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '--noEmit']),
  background('cycle check (npm run check:cycles)', NPM, ['run', '-s', 'check:cycles']),
];

const vitest = await new Promise<number>((resolve) => {
  const child = spawn(process.execPath, [join(ROOT, 'node_modules/vitest/vitest.mjs'), 'run', ...process.argv.slice(2)], { cwd: ROOT, stdio: 'inherit' });
  child.once('error', () => resolve(1));
  child.once('close', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
});

let failed = vitest !== 0;
for (const check of checks) {
  const { code, output } = await check.done;
  process.stdout.write(`\n--- ${check.name}: ${code === 0 ? 'OK' : `FAILED (exit ${code})`}\n${output.trimEnd() ? `${output.trimEnd()}\n` : ''}`);
  if (code !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
