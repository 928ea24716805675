/**
 * The stdio side of `npm run bench`: a stdio MCP server is one process per client (the desktop
 * client starts it), so N clients are N processes: `xaa-gateway stdio` processes (one signed-in
 * user, one config, hence one shared audit directory, as several desktop clients of one person
 * share it) beside plain-SDK stdio servers (baseline-stdio.ts) doing the same GET. The clients are
 * the SDK v1 `Client` over `StdioClientTransport`, so the connection speaks 2025-11-25.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ROOT } from '../testkit/env.js';
import { TOOL, type Clients } from './http.js';
import { descendants, serverNodeFlags } from './proc.js';
import { CallError, type CallFn } from './stats.js';

export interface StdioProcesses extends Clients {
  /** The server process of each client, in client order. */
  pids: number[];
  /**
   * Processes those started that serve several clients: `xaa-gateway stdio`'s shared host (the first
   * client's process serves it itself, each further one relays to the host). Their CPU counts in every
   * cell, whatever its number of clients.
   */
  shared: number[];
}

interface Spawn {
  /** Arguments of process k. */
  args: (k: number) => string[];
  env: Record<string, string>;
}

async function startOne(label: string, args: string[], env: Record<string, string>): Promise<{ call: CallFn; pid: number; close: () => Promise<void> }> {
  const transport = new StdioClientTransport({ command: process.execPath, args: [...serverNodeFlags, ...args], env, cwd: ROOT, stderr: 'pipe' });
  let stderr = '';
  transport.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-8192)));
  const client = new Client({ name: 'xaa-bench', version: '1.0.0' }, { capabilities: {} });
  try {
    await client.connect(transport);
  } catch (e) {
    await client.close().catch(() => {});
    throw new Error(`${label}: ${e instanceof Error ? e.message : String(e)}\n${stderr}`, { cause: e });
  }
  const pid = transport.pid;
  if (pid === null) throw new Error(`${label}: no process id after connecting`);
  const call: CallFn = async () => {
    let r: { isError?: boolean; content?: unknown };
    try {
      r = (await client.callTool({ name: TOOL, arguments: {} })) as { isError?: boolean; content?: unknown };
    } catch (e) {
      throw new CallError((e instanceof Error ? e.message : String(e)).slice(0, 300));
    }
    if (r.isError) throw new CallError(`tool error: ${JSON.stringify(r.content).slice(0, 300)}`);
  };
  return { call, pid, close: () => client.close().catch(() => {}) };
}

/**
 * `n` processes, a few starting at a time (starting 50 Node processes at once on 2 cores measures
 * nothing useful). The first starts alone: the 1-client cells use it, and it is the first client of
 * its config and sign-in, as a lone desktop client is.
 */
async function startMany(label: string, n: number, spawn: Spawn, log: (s: string) => void): Promise<StdioProcesses> {
  const started: Array<{ call: CallFn; pid: number; close: () => Promise<void> }> = [];
  const close = async () => void (await Promise.all(started.map((s) => s.close())));
  try {
    for (let i = 0; i < n;) {
      const batch = i === 0 ? 1 : Math.min(4, n - i);
      started.push(...(await Promise.all(Array.from({ length: batch }, (_, j) => startOne(`${label} #${i + j + 1}`, spawn.args(i + j), spawn.env)))));
      i += batch;
      if (n > 4) log(`  ${label}: ${started.length}/${n} processes`);
    }
  } catch (e) {
    await close();
    throw e;
  }
  const pids = started.map((s) => s.pid);
  const shared = [...new Set(pids.flatMap((p) => descendants(p)))];
  // The shared host outlives its last client by stdio.shareIdleSeconds: stopped here, as a logout would.
  const closeAll = async () => {
    await close();
    await Promise.all(shared.map((pid) => stopProcess(pid)));
  };
  return { calls: started.map((s) => s.call), pids, shared, close: closeAll };
}

/** SIGTERM, then waits (up to 15 s) for the process to be gone. */
async function stopProcess(pid: number): Promise<void> {
  const alive = () => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  if (!alive()) return;
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 300 && alive(); i++) await sleep(50);
}

const childEnv = (extra: Record<string, string> = {}): Record<string, string> => {
  const env = { ...process.env, XAA_LOG_LEVEL: 'warn', ...extra } as Record<string, string>;
  delete env.DATABASE_URL;
  return env;
};

/**
 * `xaa-gateway stdio` processes of one user (`bin`: the run's copy of the built gateway); process
 * k reads `configPath(k)` (one config for all: one shared audit directory).
 */
export function startStdioGateways(
  bin: string,
  n: number,
  configPath: (k: number) => string,
  credentialsPath: string,
  log: (s: string) => void,
): Promise<StdioProcesses> {
  // The shared host's socket and log go to a directory of the run's own (short: a socket path has a limit),
  // removed with the processes rather than left in the user's runtime directory.
  const runtimeDir = mkdtempSync(join(tmpdir(), 'xaa-bench-'));
  const args = (k: number) => [bin, '--config', configPath(k), '--credentials', credentialsPath, 'stdio'];
  return startMany('xaa-gateway stdio', n, { args, env: childEnv({ XDG_RUNTIME_DIR: runtimeDir }) }, log).then(
    (p) => {
      if (n > 1 && configPath(0) === configPath(n - 1) && p.shared.length !== 1)
        log(`  WARNING: ${p.shared.length} shared stdio hosts for ${n} processes (expected 1): see the host log in ${runtimeDir}`);
      const close = p.close;
      return { ...p, close: () => close().finally(() => rmSync(runtimeDir, { recursive: true, force: true })) };
    },
    (e: unknown) => {
      rmSync(runtimeDir, { recursive: true, force: true });
      throw e;
    },
  );
}

/** Plain-SDK stdio servers (compiled baseline-stdio.ts). */
export function startStdioBaselines(n: number, script: string, saas: { url: string; token: string }, log: (s: string) => void): Promise<StdioProcesses> {
  return startMany('plain SDK stdio', n, { args: () => [script], env: childEnv({ BENCH_SAAS_URL: saas.url, BENCH_SAAS_TOKEN: saas.token }) }, log);
}
