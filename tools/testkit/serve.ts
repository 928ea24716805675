import { spawn } from 'node:child_process';

/**
 * `xaa-gateway serve` as a child process from any command (the repository's bin, an installed
 * package's bin) and any working directory (systemd's WorkingDirectory, a container's `/`): started
 * when it prints its "MCP endpoint" line, stopped with SIGTERM.
 */

export interface SpawnedServe {
  origin: string;
  mcpUrl: string;
  listenUrl: string;
  /** The serve process (for a signal a test sends it). */
  pid: number;
  stdout(): string;
  stderr(): string;
  /** SIGTERM (SIGKILL after 60 s) and the exit code. */
  stop(): Promise<number | null>;
}

/** How long stop() waits after SIGTERM before SIGKILL. */
const STOP_GUARD_MS = 60_000;

export async function spawnServe(opts: {
  /** The executable and its arguments before `--config` (e.g. [process.execPath, BIN]). */
  command: [string, ...string[]];
  configPath: string;
  port: number;
  cwd: string;
  env?: NodeJS.ProcessEnv;
  /**
   * Readiness is the "MCP endpoint" line (or the process exiting); this bound only stops a hung
   * start from hanging the suite, so it is far above a loaded machine's start-up (first start of the
   * embedded store: 15-25 s on a busy 2-core box). Default 120 s.
   */
  startTimeoutMs?: number;
}): Promise<SpawnedServe> {
  const env: NodeJS.ProcessEnv = { ...process.env, XAA_LOG_LEVEL: process.env.XAA_TEST_SERVE_LOG_LEVEL ?? 'warn', ...opts.env };
  delete env.DATABASE_URL;
  if (opts.env?.DATABASE_URL) env.DATABASE_URL = opts.env.DATABASE_URL;
  const [cmd, ...pre] = opts.command;
  const child = spawn(cmd, [...pre, '--config', opts.configPath, 'serve', '--host', '127.0.0.1', '--port', String(opts.port)], {
    cwd: opts.cwd,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const timeoutMs = opts.startTimeoutMs ?? 300_000;
  const started = await new Promise<RegExpExecArray | Error>((resolve) => {
    const timer = setTimeout(() => resolve(new Error(`no "MCP endpoint" line within ${timeoutMs} ms`)), timeoutMs);
    const onData = () => {
      const m = /^MCP endpoint: (\S+) {2}\(listening on (\S+)\)$/m.exec(stdout);
      if (m) {
        clearTimeout(timer);
        child.stdout.off('data', onData);
        resolve(m);
      }
    };
    child.stdout.on('data', onData);
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve(e);
    });
    void exited.then((code) => {
      clearTimeout(timer);
      resolve(new Error(`exited with code ${code}`));
    });
  });
  if (started instanceof Error) {
    child.kill('SIGKILL');
    throw new Error(`xaa-gateway serve (${opts.command.join(' ')}, cwd ${opts.cwd}) did not start: ${started.message}\n${stderr}`);
  }
  const mcpUrl = started[1]!;
  return {
    origin: new URL(mcpUrl).origin,
    mcpUrl,
    listenUrl: started[2]!,
    pid: child.pid!,
    stdout: () => stdout,
    stderr: () => stderr,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        // A hang guard, longer than serve's own drain bound (20 s) plus its closing steps: a busy
        // machine slows a clean shutdown down, it must not turn it into a kill.
        const timer = setTimeout(() => {
          stderr += `\n[testkit] serve did not exit within ${STOP_GUARD_MS / 1000} s of SIGTERM: SIGKILL\n`;
          child.kill('SIGKILL');
        }, STOP_GUARD_MS);
        void exited.finally(() => clearTimeout(timer));
      }
      return exited;
    },
  };
}
