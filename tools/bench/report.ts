/**
 * The bench's result: one JSON-able object (written to a file as is), the Done-when checks of issue
 * 8 computed from it, and its Markdown tables.
 */
import type { Floor } from './floor.js';
import type { Era } from './http.js';
import type { Summary } from './stats.js';

export type Transport = 'http' | 'stdio';
/** gateway-pg: serve writing its audit to PostgreSQL (PostgreSQL mode only); gateway: serve with the file sink. */
export type PathName = 'gateway' | 'gateway-pg' | 'plain' | 'direct';

/** How the calls table names a path (the JSON keeps the PathName). */
const PATH_LABEL: Record<PathName, string> = { gateway: 'gateway', 'gateway-pg': 'gateway (PostgreSQL audit)', plain: 'plain', direct: 'direct' };

export interface CellResult {
  id: string;
  transport: Transport;
  /** HTTP MCP protocol revision; the stdio clients speak 2025-11-25; the direct GET has none. */
  era?: Era;
  path: PathName;
  clients: number;
  /** Calls per round. */
  calls: number;
  summary: Summary;
}

export interface MemoryRow {
  server: string;
  processes: number;
  /** Peak of the start (for serve, on a fresh store), KiB: VmHWM at "ready", or the sampled RSS of the process and its children if higher. */
  startPeakKiB?: number;
  /** VmRSS after start and warm-up, once idle (mean over processes), KiB. */
  idleRssKiB: number;
  /** VmRSS after the last round (mean over processes), KiB. */
  afterRssKiB: number;
  /** VmHWM after the last round (max over processes), KiB. */
  afterHwmKiB: number;
  /** RSS growth per extra open 2025 session (VmRSS delta over `sessions` sessions ÷ sessions), KiB. */
  perSessionKiB?: number;
  sessions?: number;
}

export interface Check {
  check: string;
  path: string;
  measured: string;
  limit: string;
  /** null: not applicable in this run (e.g. the PostgreSQL-mode check in PGlite mode). */
  pass: boolean | null;
  note?: string;
}

export interface BenchResult {
  version: 1;
  startedAt: string;
  durationSeconds: number;
  commit: { head: string; uncommittedSrc: number; uncommittedBench: number };
  node: string;
  machine: { cpus: number; memGiB: number; loadAvgStart: number[]; loadAvgEnd: number[]; clockTicks: number };
  quick: boolean;
  rounds: number;
  callsPerCell: Record<string, number>;
  store: { mode: 'pglite' | 'postgres'; where: string };
  audit: Array<{ gateway: string; sink: string; dir: string; filesystem: string }>;
  /** The flush floor (floor.ts): one record made durable with nothing else around it, per sink. */
  floor: { file?: Floor; postgres?: Floor };
  plannedCells: string[];
  cells: CellResult[];
  memory: MemoryRow[];
  notMeasured: string[];
  /** Failures (other than 503) while warming up, per path. */
  warmUpErrors: string[];
  checks: Check[];
}

export const cellId = (transport: Transport, path: PathName, clients: number, era?: Era) => `${transport}${era ? ` ${era}` : ''} ${path} c=${clients}`;

/** A ratio as a percentage, to one decimal: 79.6% must not print as a passing-looking 80%. */
const pct = (ratio: number) => `${(ratio * 100).toFixed(1)}%`;
const ms = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : 'n/a');
const mib = (kib: number | undefined) => (kib === undefined || !Number.isFinite(kib) ? '–' : (kib / 1024).toFixed(0));

/**
 * The two gateway-vs-plain comparisons, each with its limit: p50 added (the gateway's p50 − the plain
 * server's, ms) and throughput (the gateway's successful calls/s ÷ the plain server's).
 */
const compare = {
  p50Added: (limitMs: number) => ({
    limit: `≤ ${limitMs} ms`,
    judge(g: Summary, b: Summary): Pick<Check, 'measured' | 'pass'> {
      const added = g.p50 - b.p50;
      return { measured: `+${ms(added)} ms (${ms(g.p50)} vs ${ms(b.p50)})`, pass: added <= limitMs };
    },
  }),
  callsRatio: (minRatio: number) => ({
    limit: `≥ ${Math.round(minRatio * 100)}%`,
    judge(g: Summary, b: Summary): Pick<Check, 'measured' | 'pass'> {
      const ratio = g.rps / b.rps;
      return { measured: `${pct(ratio)} (${g.rps.toFixed(0)} vs ${b.rps.toFixed(0)})`, pass: ratio >= minRatio };
    },
  }),
};
type Comparison = ReturnType<(typeof compare)[keyof typeof compare]>;

function compareCheck(check: string, path: string, c: Comparison, g: Summary, b: Summary, floor?: Floor): Check {
  const judged = c.judge(g, b);
  // What the disk alone takes of the p50 added: the decision record's flush, before the call goes out.
  const measured = floor ? `${judged.measured}; the flush alone: ${ms(floor.p50)} ms` : judged.measured;
  return { check, path, limit: c.limit, ...judged, measured };
}

export function computeChecks(r: Pick<BenchResult, 'cells' | 'memory' | 'store' | 'floor'>, stdioClients: number[]): Check[] {
  const cell = (id: string) => r.cells.find((c) => c.id === id)?.summary;
  const checks: Check[] = [];
  const pairs: Array<{ label: string; gw: (c: number) => string; plain: (c: number) => string; clients: number[] }> = [
    ...(['2026-07-28', '2025-11-25'] as const).map((era) => ({
      label: `HTTP ${era}`,
      gw: (c: number) => cellId('http', 'gateway', c, era),
      plain: (c: number) => cellId('http', 'plain', c, era),
      clients: [1, 10, 50],
    })),
    { label: 'stdio', gw: (c: number) => cellId('stdio', 'gateway', c), plain: (c: number) => cellId('stdio', 'plain', c), clients: stdioClients },
  ];

  for (const p of pairs) {
    const g = cell(p.gw(1));
    const b = cell(p.plain(1));
    if (g && b) checks.push(compareCheck('p50 added at 1 client', p.label, compare.p50Added(0.5), g, b, r.floor.file));
  }
  for (const p of pairs) {
    // stdio runs at 1 and 10 clients in QUICK mode (or as BENCH_STDIO_CLIENTS says): its row then reads at its largest count and says so.
    const at = p.clients.includes(50) ? 50 : Math.max(...p.clients);
    const g = cell(p.gw(at));
    const b = cell(p.plain(at));
    const path = at === 50 ? p.label : `${p.label} at ${at} client${at === 1 ? '' : 's'} (50 not measured)`;
    if (g && b) checks.push(compareCheck('calls/s at 50 clients vs plain', path, compare.callsRatio(0.8), g, b));
  }
  for (const p of pairs) {
    const ratios = p.clients
      .map((c) => ({ c, g: cell(p.gw(c))?.cpuUsPerCall, b: cell(p.plain(c))?.cpuUsPerCall }))
      .filter((x): x is { c: number; g: number; b: number } => x.g !== undefined && x.b !== undefined && x.b > 0)
      .map((x) => ({ ...x, ratio: x.g / x.b }));
    if (!ratios.length) continue;
    const worst = ratios.reduce((a, b) => (b.ratio > a.ratio ? b : a));
    checks.push({
      check: 'server CPU per call vs plain (worst of 1/10/50 clients)',
      path: p.label,
      measured: `x${worst.ratio.toFixed(2)} at ${worst.c} (${worst.g.toFixed(0)} vs ${worst.b.toFixed(0)} µs); ${ratios.map((x) => `${x.c}: x${x.ratio.toFixed(2)}`).join(', ')}`,
      limit: '≤ x1.3',
      pass: worst.ratio <= 1.3,
    });
  }
  for (const era of ['2026-07-28', '2025-11-25'] as const) {
    const over = cell(cellId('http', 'gateway', 200, era));
    if (!over) continue;
    const peaks = [1, 10, 50].map((c) => ({ c, rps: cell(cellId('http', 'gateway', c, era))?.rps ?? 0 }));
    const peak = peaks.reduce((a, b) => (b.rps > a.rps ? b : a));
    const ratio = over.rps / peak.rps;
    checks.push({
      check: "200 clients: calls/s vs the gateway's peak",
      path: `HTTP ${era}`,
      measured: `${pct(ratio)} (${over.rps.toFixed(0)} vs ${peak.rps.toFixed(0)} at ${peak.c})`,
      limit: '≥ 90%',
      pass: ratio >= 0.9,
    });
    checks.push({
      check: '200 clients: p99 of successful calls',
      path: `HTTP ${era}`,
      measured: `${ms(over.p99)} ms`,
      limit: '< 1000 ms',
      pass: over.p99 < 1000,
    });
    const allWithRetryAfter = over.refused === over.refusedWithRetryAfter;
    // With no refusal, the excess was queued, not refused: that passes only if the queue stayed short (p99 < 1 s).
    const excessHandled = over.refused > 0 || over.p99 < 1000;
    checks.push({
      check: '200 clients: excess answered 503 + Retry-After',
      path: `HTTP ${era}`,
      measured: `${over.refused} × 503 (${over.refusedWithRetryAfter} with Retry-After), ${over.otherErrors} other errors`,
      limit: 'every 503 with Retry-After, no other error, no long queue',
      pass: allWithRetryAfter && over.otherErrors === 0 && excessHandled,
    });
  }
  // The PostgreSQL audit sink (gateway-pg, a second serve in PostgreSQL mode) against the same plain servers.
  const pgMode = r.store.mode === 'postgres';
  const pgSink = [
    { check: 'PostgreSQL audit sink: p50 added at 1 client vs plain', clients: 1, compare: compare.p50Added(1) },
    { check: 'PostgreSQL audit sink: calls/s at 50 clients vs plain', clients: 50, compare: compare.callsRatio(0.8) },
  ];
  for (const k of pgSink) {
    for (const era of ['2026-07-28', '2025-11-25'] as const) {
      const path = `HTTP ${era}`;
      const g = cell(cellId('http', 'gateway-pg', k.clients, era));
      const b = cell(cellId('http', 'plain', k.clients, era));
      if (pgMode && g && b) checks.push(compareCheck(k.check, path, k.compare, g, b, k.clients === 1 ? r.floor.postgres : undefined));
      else {
        const note = pgMode
          ? 'n/a: no PostgreSQL-sink cells in this run'
          : 'n/a: this run used the embedded PGlite store (BENCH_STORE=postgres for this check)';
        checks.push({ check: k.check, path, measured: '–', limit: k.compare.limit, pass: null, note });
      }
    }
  }
  const mem = (server: string) => r.memory.find((m) => m.server === server);
  const serve = mem('xaa-gateway serve');
  for (const era of ['2026-07-28', '2025-11-25'] as const) {
    const plain = mem(`plain SDK ${era}`);
    if (!serve || !plain) continue;
    const ratio = serve.idleRssKiB / plain.idleRssKiB;
    const applies = r.store.mode === 'postgres';
    checks.push({
      check: 'idle RSS vs plain (PostgreSQL mode)',
      path: `serve vs plain ${era}`,
      measured: `x${ratio.toFixed(2)} (${mib(serve.idleRssKiB)} vs ${mib(plain.idleRssKiB)} MiB)`,
      limit: '≤ x2',
      pass: applies ? ratio <= 2 : null,
      ...(applies ? {} : { note: 'n/a: this run used the embedded PGlite store (BENCH_STORE=postgres for this check)' }),
    });
  }
  return checks;
}

function floorText(f: Floor): string {
  return `p50 ${ms(f.p50)} ms, p99 ${ms(f.p99)} ms (${f.n} samples)`;
}

function table(head: string[], rows: string[][]): string {
  return [
    `| ${head.join(' | ')} |`,
    `|${head.map((h) => (/^(path|transport|protocol|server|check|limit|verdict|measured)$/.test(h) ? '---' : '--:')).join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}

export function renderMarkdown(r: BenchResult): string {
  const out: string[] = [];
  const load = (l: number[]) => l.map((x) => x.toFixed(1)).join(' ');
  out.push(`## xaa-gateway bench${r.quick ? ' (QUICK: shape only, figures meaningless)' : ''}`);
  out.push('');
  const dirty = [
    ...(r.commit.uncommittedSrc ? [`${r.commit.uncommittedSrc} uncommitted file(s) under src/ (dist/ is built from the working tree)`] : []),
    ...(r.commit.uncommittedBench ? [`${r.commit.uncommittedBench} under tools/bench/`] : []),
  ];
  out.push(`- commit ${r.commit.head}${dirty.length ? ` + ${dirty.join(', ')}` : ''}; Node ${r.node}`);
  out.push(
    `- ${r.machine.cpus} CPUs, ${r.machine.memGiB} GiB; load average (1/5/15 min) ${load(r.machine.loadAvgStart)} at start, ${load(r.machine.loadAvgEnd)} at end; ${r.durationSeconds.toFixed(0)} s`,
  );
  out.push(`- store: ${r.store.mode === 'postgres' ? `PostgreSQL, scratch database ${r.store.where}` : `embedded PGlite (${r.store.where})`}`);
  for (const a of r.audit) out.push(`- audit (${a.gateway}): ${a.sink}, ${a.dir} on ${a.filesystem}`);
  const floors = [
    ...(r.floor.file ? [`a 1 KiB append and its fdatasync in the run's directory ${floorText(r.floor.file)}`] : []),
    ...(r.floor.postgres ? [`a 1 KiB row committed in PostgreSQL (synchronous_commit on) ${floorText(r.floor.postgres)}`] : []),
  ];
  if (floors.length) out.push(`- flush floor, one every 3 ms with nothing else around it (tools/bench/floor.ts): ${floors.join('; ')}`);
  out.push(
    `- ${r.rounds} interleaved round(s); calls per cell and round: ${Object.entries(r.callsPerCell)
      .map(([c, n]) => `${n} at ${c} client${c === '1' ? '' : 's'}`)
      .join(', ')}`,
  );
  out.push('');
  out.push('### Calls');
  out.push('');
  out.push(
    table(
      [
        'transport',
        'protocol',
        'path',
        'clients',
        'calls ok',
        'p50 ms',
        'p99 ms',
        'calls/s',
        '503 (with Retry-After)',
        'other errors',
        'server CPU µs/call',
        'bench CPU %',
      ],
      r.cells.map((c) => [
        c.transport,
        c.era ?? (c.transport === 'stdio' ? '2025-11-25' : '–'),
        PATH_LABEL[c.path] ?? c.path,
        String(c.clients),
        String(c.summary.ok),
        ms(c.summary.p50),
        ms(c.summary.p99),
        c.summary.rps.toFixed(0),
        c.summary.refused ? `${c.summary.refused} (${c.summary.refusedWithRetryAfter})` : '0',
        String(c.summary.otherErrors),
        c.summary.cpuUsPerCall === undefined ? '–' : c.summary.cpuUsPerCall.toFixed(0),
        c.summary.benchCpuPct.toFixed(0),
      ]),
    ),
  );
  const errs = r.cells.filter((c) => c.summary.firstOtherError);
  if (errs.length) {
    out.push('');
    for (const c of errs) out.push(`- errors in ${c.id}: ${c.summary.otherErrors}, first: ${c.summary.firstOtherError}`);
  }
  out.push('');
  out.push('### Memory (MiB; per session KiB)');
  out.push('');
  out.push(
    table(
      ['server', 'processes', 'peak at start', 'idle RSS', 'RSS after run', 'peak after run', 'per 2025 session'],
      r.memory.map((m) => [
        m.server,
        String(m.processes),
        mib(m.startPeakKiB),
        mib(m.idleRssKiB),
        mib(m.afterRssKiB),
        mib(m.afterHwmKiB),
        m.perSessionKiB === undefined ? '–' : `${m.perSessionKiB.toFixed(0)} (${m.sessions} sessions)`,
      ]),
    ),
  );
  out.push('');
  out.push('### Done-when checks (issue 8)');
  out.push('');
  out.push(
    table(
      ['check', 'path', 'measured', 'limit', 'verdict'],
      r.checks.map((c) => [c.check, c.path, c.measured, c.limit, c.pass === null ? (c.note ?? 'n/a') : c.pass ? 'PASS' : 'FAIL']),
    ),
  );
  if (r.notMeasured.length || r.warmUpErrors.length) {
    out.push('');
    for (const n of r.notMeasured) out.push(`- not measured: ${n}`);
    for (const n of r.warmUpErrors) out.push(`- warm-up errors: ${n}`);
  }
  return out.join('\n') + '\n';
}
