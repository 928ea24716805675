import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../../tools/testkit/env.js';
import type { BenchResult } from '../../tools/bench/report.js';

/**
 * `npm run bench` in QUICK mode (every cell, few calls): the shape of what it reports, never its
 * figures. Every planned cell is measured, every call either succeeded or was refused with a 503
 * (counted), the numbers are finite, the Markdown tables and the JSON dump agree on what they hold.
 */

const ERAS = ['2026-07-28', '2025-11-25'];
const EXPECTED_CELLS = [
  ...ERAS.flatMap((era) => [1, 10, 50, 200].flatMap((c) => [`http ${era} gateway c=${c}`, `http ${era} plain c=${c}`])),
  ...[1, 10, 50].map((c) => `http direct c=${c}`),
  // One stdio client (BENCH_STDIO_CLIENTS=1 below): each more is two Node processes to start (about 1 s of CPU),
  // and the cells of 10 are the same code with more of them.
  ...[1].flatMap((c) => [`stdio gateway c=${c}`, `stdio plain c=${c}`]),
];
const EXPECTED_MEMORY = ['xaa-gateway serve', 'plain SDK 2026-07-28', 'plain SDK 2025-11-25', 'xaa-gateway stdio', 'plain SDK stdio'];
const EXPECTED_CHECKS: Array<[string, string]> = [
  ['p50 added at 1 client', 'HTTP 2026-07-28'],
  ['p50 added at 1 client', 'HTTP 2025-11-25'],
  ['p50 added at 1 client', 'stdio'],
  ['calls/s at 50 clients vs plain', 'HTTP 2026-07-28'],
  ['calls/s at 50 clients vs plain', 'HTTP 2025-11-25'],
  ['calls/s at 50 clients vs plain', 'stdio at 1 client (50 not measured)'],
  ['server CPU per call vs plain (worst of 1/10/50 clients)', 'HTTP 2026-07-28'],
  ['server CPU per call vs plain (worst of 1/10/50 clients)', 'HTTP 2025-11-25'],
  ['server CPU per call vs plain (worst of 1/10/50 clients)', 'stdio'],
  ...ERAS.flatMap((era): Array<[string, string]> => [
    ["200 clients: calls/s vs the gateway's peak", `HTTP ${era}`],
    ['200 clients: p99 of successful calls', `HTTP ${era}`],
    ['200 clients: excess answered 503 + Retry-After', `HTTP ${era}`],
  ]),
  // Issue 9: serve with the PostgreSQL audit sink (measured only with BENCH_STORE=postgres).
  ...ERAS.map((era): [string, string] => ['PostgreSQL audit sink: p50 added at 1 client vs plain', `HTTP ${era}`]),
  ...ERAS.map((era): [string, string] => ['PostgreSQL audit sink: calls/s at 50 clients vs plain', `HTTP ${era}`]),
  ['idle RSS vs plain (PostgreSQL mode)', 'serve vs plain 2026-07-28'],
  ['idle RSS vs plain (PostgreSQL mode)', 'serve vs plain 2025-11-25'],
];

describe('npm run bench (BENCH_QUICK=1)', () => {
  let dir: string;
  let bench: ChildProcess | undefined;
  let exitCode: number | null;
  let stdout = '';
  let stderr = '';
  let result: BenchResult;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'xaa-bench-test-'));
    // Its own process group: if this test is cut short, afterAll ends the bench and every server it started.
    bench = spawn(process.execPath, ['--import', 'tsx', 'tools/bench/index.ts'], {
      cwd: ROOT,
      env: {
        ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('BENCH_'))),
        BENCH_QUICK: '1',
        BENCH_STDIO_CLIENTS: '1',
        BENCH_JSON: join(dir, 'bench.json'),
        // Outside the repository: the run's copies still resolve their imports (its link to node_modules).
        BENCH_DIR: join(dir, 'runs'),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    bench.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    bench.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    exitCode = await new Promise<number | null>((resolve) => bench!.on('exit', (code) => resolve(code)));
    bench = undefined;
    if (exitCode === 0) result = JSON.parse(readFileSync(join(dir, 'bench.json'), 'utf8')) as BenchResult;
  }, 600_000);

  afterAll(() => {
    if (bench?.pid && bench.exitCode === null) process.kill(-bench.pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('exits 0 and says where the JSON is', () => {
    expect(exitCode, stderr.slice(-4000)).toBe(0);
    expect(stdout).toContain(`All numbers: ${join(dir, 'bench.json')}`);
  });

  it('measures every planned cell, each call answered or refused with a counted 503', () => {
    expect(result.quick).toBe(true);
    expect([...result.plannedCells].sort()).toEqual([...EXPECTED_CELLS].sort());
    expect(result.cells.map((c) => c.id).sort()).toEqual([...EXPECTED_CELLS].sort());
    expect(result.warmUpErrors).toEqual([]);
    for (const c of result.cells) {
      const s = c.summary;
      expect({ id: c.id, otherErrors: s.otherErrors, firstOtherError: s.firstOtherError }).toEqual({ id: c.id, otherErrors: 0, firstOtherError: undefined });
      expect(s.ok + s.refused, c.id).toBe(c.calls * result.rounds);
      // Refusals belong to the gateway's overload protection, always a 503 with Retry-After. Below 200
      // clients they are rare, but on a machine busy with other work (a CI test run beside this one) the
      // admission limit may fall and refuse a few: not asserted as zero (no wall-clock assertions).
      expect(s.refusedWithRetryAfter, c.id).toBe(s.refused);
      if (c.path !== 'gateway' && c.path !== 'gateway-pg') expect(s.refused, c.id).toBe(0);
      expect(s.ok, c.id).toBeGreaterThan(0);
      for (const n of [s.p50, s.p99, s.rps, s.benchCpuPct]) expect(Number.isFinite(n), `${c.id}: ${JSON.stringify(s)}`).toBe(true);
      expect(s.p99, c.id).toBeGreaterThanOrEqual(s.p50);
      if (c.path === 'direct') expect(s.cpuUsPerCall, c.id).toBeUndefined();
      else expect(Number.isFinite(s.cpuUsPerCall), `${c.id}: server CPU`).toBe(true);
    }
  });

  it('reports the memory of every server, per-session memory of both 2025 servers, and the audit sink', () => {
    expect(result.memory.map((m) => m.server)).toEqual(EXPECTED_MEMORY);
    for (const m of result.memory) {
      for (const n of [m.idleRssKiB, m.afterRssKiB, m.afterHwmKiB]) expect(Number.isFinite(n) && n > 0, `${m.server}: ${JSON.stringify(m)}`).toBe(true);
    }
    const perSession = result.memory.filter((m) => m.perSessionKiB !== undefined).map((m) => [m.server, m.sessions, Number.isFinite(m.perSessionKiB)]);
    expect(perSession).toEqual([
      ['xaa-gateway serve', 16, true],
      ['plain SDK 2025-11-25', 16, true],
    ]);
    expect(result.store.mode).toBe('pglite');
    expect(result.audit.map((a) => a.gateway)).toEqual(['serve', 'stdio']);
    for (const a of result.audit) expect(a.filesystem).toMatch(/\S/);
  });

  it('render.ts prints the checks of a dump again, also of one from before the flush floor', () => {
    const render = (json: string) => spawnSync(process.execPath, ['--import', 'tsx', 'tools/bench/render.ts', json], { cwd: ROOT, encoding: 'utf8' });
    const now = render(join(dir, 'bench.json'));
    expect(now.status, now.stderr).toBe(0);
    for (const c of result.checks) expect(now.stdout).toContain(`| ${c.check} | ${c.path} | ${c.measured} |`);
    const { floor: _, ...older } = result;
    writeFileSync(join(dir, 'older.json'), JSON.stringify(older));
    const before = render(join(dir, 'older.json'));
    expect(before.status, before.stderr).toBe(0);
    expect(before.stdout).toContain('### Done-when checks');
    expect(before.stdout).not.toContain('flush');
  });

  it('measures the flush floor in every round (an embedded-store run: the file sink only) and shows it beside each p50 check', () => {
    const floor = result.floor.file!;
    expect(floor.n).toBe(10 * result.rounds);
    expect(floor.p50).toBeGreaterThan(0);
    expect(floor.p99).toBeGreaterThanOrEqual(floor.p50);
    expect(result.floor.postgres).toBeUndefined();
    expect(stdout).toContain(
      `a 1 KiB append and its fdatasync in the run's directory p50 ${floor.p50.toFixed(2)} ms, p99 ${floor.p99.toFixed(2)} ms (${floor.n} samples)`,
    );
    const p50Rows = result.checks.filter((c) => c.check === 'p50 added at 1 client');
    expect(p50Rows.map((c) => c.path)).toEqual(['HTTP 2026-07-28', 'HTTP 2025-11-25', 'stdio']);
    for (const c of p50Rows) expect(c.measured).toMatch(new RegExp(`; the flush alone: ${floor.p50.toFixed(2)} ms$`));
  });

  it('prints the Done-when checks as a table, in the JSON with the same verdicts', () => {
    expect(result.checks.map((c) => [c.check, c.path])).toEqual(EXPECTED_CHECKS);
    for (const c of result.checks) {
      // The PostgreSQL-mode checks do not apply to an embedded-store run; every other one has a verdict.
      expect(c.pass, `${c.check} ${c.path}`).toEqual(
        c.check.includes('PostgreSQL mode') || c.check.startsWith('PostgreSQL audit sink') ? null : expect.any(Boolean),
      );
      const verdict = c.pass === null ? c.note! : c.pass ? 'PASS' : 'FAIL';
      expect(stdout).toContain(`| ${c.check} | ${c.path} | ${c.measured} | ${c.limit} | ${verdict} |`);
    }
    for (const heading of ['### Calls', '### Memory', '### Done-when checks']) expect(stdout).toContain(heading);
    for (const c of result.cells) {
      const era = c.era ?? (c.transport === 'stdio' ? '2025-11-25' : '–');
      expect(stdout).toContain(
        `| ${c.transport} | ${era} | ${c.path} | ${c.clients} | ${c.summary.ok} | ${c.summary.p50.toFixed(2)} | ${c.summary.p99.toFixed(2)} |`,
      );
    }
  });
});
