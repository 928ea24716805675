/**
 * Runs the public SEP-990 check, `auth/cross-app-access-complete-flow` of @modelcontextprotocol/conformance,
 * against tools/conformance/client.ts (which runs on src/xaa). The CLI needs Node 22+ (fs.globSync), so it
 * runs under the `node@24` npm package; the client it spawns runs on whatever node is on PATH.
 * With `-o <dir>` the CLI writes <dir>/<scenario>-<timestamp>/checks.json: every check with its status.
 * INFO checks are the suite's request/response log; every other check must be SUCCESS.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SCENARIO = 'auth/cross-app-access-complete-flow';
const REQUIRED = [
  'prm-pathbased-requested',
  'authorization-server-metadata',
  'complete-flow-token-exchange',
  'token-request',
  'complete-flow-jwt-bearer',
  'valid-bearer-token',
];

interface Check {
  id: string;
  name: string;
  status: 'SUCCESS' | 'FAILURE' | 'WARNING' | 'INFO' | string;
  description: string;
  errorMessage?: string;
}

function run(outDir: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const args = [
    '-y',
    '-p',
    'node@24',
    'node',
    'node_modules/@modelcontextprotocol/conformance/dist/index.js',
    'client',
    '--command',
    'npm run -s conformance-client --',
    '--scenario',
    SCENARIO,
    '--timeout',
    '120000',
    '-o',
    outDir,
  ];
  return new Promise((resolve) => {
    execFile('npx', args, { cwd: ROOT, timeout: 170_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

function findChecks(dir: string): string | undefined {
  const hit = readdirSync(dir, { recursive: true, encoding: 'utf8' }).find((p) => p.endsWith('checks.json'));
  return hit === undefined ? undefined : join(dir, hit);
}

const outDir = mkdtempSync(join(tmpdir(), 'xaa-conformance-'));
afterAll(() => rmSync(outDir, { recursive: true, force: true }));

describe(`conformance: ${SCENARIO}`, () => {
  it('passes every check', { timeout: 180_000 }, async () => {
    const { code, stdout, stderr } = await run(outDir);
    const file = findChecks(outDir);
    if (!file) throw new Error(`the conformance CLI wrote no checks.json (exit ${code})\n${stdout}\n${stderr}`);
    const checks = JSON.parse(readFileSync(file, 'utf8')) as Check[];

    const judged = checks.filter((c) => c.status !== 'INFO');
    const bad = judged.filter((c) => c.status !== 'SUCCESS');
    if (bad.length > 0) {
      const clientErr = readFileSync(join(dirname(file), 'stderr.txt'), 'utf8');
      console.error(
        `Failing checks:\n${bad.map((c) => `  [${c.status}] ${c.id}: ${c.description}${c.errorMessage ? ` (${c.errorMessage})` : ''}`).join('\n')}\n` +
          `client stderr:\n${clientErr}`,
      );
    }
    expect(bad.map((c) => `${c.id}: ${c.status}: ${c.description}`)).toEqual([]);
    for (const id of REQUIRED) {
      expect(judged.some((c) => c.id === id && c.status === 'SUCCESS'), `check ${id} is SUCCESS`).toBe(true);
    }
    expect(code, `conformance CLI exit code\n${stderr}`).toBe(0);
  });
});
