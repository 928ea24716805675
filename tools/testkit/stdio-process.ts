import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { BIN, type Env } from './env.js';

/** `xaa-gateway stdio` as a child process spoken to line by line (JSON-RPC over its stdin/stdout). */
export interface StdioProcess {
  child: ChildProcessWithoutNullStreams;
  stderr(): string;
  send(message: unknown): void;
  /** Sends a request; resolves with the response of that id. */
  request(id: number | string, method: string, params?: unknown): Promise<any>;
  /** A 2025-11-25 session: initialize (as `clientName`), then notifications/initialized. */
  initialize(clientName: string): Promise<any>;
  /** Settles with the exit status. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function spawnStdio(env: Env, user: string, opts: { args?: string[]; env?: Record<string, string> } = {}): StdioProcess {
  const child = spawn(process.execPath, [BIN, '--config', env.configPath, '--credentials', env.credentials(user), 'stdio', ...(opts.args ?? [])], {
    env: { ...process.env, XAA_LOG_LEVEL: 'info', XDG_RUNTIME_DIR: env.runtimeDir, ...opts.env },
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const pending = new Map<unknown, (m: any) => void>();
  let buffer = '';
  child.stdout.on('data', (d: Buffer) => {
    buffer += d.toString();
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const m = JSON.parse(buffer.slice(0, nl));
      buffer = buffer.slice(nl + 1);
      pending.get(m.id)?.(m);
    }
  });
  // A write after the process exited is the test's finding (its exit status), not an uncaught EPIPE.
  child.stdin.on('error', () => {});
  const send = (message: unknown) => child.stdin.write(`${JSON.stringify(message)}\n`);
  const request = (id: number | string, method: string, params?: unknown) =>
    new Promise<any>((resolve, reject) => {
      pending.set(id, resolve);
      void exited.then((e) => reject(new Error(`stdio process exited (${JSON.stringify(e)}) before answering ${method}: ${stderr}`)));
      send({ jsonrpc: '2.0', id, method, ...(params === undefined ? {} : { params }) });
    });
  return {
    child,
    stderr: () => stderr,
    send,
    request,
    async initialize(clientName) {
      const init = await request('init', 'initialize', { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: clientName, version: '1.0.0' } });
      send({ jsonrpc: '2.0', method: 'notifications/initialized' });
      return init;
    },
    exited,
  };
}
