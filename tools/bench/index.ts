/**
 * `npm run bench`: tools/call through the gateway against the same HTTP request made without it,
 * side by side in one run on a warm token cache. Two parts:
 * - stdio: the real CLI (`xaa-gateway stdio`) vs the same GET made directly to the demo SaaS, plus
 *   the number of token exchanges that 100 concurrent first calls cause;
 * - HTTP: `xaa-gateway serve` /mcp with a 2026-07-28 client (SDK v2) and a 2025-11-25 client
 *   (SDK v1), each next to the plain-SDK server of its era making the same GET (tools/bench/http.ts).
 * The machine is shared, so the ratio and the difference matter more than absolute times.
 */
import { readFileSync } from 'node:fs';
import { loadConfigFile } from '../../src/config/index.js';
import { defaultDeps } from '../../src/deps.js';
import { createXaaPort } from '../../src/xaa/index.js';
import { buildDist } from '../testkit/build.js';
import { startEnv, startStdioGateway } from '../testkit/env.js';
import { ERAS, setupHttp, type HttpTarget } from './http.js';
import { Results, run, type Stats } from './stats.js';

const TOOL = 'expenses_pending_approvals';
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SEQ_CALLS = Number(process.env.BENCH_SEQ ?? 250);
const PAR_CALLS = Number(process.env.BENCH_PAR ?? 1000);
const HTTP_ROUNDS = Number(process.env.BENCH_HTTP_ROUNDS ?? 3);
const HTTP_SEQ = Number(process.env.BENCH_HTTP_SEQ ?? 100);
const HTTP_PAR = Number(process.env.BENCH_HTTP_PAR ?? 500);
const HTTP_CLIENTS = 50;
const SKIP_STDIO = process.env.BENCH_SKIP_STDIO === '1';

const fmt = (n: number) => n.toFixed(2).padStart(8);
const out = (line = '') => process.stdout.write(line + '\n');
const log = (s: string) => process.stderr.write(s + '\n');

async function main() {
  // The gateway children run bin/xaa-gateway.js, i.e. the compiled dist/: rebuilt when a source is newer.
  if ((await buildDist()) === 'built') log('Built dist/ from src/.');
  log('Starting the demo enterprise and signing in as alice...');
  const env = await startEnv();
  try {
    await env.signIn('alice', 'alice-demo-pass');

    // The direct path: the same request with a token minted by the same protocol code.
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
    const url = runtime.config.tools.find((t) => t.name === TOOL)!.http.url;

    if (!SKIP_STDIO) await benchStdio(env, url, accessToken);
    await benchHttp(env, url, accessToken);
    out();
    out('Each gateway call includes two fsync\'d audit records (decision before the call, outcome after).');
  } finally {
    await env.close();
  }
}

async function benchStdio(env: Awaited<ReturnType<typeof startEnv>>, url: string, accessToken: string): Promise<void> {
  const gateway = await startStdioGateway(env, 'alice');
  const direct = async () => {
    const res = await fetch(url, { headers: { authorization: `Bearer ${accessToken}`, accept: 'application/json' } });
    if (!res.ok) throw new Error(`direct call failed: ${res.status}`);
    await res.json();
  };
  const viaGateway = async () => {
    const r = await gateway.call(TOOL, {});
    if (r.isError) throw new Error(`gateway call failed: ${JSON.stringify(r.content)}`);
  };

  log('stdio: warming up...');
  for (let i = 0; i < 50; i++) {
    await viaGateway();
    await direct();
  }

  const results = new Results();
  // Interleave rounds so both paths see the same machine load.
  for (let round = 1; round <= ROUNDS; round++) {
    log(`stdio: round ${round}/${ROUNDS}...`);
    results.add('gateway c=1', await run(1, SEQ_CALLS, viaGateway));
    results.add('direct c=1', await run(1, SEQ_CALLS, direct));
    results.add('gateway c=50', await run(50, PAR_CALLS, viaGateway));
    results.add('direct c=50', await run(50, PAR_CALLS, direct));
  }
  await gateway.close();

  log('stdio: 100 concurrent first calls (cold cache, new gateway process)...');
  await env.signIn('bob', 'bob-demo-pass');
  const cold = await startStdioGateway(env, 'bob');
  const before = { ex: env.demo.stats.tokenExchanges, jb: env.demo.stats.jwtBearerGrants.calendar };
  const burst = await Promise.all(Array.from({ length: 100 }, () => cold.call('calendar_free_slots', { date: '2026-12-01' })));
  const exchanges = env.demo.stats.tokenExchanges - before.ex;
  const grants = env.demo.stats.jwtBearerGrants.calendar - before.jb;
  const failed = burst.filter((r) => r.isError).length;
  await cold.close();

  const rows: string[] = [];
  rows.push('| concurrency | path    |  p50 ms |  p99 ms |   calls/s |');
  rows.push('|-------------|---------|---------|---------|-----------|');
  const s: Record<string, Stats> = {};
  for (const c of [1, 50]) {
    for (const path of ['gateway', 'direct']) {
      const st = results.stats(`${path} c=${c}`)!;
      s[`${path}${c}`] = st;
      rows.push(`| ${String(c).padEnd(11)} | ${path.padEnd(7)} |${fmt(st.p50)} |${fmt(st.p99)} | ${st.rps.toFixed(0).padStart(9)} |`);
    }
  }
  out(`\nxaa-gateway benchmark: tools/call ${TOOL} (stdio, warm token cache) vs the same GET made directly to the demo SaaS`);
  out(`${ROUNDS} interleaved rounds of ${SEQ_CALLS} sequential and ${PAR_CALLS} concurrent calls per path; Node ${process.version}\n`);
  for (const r of rows) out(r);
  out();
  out(`Gateway added at p50: c=1 ${(s.gateway1!.p50 - s.direct1!.p50).toFixed(2)} ms (x${(s.gateway1!.p50 / s.direct1!.p50).toFixed(2)}), c=50 ${(s.gateway50!.p50 - s.direct50!.p50).toFixed(2)} ms (x${(s.gateway50!.p50 / s.direct50!.p50).toFixed(2)})`);
  out(`Throughput ratio gateway/direct: c=1 ${(s.gateway1!.rps / s.direct1!.rps).toFixed(2)}, c=50 ${(s.gateway50!.rps / s.direct50!.rps).toFixed(2)}`);
  out(`100 concurrent first calls: ${exchanges} token exchange(s), ${grants} jwt-bearer grant(s), ${failed} failed`);
  for (const k of ['gateway c=1', 'direct c=1', 'gateway c=50', 'direct c=50']) {
    const e = results.errors(k);
    if (e.count) out(`Errors: stdio ${k}: ${e.count}, first: ${e.first?.slice(0, 200)}`);
  }
}

/**
 * HTTP: per era, the gateway's /mcp and the plain-SDK server of that era, at concurrency 1 (one
 * client) and 50 (50 clients, one per worker), in interleaved rounds.
 */
async function benchHttp(env: Awaited<ReturnType<typeof startEnv>>, url: string, accessToken: string): Promise<void> {
  log('HTTP: starting xaa-gateway serve and the plain-SDK servers of both eras...');
  const setup = await setupHttp(env, { url, token: accessToken }, HTTP_CLIENTS, log);
  const key = (t: HttpTarget, c: number) => `${t.era} ${t.path} c=${c}`;
  const results = new Results();
  try {
    const live = setup.targets.filter((t) => t.calls.length);
    log('HTTP: warming up...');
    for (const t of live) await run(HTTP_CLIENTS, 4 * HTTP_CLIENTS, (k) => t.calls[k]!());
    for (let round = 1; round <= HTTP_ROUNDS; round++) {
      log(`HTTP: round ${round}/${HTTP_ROUNDS}...`);
      for (const t of live) results.add(key(t, 1), await run(1, HTTP_SEQ, () => t.calls[0]!()));
      for (const t of live) results.add(key(t, 50), await run(HTTP_CLIENTS, HTTP_PAR, (k) => t.calls[k]!()));
    }
  } finally {
    await setup.close();
  }

  out(`\nxaa-gateway benchmark over HTTP: tools/call ${TOOL} through \`xaa-gateway serve\` /mcp (bearer token, warm token cache)`);
  out('next to the plain-SDK server of the same era making the same GET with a static token (no inbound auth, no audit)');
  out(`${HTTP_ROUNDS} interleaved rounds of ${HTTP_SEQ} sequential calls (1 client) and ${HTTP_PAR} concurrent calls (${HTTP_CLIENTS} clients) per path; Node ${process.version}\n`);
  out('| protocol   | server    | concurrency |  p50 ms |  p99 ms |   calls/s | errors |');
  out('|------------|-----------|-------------|---------|---------|-----------|--------|');
  for (const era of ERAS) {
    for (const c of [1, 50]) {
      for (const t of setup.targets.filter((x) => x.era === era)) {
        const st = results.stats(key(t, c));
        const cells = st ? `${fmt(st.p50)} |${fmt(st.p99)} | ${st.rps.toFixed(0).padStart(9)}` : `     n/a |     n/a |       n/a`;
        out(`| ${era} | ${t.path.padEnd(9)} | ${String(c).padEnd(11)} |${cells} | ${String(results.errors(key(t, c)).count).padStart(6)} |`);
      }
    }
  }
  out();
  for (const t of setup.targets.filter((x) => x.error)) out(`Not measured: ${t.era} ${t.path}: ${t.error}`);
  for (const t of setup.targets) {
    for (const c of [1, 50]) {
      const e = results.errors(key(t, c));
      if (e.count) out(`Errors: ${t.era} ${t.path} c=${c}: ${e.count}, first: ${e.first?.slice(0, 200)}`);
    }
  }
  for (const era of ERAS) {
    for (const c of [1, 50]) {
      const g = results.stats(`${era} gateway c=${c}`);
      const b = results.stats(`${era} plain SDK c=${c}`);
      if (g && b) out(`${era} c=${c}: gateway adds ${(g.p50 - b.p50).toFixed(2)} ms at p50 (x${(g.p50 / b.p50).toFixed(2)}); throughput gateway/plain SDK ${(g.rps / b.rps).toFixed(2)}`);
    }
  }
  for (const c of [1, 50]) {
    const m = results.stats(`2026-07-28 gateway c=${c}`);
    const l = results.stats(`2025-11-25 gateway c=${c}`);
    if (m && l) out(`gateway c=${c}: 2026-07-28 p50 ${m.p50.toFixed(2)} ms vs 2025-11-25 ${l.p50.toFixed(2)} ms; calls/s ${m.rps.toFixed(0)} vs ${l.rps.toFixed(0)}`);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench failed: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
