import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

/**
 * Runs the pinned @modelcontextprotocol/conformance CLI (node_modules, 0.2.0-alpha.12) and reads
 * the checks.json it writes with `-o <dir>` (<dir>/[server-]<scenario>-<timestamp>/checks.json).
 * The CLI needs Node 22+ (fs.globSync), so it runs under the `node@24` npm package; whatever it
 * spawns (the client under test) runs on the node on PATH.
 */

export const ROOT = resolve(import.meta.dirname, '../..');
export const CONFORMANCE_VERSION = '0.2.0-alpha.12';
const CLI = 'node_modules/@modelcontextprotocol/conformance/dist/index.js';

export type CheckStatus = 'SUCCESS' | 'FAILURE' | 'WARNING' | 'INFO' | 'SKIPPED';

export interface Check {
  id: string;
  name: string;
  status: CheckStatus;
  description: string;
  errorMessage?: string;
}

export interface ConformanceRun {
  code: number;
  stdout: string;
  stderr: string;
  checks: Check[];
}

/** `conformance <args> -o <fresh dir>`; throws when the CLI wrote no checks.json. */
export async function runConformance(args: string[], opts: { timeoutMs: number }): Promise<ConformanceRun> {
  const outDir = mkdtempSync(join(tmpdir(), 'xaa-conformance-'));
  try {
    const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((done) => {
      execFile(
        'npx',
        ['-y', '-p', 'node@24', 'node', CLI, ...args, '-o', outDir],
        { cwd: ROOT, timeout: opts.timeoutMs, maxBuffer: 32 * 1024 * 1024 },
        (err, out, errOut) => done({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout: out, stderr: errOut }),
      );
    });
    const hit = readdirSync(outDir, { recursive: true, encoding: 'utf8' }).find((p) => p.endsWith('checks.json'));
    if (hit === undefined) throw new Error(`the conformance CLI wrote no checks.json (exit ${code})\n${stdout}\n${stderr}`);
    const file = join(outDir, hit);
    const checks = JSON.parse(readFileSync(file, 'utf8')) as Check[];
    // Client runs also write the client's own stderr next to checks.json.
    const resultDir = dirname(file);
    const extra = (name: string) => {
      try {
        return readFileSync(join(resultDir, name), 'utf8');
      } catch {
        return '';
      }
    };
    return { code, stdout, stderr: stderr + extra('stderr.txt'), checks };
  } finally {
    rmSync(outDir, { recursive: true, force: true });
  }
}

/** Checks that judge (INFO checks are the suite's request/response log). */
export function judged(checks: Check[]): Check[] {
  return checks.filter((c) => c.status !== 'INFO');
}

export function describeCheck(c: Check): string {
  return `[${c.status}] ${c.id}: ${c.description}${c.errorMessage ? ` (${c.errorMessage})` : ''}`;
}
