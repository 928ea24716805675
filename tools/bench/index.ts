/**
 * `npm run bench`: one `tools/call` (one authorized GET to the demo expenses SaaS) through the
 * gateway, beside a plain SDK server of the same protocol era doing the same GET and beside the
 * direct GET, in ONE run whose rounds interleave every cell so that each sees the same machine load:
 * - HTTP, 2026-07-28 and 2025-11-25: `xaa-gateway serve` vs the plain SDK server of the era, at 1,
 *   10 and 50 clients, and at 200 clients (overload: 503 refusals counted, not retried); in
 *   PostgreSQL mode also a second serve writing its audit to PostgreSQL, at 1 and 50 clients;
 * - the direct GET at 1, 10 and 50 clients;
 * - stdio: `xaa-gateway stdio` vs a plain SDK stdio server, one process per client.
 * Per cell: p50/p99 of successful calls, calls/s, errors (503 apart), the server's CPU per call
 * (/proc), and per server its RSS. Progress on stderr, Markdown tables on stdout, every number in a
 * JSON file (path printed). Knobs: options.ts and docs/bench.md.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { loadConfigFile } from '../../src/config/index.js';
import { defaultDeps } from '../../src/deps.js';
import { createXaaPort } from '../../src/xaa/index.js';
import { DEMO_SECRETS_DIR, demoConfig } from '../demo/index.js';
import { ROOT, startEnv } from '../testkit/env.js';
import { compileBaselines, snapshotGateway } from './compile.js';
import {
  connectClients,
  directClients,
  ERAS,
  killStrayServers,
  signIn,
  startBaseline,
  startGateway,
  TOOL,
  type Clients,
  type Era,
  type ServerChild,
} from './http.js';
import { HTTP_CLIENTS, OVERLOAD_CLIENTS, parseOptions, type BenchOptions } from './options.js';
import { fileFlushLatencies, floorOf, pgCommitLatencies } from './floor.js';
import { createScratchDatabase, durabilitySettings } from './postgres.js';
import { CLOCK_TICKS, cpuTicksOf, filesystemType, memory, serverNodeFlags, settle, type Memory } from './proc.js';
import { cellId, computeChecks, renderMarkdown, type BenchResult, type CellResult, type MemoryRow, type PathName, type Transport } from './report.js';
import { addSamples, run, summarize, type CallFn, type Sample } from './stats.js';
import { startStdioBaselines, startStdioGateways, type StdioProcesses } from './stdio.js';

const T0 = Date.now();
/** Progress on stderr, each line with the seconds since the start. */
const log = (s: string) => process.stderr.write(`[${((Date.now() - T0) / 1000).toFixed(1).padStart(5)} s] ${s}\n`);
const PATHS: readonly PathName[] = ['gateway', 'gateway-pg', 'plain', 'direct'];
const eraRank = (era: Era | undefined) => (era ? ERAS.indexOf(era) : ERAS.length);

/** Audit chain names (XAA_INSTANCE_ID) of the two serve instances, distinct as two live instances' must be. */
const INSTANCE_FILE = 'bench-file';
const INSTANCE_PG = 'bench-pg';
/** Client counts of the PostgreSQL-sink serve (its checks read 1 and 50). */
const PG_SINK_CLIENTS = [1, 50];

/**
 * 2025 sessions per gateway sign-in: the bench's serve config raises server.sessions.maxPerSignIn
 * (default 16) above it (http.ts), so one sign-in holds the 200 clients' sessions and no session of
 * the run is ended by the cap.
 */
const SESSIONS_PER_SIGN_IN = OVERLOAD_CLIENTS;

/** One measured path: its clients (client k is calls[k]) and the server process(es) whose CPU is read. */
interface Target {
  transport: Transport;
  era?: Era;
  path: PathName;
  calls: CallFn[];
  /** Server pid(s): one for HTTP; for stdio one per client, in client order. Empty for the direct GET. */
  pids: number[];
  /** stdio: processes serving several clients (the shared host), counted in every cell. */
  shared?: number[];
  clientCounts: number[];
}

/** Run directories of earlier runs whose process is gone (killed before its cleanup). */
function removeAbandonedRuns(base: string): void {
  for (const name of readdirSync(base)) {
    if (!name.startsWith('run-')) continue;
    const dir = join(base, name);
    try {
      process.kill(Number(readFileSync(join(dir, 'pid'), 'utf8')), 0);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // No pid file: a run that is just starting, unless it is old.
      const abandoned = code === 'ESRCH' || (code === 'ENOENT' && Date.now() - statSync(dir).mtimeMs > 3_600_000);
      if (abandoned) rmSync(dir, { recursive: true, force: true });
    }
  }
}

/** HEAD, and how many files differ from it under src/ (what dist/ is built from) and tools/bench/. */
function gitState(): BenchResult['commit'] {
  const git = (...args: string[]) => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' });
  const changed = (path: string) => git('status', '--porcelain', '--', path).split('\n').filter(Boolean).length;
  try {
    return { head: git('rev-parse', '--short', 'HEAD').trim(), uncommittedSrc: changed('src'), uncommittedBench: changed('tools/bench') };
  } catch {
    return { head: 'unknown', uncommittedSrc: 0, uncommittedBench: 0 };
  }
}

/**
 * Every client makes one call (10 clients at a time), then 5 calls per client of the first 50
 * (QUICK: 2 calls per client of the first 10). Returns the failures other than 503 refusals: they
 * are reported, not fatal (a path that fails under load is a finding, and the cells count it too).
 */
async function warmUp(t: Target, quick: boolean): Promise<{ count: number; first?: string }> {
  let count = 0;
  let first: string | undefined;
  const note = (s: Omit<Sample, 'serverTicks'>) => {
    count += s.failures.other;
    first ??= s.failures.firstOther;
  };
  if (quick) {
    note(await run(t.calls.slice(0, 10), 2 * Math.min(10, t.calls.length)));
  } else {
    for (let i = 0; i < t.calls.length; i += 10) note(await run(t.calls.slice(i, i + 10), Math.min(10, t.calls.length - i)));
    const some = t.calls.slice(0, 50);
    note(await run(some, 5 * some.length));
  }
  return { count, ...(first ? { first } : {}) };
}

async function measureCell(t: Target, clients: number, calls: number): Promise<Sample> {
  const pids = t.transport === 'stdio' ? [...t.pids.slice(0, clients), ...(t.shared ?? [])] : t.pids;
  const before = pids.length ? cpuTicksOf(pids) : 0;
  const s = await run(t.calls.slice(0, clients), calls);
  return { ...s, ...(pids.length ? { serverTicks: cpuTicksOf(pids) - before } : {}) };
}

function meanMemory(pids: readonly number[]): { rss: number; hwmMax: number } {
  const m = pids.map((p) => memory(p));
  return { rss: m.reduce((a, x) => a + x.rssKiB, 0) / m.length, hwmMax: Math.max(...m.map((x) => x.hwmKiB)) };
}

/** RSS growth per 2025 session: `open()` connects the extra clients; they are closed again after. */
async function perSessionKiB(pid: number, n: number, open: () => Promise<Clients>, settleMs: number): Promise<number> {
  await settle([pid], settleMs);
  const before = memory(pid).rssKiB;
  const extra = await open();
  try {
    await settle([pid], settleMs);
    return (memory(pid).rssKiB - before) / n;
  } finally {
    await extra.close();
  }
}

async function main(): Promise<void> {
  const opts: BenchOptions = parseOptions(process.env);
  const startedAt = new Date();
  const loadAvgStart = loadavg();
  const commit = gitState();
  log(`xaa-gateway bench${opts.quick ? ' (QUICK)' : ''}: commit ${commit.head}, load average ${loadAvgStart.map((x) => x.toFixed(1)).join(' ')}`);
  if (opts.profileDir) {
    mkdirSync(opts.profileDir, { recursive: true });
    serverNodeFlags.push('--cpu-prof', `--cpu-prof-dir=${resolve(opts.profileDir)}`);
    log(`CPU profiles of every server process go to ${resolve(opts.profileDir)} (written as each exits)`);
    if (opts.stdioClients.includes(50)) {
      // Seen: a run with stdio at 50 took 12 minutes instead of 3, its HTTP cells at a twentieth of their calls/s.
      log(
        "warning: 100 profiled stdio processes sample every 1 ms even while idle (V8's profiler thread) and take the CPU of every other cell; profile with BENCH_STDIO_CLIENTS=1,10",
      );
    }
  }
  const base = opts.dir ?? join(ROOT, 'node_modules/.cache/xaa-bench');
  mkdirSync(base, { recursive: true });
  // On disk (the repository's file system by default), never tmpfs: the audit is fsync'd, and that cost is part of every call.
  removeAbandonedRuns(base);
  const runDir = mkdtempSync(join(base, 'run-'));
  writeFileSync(join(runDir, 'pid'), String(process.pid));
  log('Building dist/ if a source changed, and copying it for this run...');
  const bin = await snapshotGateway(runDir);
  const script = compileBaselines(runDir);
  // Undone in this order at the end: clients (which ends the stdio processes), servers, then the demo enterprise and the database.
  const stages = { clients: [] as Array<() => Promise<unknown>>, servers: [] as Array<() => Promise<unknown>>, last: [] as Array<() => Promise<unknown>> };
  let cleaning: Promise<void> | undefined;
  const cleanup = () =>
    (cleaning ??= (async () => {
      log('Stopping clients and servers...');
      const undo = (f: () => Promise<unknown>) => f().catch((e: unknown) => log(`cleanup: ${e instanceof Error ? e.message : String(e)}`));
      await Promise.all(stages.clients.map(undo));
      log('Clients closed (stdio processes ended); stopping the HTTP servers...');
      await Promise.all(stages.servers.map(undo));
      killStrayServers(); // started, but not yet handed to a stage (an interrupt during start-up)
      for (const f of stages.last) await undo(f);
      rmSync(runDir, { recursive: true, force: true });
    })());
  // Ctrl-C: the servers and processes are stopped and the scratch database dropped before exiting.
  const interrupted = (signal: NodeJS.Signals) => {
    log(`${signal}: stopping...`);
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  const cells = new Map<string, { t: Target; clients: number; calls: number; sample?: Sample }>();
  const memoryRows: MemoryRow[] = [];
  const notMeasured: string[] = [];
  const warmUpErrors: string[] = [];
  const audit: BenchResult['audit'] = [];
  let storeWhere = join(runDir, 'serve', 'store');
  const flushes: { file: number[]; postgres: number[] } = { file: [], postgres: [] };

  try {
    const db = opts.store.kind === 'postgres' ? await createScratchDatabase(opts.store.adminUrl) : undefined;
    if (db) {
      stages.last.push(db.drop);
      storeWhere = db.label;
      log(`PostgreSQL mode: scratch database ${db.label} (dropped at the end).`);
    }

    log('Starting the demo enterprise (IdP and SaaS, in this process) and signing in as alice for stdio...');
    const env = await startEnv();
    stages.last.unshift(env.close);
    await env.signIn('alice', 'alice-demo-pass');

    // The direct path's token, minted by the gateway's own protocol code (RFC 8693 then RFC 7523).
    const runtime = loadConfigFile(env.configPath);
    const creds = JSON.parse(readFileSync(env.credentials('alice'), 'utf8')) as { idToken: string };
    const xaa = createXaaPort(defaultDeps);
    const expenses = runtime.config.resources.expenses!;
    const [idp, as] = await Promise.all([xaa.discover(runtime.config.idp.issuer), xaa.discover(expenses.authorizationServer)]);
    const idJag = await xaa.requestIdJag({
      idp,
      client: runtime.idpClient,
      subjectToken: creds.idToken,
      subjectTokenType: 'urn:ietf:params:oauth:token-type:id_token',
      audience: as.issuer,
      resource: expenses.resource,
      scopes: ['expenses.read'],
    });
    const { accessToken } = await xaa.redeemIdJag({ as, client: runtime.resourceClients.get('expenses')!, idJag: idJag.idJag, scopes: ['expenses.read'] });
    const saas = { url: runtime.config.tools.find((t) => t.name === TOOL)!.http.url, token: accessToken };

    // stdio: the gateway processes read a config of their own, whose audit directory is in the run directory too.
    const stdioMax = Math.max(...opts.stdioClients);
    const stdioDir = join(runDir, 'stdio');
    const stdioConfigs = Array.from({ length: opts.stdioAudit === 'shared' ? 1 : stdioMax }, (_, k) => {
      const dir = opts.stdioAudit === 'shared' ? stdioDir : join(stdioDir, String(k + 1));
      mkdirSync(join(dir, 'audit'), { recursive: true });
      writeFileSync(
        join(dir, 'mcp.config.json'),
        JSON.stringify(demoConfig(env.demo.urls, { auditDir: join(dir, 'audit'), secretsDir: DEMO_SECRETS_DIR }), null, 2),
      );
      return join(dir, 'mcp.config.json');
    });

    // PostgreSQL mode: a second serve on the same store (so the same encryption key), its audit in the store's database.
    const encryptionKey = randomBytes(32).toString('base64');
    const gatewayOptions = { bin, urls: env.demo.urls, encryptionKey, ...(db ? { databaseUrl: db.url } : {}) };
    log(
      `Starting xaa-gateway serve${db ? ' (file audit sink) and a second one (PostgreSQL audit sink)' : ''}, the plain SDK servers of both eras, and ${stdioMax} xaa-gateway stdio and ${stdioMax} plain SDK stdio processes (one per stdio client)...`,
    );
    const started = await Promise.allSettled([
      startGateway({ ...gatewayOptions, dir: join(runDir, 'serve'), auditSink: 'file', instance: INSTANCE_FILE }),
      startBaseline('plain SDK 2026-07-28 server', script('baseline-2026.ts'), saas),
      startBaseline('plain SDK 2025 server', script('baseline-2025.ts'), saas),
      startStdioGateways(bin, stdioMax, (k) => stdioConfigs[k % stdioConfigs.length]!, env.credentials('alice'), log),
      startStdioBaselines(stdioMax, script('baseline-stdio.ts'), saas, log),
      db
        ? startGateway({
            ...gatewayOptions,
            dir: join(runDir, 'serve-pg'),
            auditSink: 'postgres',
            instance: INSTANCE_PG,
            label: 'xaa-gateway serve (PostgreSQL audit sink)',
          })
        : Promise.resolve(undefined),
    ] as const);
    for (const r of started) {
      if (r.status !== 'fulfilled' || !r.value) continue;
      if ('stop' in r.value) stages.servers.push(r.value.stop);
      else stages.clients.push(r.value.close);
    }
    const failed = started.find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    const [gateway, plain2026, plain2025, stdioGw, stdioPlain, gatewayPg] = started.map((r) => (r as PromiseFulfilledResult<unknown>).value) as [
      Awaited<ReturnType<typeof startGateway>>,
      ServerChild,
      ServerChild,
      StdioProcesses,
      StdioProcesses,
      Awaited<ReturnType<typeof startGateway>> | undefined,
    ];
    const servers: Array<{ child: ServerChild; label: string }> = [
      { child: gateway, label: 'xaa-gateway serve' },
      ...(gatewayPg ? [{ child: gatewayPg, label: 'xaa-gateway serve (PostgreSQL audit)' }] : []),
      { child: plain2026, label: 'plain SDK 2026-07-28' },
      { child: plain2025, label: 'plain SDK 2025-11-25' },
    ];
    // What the file sink does is the gateway's (docs/audit.md, "Durability"); the bench only says where it writes.
    const sink = "file sink as the gateway configures it (docs/audit.md: the decision record fsync'd before the call)";
    audit.push({ gateway: 'serve', sink, dir: gateway.auditDir, filesystem: filesystemType(gateway.auditDir) });
    if (gatewayPg && db) {
      // Where the database keeps its WAL decides what a commit costs; the data directory is only readable for a local server.
      const d = await durabilitySettings(db.url);
      const local = ['127.0.0.1', 'localhost', '[::1]'].includes(new URL(db.url).hostname);
      const fs = d.dataDirectory && local ? `${filesystemType(d.dataDirectory)} (data directory ${d.dataDirectory})` : "the database server's disk";
      audit.push({
        gateway: 'serve (PostgreSQL audit)',
        sink: 'PostgreSQL sink: decision record committed (synchronous_commit on) before the call',
        dir: `${db.label} (table audit_records)`,
        filesystem: `${fs}; server fsync ${d.fsync}, synchronous_commit ${d.synchronousCommit}`,
      });
      if (d.fsync === 'off' || d.synchronousCommit === 'off') {
        log(
          `WARNING: the database has fsync ${d.fsync}, synchronous_commit ${d.synchronousCommit}: its commits are not flushed, so the PostgreSQL sink's figures are not what a durable server costs.`,
        );
      }
    }
    audit.push({
      gateway: 'stdio',
      sink: `${sink}; ${opts.stdioAudit === 'shared' ? 'one directory shared by all stdio processes (one config)' : 'one directory per stdio process (BENCH_STDIO_AUDIT=per-process)'}`,
      dir: opts.stdioAudit === 'shared' ? join(stdioDir, 'audit') : join(stdioDir, '<k>', 'audit'),
      filesystem: filesystemType(join(stdioConfigs[0]!, '..', 'audit')),
    });
    for (const a of audit)
      if (a.filesystem.startsWith('tmpfs'))
        log(`WARNING: the ${a.gateway} audit (${a.dir}) is on tmpfs: a flush costs nothing there (set BENCH_DIR to a directory on disk).`);
    if (!opts.stdioClients.includes(50)) {
      notMeasured.push(`stdio at 50 clients (BENCH_STDIO_CLIENTS=${opts.stdioClients.join(',')}${opts.quick ? ', QUICK mode' : ''})`);
    }

    const mcpUrl = `${gateway.origin}/mcp`;
    const signIns = Math.ceil(OVERLOAD_CLIENTS / SESSIONS_PER_SIGN_IN) + Math.ceil(opts.sessions / SESSIONS_PER_SIGN_IN);
    log(`Signing in to serve ${signIns} times (registration, IdP login, consent; up to ${SESSIONS_PER_SIGN_IN} 2025 sessions each)...`);
    const tokens = await signIn(mcpUrl, signIns);
    const measureTokens = { list: tokens.slice(0, Math.ceil(OVERLOAD_CLIENTS / SESSIONS_PER_SIGN_IN)), perToken: SESSIONS_PER_SIGN_IN };
    const extraTokens = { list: tokens.slice(measureTokens.list.length), perToken: SESSIONS_PER_SIGN_IN };
    // The second serve is its own authorization server (issuer = its origin): its clients sign in to it.
    const pgMcpUrl = gatewayPg ? `${gatewayPg.origin}/mcp` : undefined;
    const pgClients = Math.max(...PG_SINK_CLIENTS);
    let pgTokens: { list: string[]; perToken: number } | undefined;
    if (pgMcpUrl) {
      const n = Math.ceil(pgClients / SESSIONS_PER_SIGN_IN);
      log(`Signing in to the PostgreSQL-sink serve ${n} time(s)...`);
      pgTokens = { list: await signIn(pgMcpUrl, n), perToken: SESSIONS_PER_SIGN_IN };
    }

    const targets: Target[] = [];
    const httpCounts = [...HTTP_CLIENTS, OVERLOAD_CLIENTS];
    for (const era of ERAS) {
      const plain = era === '2026-07-28' ? plain2026 : plain2025;
      log(`Connecting ${OVERLOAD_CLIENTS} ${era} clients to serve and ${OVERLOAD_CLIENTS} to the plain server...`);
      const gw = await connectClients(era, mcpUrl, OVERLOAD_CLIENTS, measureTokens);
      stages.clients.push(gw.close);
      const pl = await connectClients(era, `${plain.origin}/mcp`, OVERLOAD_CLIENTS);
      stages.clients.push(pl.close);
      targets.push({ transport: 'http', era, path: 'gateway', calls: gw.calls, pids: [gateway.pid], clientCounts: httpCounts });
      targets.push({ transport: 'http', era, path: 'plain', calls: pl.calls, pids: [plain.pid], clientCounts: httpCounts });
      if (gatewayPg && pgMcpUrl && pgTokens) {
        log(`Connecting ${pgClients} ${era} clients to the PostgreSQL-sink serve...`);
        const gp = await connectClients(era, pgMcpUrl, pgClients, pgTokens);
        stages.clients.push(gp.close);
        targets.push({ transport: 'http', era, path: 'gateway-pg', calls: gp.calls, pids: [gatewayPg.pid], clientCounts: PG_SINK_CLIENTS });
      }
    }
    const direct = directClients(saas.url, saas.token, Math.max(...HTTP_CLIENTS));
    stages.clients.push(direct.close);
    targets.push({ transport: 'http', path: 'direct', calls: direct.calls, pids: [], clientCounts: [...HTTP_CLIENTS] });
    targets.push({ transport: 'stdio', path: 'gateway', calls: stdioGw.calls, pids: stdioGw.pids, shared: stdioGw.shared, clientCounts: opts.stdioClients });
    targets.push({
      transport: 'stdio',
      path: 'plain',
      calls: stdioPlain.calls,
      pids: stdioPlain.pids,
      shared: stdioPlain.shared,
      clientCounts: opts.stdioClients,
    });

    for (const t of targets) {
      const label = `${t.transport}${t.era ? ` ${t.era}` : ''} ${t.path}`;
      log(`Warming up ${label}...`);
      const w = await warmUp(t, opts.quick);
      if (w.count) {
        log(`  WARNING: ${w.count} call(s) of ${label} failed during the warm-up; first: ${w.first}`);
        warmUpErrors.push(`${label}: ${w.count} call(s) failed during the warm-up; first: ${w.first}`);
      }
    }

    log('Idle memory (waiting until each server is idle)...');
    const allPids = [...servers.map((s) => s.child.pid), ...stdioGw.pids, ...stdioGw.shared, ...stdioPlain.pids];
    // QUICK: no waiting for idle (its memory figures only need to exist).
    const settleMs = opts.quick ? 0 : 10_000;
    await settle(allPids, settleMs);
    const idle = new Map<number, Memory>(allPids.map((p) => [p, memory(p)]));

    log(`Memory per 2025 session: ${opts.sessions} extra sessions on serve and on the plain 2025 server...`);
    const gwPerSession = await perSessionKiB(gateway.pid, opts.sessions, () => connectClients('2025-11-25', mcpUrl, opts.sessions, extraTokens), settleMs);
    const plainPerSession = await perSessionKiB(
      plain2025.pid,
      opts.sessions,
      () => connectClients('2025-11-25', `${plain2025.origin}/mcp`, opts.sessions),
      settleMs,
    );

    for (const t of targets) {
      for (const c of t.clientCounts) {
        const id = cellId(t.transport, t.path, c, t.era);
        cells.set(id, { t, clients: c, calls: opts.calls[c]! });
      }
    }
    const levels = [...new Set([...cells.values()].map((x) => x.clients))].sort((a, b) => a - b);
    const roundsStart = Date.now();
    for (let round = 1; round <= opts.rounds; round++) {
      log(`Round ${round}/${opts.rounds} (load average ${loadavg()[0]!.toFixed(1)}):`);
      // The flush floor (floor.ts), side by side in time with the round's calls.
      const probes = opts.quick ? 10 : 100;
      const file = await fileFlushLatencies(runDir, probes);
      flushes.file.push(...file);
      const pgFlush = db ? await pgCommitLatencies(db.url, probes) : [];
      flushes.postgres.push(...pgFlush);
      log(
        `  flush floor: fdatasync p50 ${floorOf(file).p50.toFixed(2)} ms${db ? `, PostgreSQL commit p50 ${floorOf(pgFlush).p50.toFixed(2)} ms` : ''} (${probes} each, one every 3 ms)`,
      );
      for (const c of levels) {
        let order = [...cells.entries()].filter(([, x]) => x.clients === c);
        // Alternate the order each round, so no path always runs right after the same neighbour.
        if (round % 2 === 0) order = order.reverse();
        for (const [id, cell] of order) {
          const s = await measureCell(cell.t, cell.clients, cell.calls);
          cell.sample = addSamples(cell.sample, s);
          const sum = summarize(s, CLOCK_TICKS);
          const refused = sum.refused ? `, ${sum.refused} x 503` : '';
          const other = sum.otherErrors ? `, ${sum.otherErrors} errors (${sum.firstOtherError})` : '';
          log(
            `  ${id.padEnd(34)} p50 ${sum.p50.toFixed(2).padStart(7)} ms  p99 ${sum.p99.toFixed(2).padStart(8)} ms  ${sum.rps.toFixed(0).padStart(5)} calls/s${sum.cpuUsPerCall === undefined ? '' : `  ${sum.cpuUsPerCall.toFixed(0)} µs CPU/call`}${refused}${other}`,
          );
        }
      }
      log(`  (${((Date.now() - roundsStart) / 1000).toFixed(0)} s so far)`);
    }

    const after = new Map<number, Memory>(allPids.map((p) => [p, memory(p)]));
    for (const { child, label } of servers) {
      const perSession = child === gateway ? gwPerSession : child === plain2025 ? plainPerSession : undefined;
      memoryRows.push({
        server: label,
        processes: 1,
        startPeakKiB: child.startPeakKiB,
        idleRssKiB: idle.get(child.pid)!.rssKiB,
        afterRssKiB: after.get(child.pid)!.rssKiB,
        afterHwmKiB: after.get(child.pid)!.hwmKiB,
        ...(perSession === undefined ? {} : { perSessionKiB: perSession, sessions: opts.sessions }),
      });
    }
    for (const [label, pids] of [
      ['xaa-gateway stdio', [...stdioGw.pids, ...stdioGw.shared]],
      ['plain SDK stdio', [...stdioPlain.pids, ...stdioPlain.shared]],
    ] as const) {
      const a = meanMemory(pids);
      memoryRows.push({
        server: label,
        processes: pids.length,
        idleRssKiB: pids.reduce((x, p) => x + idle.get(p)!.rssKiB, 0) / pids.length,
        afterRssKiB: a.rss,
        afterHwmKiB: a.hwmMax,
      });
    }
  } finally {
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
    await cleanup();
  }

  const cellResults: CellResult[] = [...cells.entries()]
    .filter(([, x]) => x.sample)
    .map(([id, x]) => ({
      id,
      transport: x.t.transport,
      ...(x.t.era ? { era: x.t.era } : {}),
      path: x.t.path,
      clients: x.clients,
      calls: x.calls,
      summary: summarize(x.sample!, CLOCK_TICKS),
    }))
    // Table order: transport, era (the direct GET last), clients, then gateway before plain.
    .sort(
      (a, b) =>
        a.transport.localeCompare(b.transport) || eraRank(a.era) - eraRank(b.era) || a.clients - b.clients || PATHS.indexOf(a.path) - PATHS.indexOf(b.path),
    );
  const result: BenchResult = {
    version: 1,
    startedAt: startedAt.toISOString(),
    durationSeconds: (Date.now() - startedAt.getTime()) / 1000,
    commit,
    node: process.version,
    machine: { cpus: cpus().length, memGiB: Math.round(totalmem() / 2 ** 30), loadAvgStart, loadAvgEnd: loadavg(), clockTicks: CLOCK_TICKS },
    quick: opts.quick,
    rounds: opts.rounds,
    callsPerCell: Object.fromEntries(Object.entries(opts.calls).map(([c, n]) => [c, n])),
    store: { mode: opts.store.kind, where: storeWhere },
    audit,
    floor: {
      ...(flushes.file.length ? { file: floorOf(flushes.file) } : {}),
      ...(flushes.postgres.length ? { postgres: floorOf(flushes.postgres) } : {}),
    },
    plannedCells: [...cells.keys()],
    cells: cellResults,
    memory: memoryRows,
    notMeasured,
    warmUpErrors,
    checks: [],
  };
  result.checks = computeChecks(result, opts.stdioClients);
  const jsonPath = opts.jsonPath ?? join(base, `bench-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(jsonPath, JSON.stringify(result, null, 2) + '\n');
  process.stdout.write(renderMarkdown(result));
  process.stdout.write(`\nAll numbers: ${jsonPath}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
