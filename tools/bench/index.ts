/**
 * `npm run bench`: tools/call through the gateway (stdio, the real CLI) against the same HTTP
 * request made directly to the demo SaaS, side by side in one run on a warm token cache, plus the
 * number of token exchanges that 100 concurrent first calls cause. The machine is shared, so the
 * ratio and the difference matter more than absolute times.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { loadConfigFile } from '../../src/config/index.js';
import { defaultDeps } from '../../src/deps.js';
import { createXaaPort } from '../../src/xaa/index.js';
import { startEnv, startStdioGateway } from '../testkit/env.js';

const TOOL = 'expenses_pending_approvals';
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4);
const SEQ_CALLS = Number(process.env.BENCH_SEQ ?? 250);
const PAR_CALLS = Number(process.env.BENCH_PAR ?? 1000);

interface Stats {
  p50: number;
  p99: number;
  rps: number;
}

function summarize(latencies: number[], wallMs: number): Stats {
  const s = [...latencies].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
  return { p50: at(0.5), p99: at(0.99), rps: (latencies.length / wallMs) * 1000 };
}

async function run(concurrency: number, total: number, once: () => Promise<void>): Promise<{ latencies: number[]; wallMs: number }> {
  const latencies: number[] = [];
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < total) {
        const t0 = performance.now();
        await once();
        latencies.push(performance.now() - t0);
      }
    }),
  );
  return { latencies, wallMs: performance.now() - start };
}

async function main() {
  const log = (s: string) => process.stderr.write(s + '\n');
  log('Starting the demo enterprise and signing in as alice...');
  const env = await startEnv();
  try {
    await env.signIn('alice', 'alice-demo-pass');
    const gateway = await startStdioGateway(env, 'alice');

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
    const direct = async () => {
      const res = await fetch(url, { headers: { authorization: `Bearer ${accessToken}`, accept: 'application/json' } });
      if (!res.ok) throw new Error(`direct call failed: ${res.status}`);
      await res.json();
    };
    const viaGateway = async () => {
      const r = await gateway.call(TOOL, {});
      if (r.isError) throw new Error(`gateway call failed: ${JSON.stringify(r.content)}`);
    };

    log('Warming up...');
    for (let i = 0; i < 50; i++) {
      await viaGateway();
      await direct();
    }

    const results: Record<string, { latencies: number[]; wallMs: number }> = {};
    const add = (key: string, r: { latencies: number[]; wallMs: number }) => {
      const prev = results[key] ?? { latencies: [], wallMs: 0 };
      results[key] = { latencies: prev.latencies.concat(r.latencies), wallMs: prev.wallMs + r.wallMs };
    };
    // Interleave rounds so both paths see the same machine load.
    for (let round = 1; round <= ROUNDS; round++) {
      log(`Round ${round}/${ROUNDS}...`);
      add('gateway c=1', await run(1, SEQ_CALLS, viaGateway));
      add('direct c=1', await run(1, SEQ_CALLS, direct));
      add('gateway c=50', await run(50, PAR_CALLS, viaGateway));
      add('direct c=50', await run(50, PAR_CALLS, direct));
    }
    await gateway.close();

    log('100 concurrent first calls (cold cache, new gateway process)...');
    await env.signIn('bob', 'bob-demo-pass');
    const cold = await startStdioGateway(env, 'bob');
    const before = { ex: env.demo.stats.tokenExchanges, jb: env.demo.stats.jwtBearerGrants.calendar };
    const burst = await Promise.all(Array.from({ length: 100 }, () => cold.call('calendar_free_slots', { date: '2026-12-01' })));
    const exchanges = env.demo.stats.tokenExchanges - before.ex;
    const grants = env.demo.stats.jwtBearerGrants.calendar - before.jb;
    const failed = burst.filter((r) => r.isError).length;
    await cold.close();

    const fmt = (n: number) => n.toFixed(2).padStart(8);
    const rows: string[] = [];
    rows.push('| concurrency | path    |  p50 ms |  p99 ms |   calls/s |');
    rows.push('|-------------|---------|---------|---------|-----------|');
    const s: Record<string, Stats> = {};
    for (const c of [1, 50]) {
      for (const path of ['gateway', 'direct']) {
        const r = results[`${path} c=${c}`]!;
        const st = summarize(r.latencies, r.wallMs);
        s[`${path}${c}`] = st;
        rows.push(`| ${String(c).padEnd(11)} | ${path.padEnd(7)} |${fmt(st.p50)} |${fmt(st.p99)} | ${st.rps.toFixed(0).padStart(9)} |`);
      }
    }
    const out = (line = '') => process.stdout.write(line + '\n');
    out(`\nxaa-gateway benchmark: tools/call ${TOOL} (stdio, warm token cache) vs the same GET made directly to the demo SaaS`);
    out(`${ROUNDS} interleaved rounds of ${SEQ_CALLS} sequential and ${PAR_CALLS} concurrent calls per path; Node ${process.version}\n`);
    for (const r of rows) out(r);
    out();
    out(`Gateway added at p50: c=1 ${(s.gateway1!.p50 - s.direct1!.p50).toFixed(2)} ms (x${(s.gateway1!.p50 / s.direct1!.p50).toFixed(2)}), c=50 ${(s.gateway50!.p50 - s.direct50!.p50).toFixed(2)} ms (x${(s.gateway50!.p50 / s.direct50!.p50).toFixed(2)})`);
    out(`Throughput ratio gateway/direct: c=1 ${(s.gateway1!.rps / s.direct1!.rps).toFixed(2)}, c=50 ${(s.gateway50!.rps / s.direct50!.rps).toFixed(2)}`);
    out(`100 concurrent first calls: ${exchanges} token exchange(s), ${grants} jwt-bearer grant(s), ${failed} failed`);
    out('Each gateway call includes two fsync\'d audit records (decision before the call, outcome after).');
  } finally {
    await env.close();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench failed: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
