import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

/**
 * Runs the pinned @modelcontextprotocol/conformance CLI (node_modules, 0.2.0-alpha.12) and reads
 * the checks.json it writes with `-o <dir>` (<dir>/[server-]<scenario>-<timestamp>/checks.json).
 * The CLI needs Node 22+ (fs.globSync), so it runs on the binary of the `node@24` npm package; whatever
 * it spawns (the client under test) runs on the node on PATH.
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

let node24: Promise<string> | undefined;

/** The Node 24 binary of the `node@24` npm package, resolved by npx once per process (npx costs ~2 s a run). */
function nodeForSuite(): Promise<string> {
  node24 ??= new Promise<string>((done, fail) => {
    execFile('npx', ['-y', '-p', 'node@24', 'node', '-p', 'process.execPath'], { cwd: ROOT, timeout: 120_000 }, (err, out) =>
      err ? fail(err) : done(out.trim()),
    );
  });
  return node24;
}

/**
 * Node's on-disk compile cache for the CLI's 860 KB bundle, shared by every run of one test process:
 * a run starts in about two thirds of the CPU time once the first has filled it.
 */
const COMPILE_CACHE = join(tmpdir(), `xaa-conformance-compile-cache-${CONFORMANCE_VERSION}`);

function cli(args: string[], timeoutMs: number): Promise<{ code: number; stdout: string; stderr: string }> {
  return nodeForSuite().then(
    (node) =>
      new Promise((done) => {
        const env = { ...process.env, NODE_COMPILE_CACHE: COMPILE_CACHE };
        execFile(node, [CLI, ...args], { cwd: ROOT, env, timeout: timeoutMs, maxBuffer: 32 * 1024 * 1024 }, (err, stdout, stderr) =>
          done({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
        );
      }),
  );
}

/** `conformance <args> -o <fresh dir>`; throws when the CLI wrote no checks.json. */
export async function runConformance(args: string[], opts: { timeoutMs: number }): Promise<ConformanceRun> {
  const outDir = mkdtempSync(join(tmpdir(), 'xaa-conformance-'));
  try {
    const { code, stdout, stderr } = await cli([...args, '-o', outDir], opts.timeoutMs);
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

/** A result directory of the CLI: `<kind>-<scenario>-<ISO time with ':' and '.' as '-'>`. */
const RESULT_DIR = /^server-(.+)-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z$/;

export interface ServerSuiteRun {
  code: number;
  stdout: string;
  stderr: string;
  /** The checks of every scenario the suite ran, by scenario name. */
  scenarios: Map<string, Check[]>;
}

/**
 * `conformance server --suite all --spec-version <revision>`: every server scenario of one revision,
 * one after another in one CLI process (one process instead of one per scenario: each costs about
 * 0.6 s of CPU to start). The suite keeps only the scenarios that apply at the revision.
 */
export async function runServerSuite(url: string, revision: string, opts: { timeoutMs: number; scenarioTimeoutMs: number }): Promise<ServerSuiteRun> {
  const outDir = mkdtempSync(join(tmpdir(), 'xaa-conformance-'));
  try {
    const { code, stdout, stderr } = await cli(
      ['server', '--url', url, '--suite', 'all', '--spec-version', revision, '--timeout', String(opts.scenarioTimeoutMs), '-o', outDir],
      opts.timeoutMs,
    );
    const scenarios = new Map<string, Check[]>();
    for (const dir of readdirSync(outDir)) {
      const name = RESULT_DIR.exec(dir)?.[1];
      if (name === undefined) continue;
      try {
        scenarios.set(name, JSON.parse(readFileSync(join(outDir, dir, 'checks.json'), 'utf8')) as Check[]);
      } catch {
        // A scenario cut short by the CLI's own timeout leaves its directory without checks.json: absent, and reported so.
      }
    }
    return { code, stdout, stderr, scenarios };
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

/** `conformance list --server`: every server scenario name with its revisions ("extension" for extensions). */
export async function listServerScenarios(): Promise<Map<string, string[]>> {
  const { code, stdout, stderr } = await cli(['list', '--server'], 120_000);
  if (code !== 0) throw new Error(`conformance list failed (exit ${code}): ${stderr}`);
  const out = new Map<string, string[]>();
  for (const m of stdout.matchAll(/^ {2}- (\S+)(?: \[([^\]]*)\])?$/gm)) out.set(m[1]!, m[2] ? m[2].split(',') : []);
  return out;
}
