import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../../../log.js';
import { SHUTDOWN_SIGNALS } from '../signals.js';
import type { SharePlace } from './place.js';

export interface RelayOptions {
  place: SharePlace;
  /** Starts a host (detached); called when no host answers, again if one started in a race left. */
  startHost: () => ChildProcess;
  stdin: Readable;
  stdout: Writable;
  logger: Logger;
  /** Longest wait for a host to answer before this process serves its client itself. Default 60 s. */
  waitMs?: number;
}

/** After a signal, how long the relay waits for the host to close the session. */
const SIGNAL_GRACE_MS = 2_000;

/** How the relay ended: the client left (0), the host went away (1), or no host could be reached. */
export type RelayEnd = { code: 0 | 1 } | { unreachable: string };

/**
 * A stdio client's process that found another one already serving its config and sign-in: it connects
 * to the shared host (starting it if none answers) and copies bytes between its stdin/stdout and the
 * host's socket, parsing nothing, so a client's call costs this process two reads and two writes.
 * Nothing is read from stdin before the host answers: the client's first messages wait in the pipe.
 */
export async function runRelay(opts: RelayOptions): Promise<RelayEnd> {
  const socket = await reachHost(opts);
  if (!('connected' in socket)) return socket;
  const host = socket.connected;
  opts.logger.info('xaa-gateway stdio: served by the shared host', { pid: socket.pid, log: opts.place.log });

  let clientLeft = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (clientLeft) process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
    clientLeft = true;
    host.end();
    // The host ends the session at once; should it not answer, the client's SIGKILL is not waited for.
    setTimeout(() => host.destroy(), SIGNAL_GRACE_MS).unref();
  };
  for (const s of SHUTDOWN_SIGNALS) process.on(s, onSignal);
  opts.stdin.on('end', () => (clientLeft = true));
  // stdin's end ends the socket's writing side: the host ends that session as stdio's end would.
  opts.stdin.pipe(host);
  host.pipe(opts.stdout, { end: false });
  host.on('error', (e) => opts.logger.debug('stdio share: host connection error', { error: e.message }));
  await new Promise<void>((resolve) => host.once('close', () => resolve()));
  for (const s of SHUTDOWN_SIGNALS) process.off(s, onSignal);
  opts.stdin.unpipe(host);
  // Whatever the client still sends has nobody to go to; an open stdin must not keep this process up.
  opts.stdin.destroy();
  if (clientLeft) return { code: 0 };
  opts.logger.error('xaa-gateway stdio: the shared host closed this connection; restart the MCP server in your client', { log: opts.place.log });
  return { code: 1 };
}

/** Connects, starting a host when none answers; waits for its socket (readiness), never a fixed delay. */
async function reachHost(opts: RelayOptions): Promise<{ connected: Socket; pid: number } | { unreachable: string }> {
  const deadline = Date.now() + (opts.waitMs ?? 60_000);
  let child: ChildProcess | undefined;
  let exit: number | null | undefined;
  let delay = 5;
  for (;;) {
    const socket = await connect(opts.place.socket);
    const pid = socket && (await greeted(socket));
    if (socket && pid) return { connected: socket, pid };
    if (exit !== undefined && exit !== 0) {
      return { unreachable: `the shared host exited with code ${exit}: ${logTail(opts.place.log)}` };
    }
    if (!child || exit === 0) {
      // None yet, or the one started lost a race to a host that is now stopping: start one (again).
      exit = undefined;
      child = opts.startHost();
      child.once('exit', (code) => (exit = code ?? 1));
      child.unref();
    }
    if (Date.now() > deadline) return { unreachable: `no shared host answered on ${opts.place.socket} within ${opts.waitMs ?? 60_000} ms` };
    await sleep(delay);
    delay = Math.min(delay * 2, 200);
  }
}

/**
 * The host's pid from its greeting (its first line), or undefined when the connection closed without
 * one: the host was stopping. Bytes after the greeting are put back for the pipe to the client.
 */
function greeted(socket: Socket): Promise<number | undefined> {
  return new Promise((resolve) => {
    let buffered = Buffer.alloc(0);
    const done = (pid: number | undefined, rest?: Buffer) => {
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.off('error', onClose);
      socket.pause();
      if (rest?.length) socket.unshift(rest);
      if (pid === undefined) socket.destroy();
      resolve(pid);
    };
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const nl = buffered.indexOf(0x0a);
      if (nl === -1) return buffered.length > 1024 ? done(undefined) : undefined;
      try {
        const g = JSON.parse(buffered.subarray(0, nl).toString('utf8')) as { xaaGatewayShare?: unknown; pid?: unknown };
        done(g.xaaGatewayShare === 1 && typeof g.pid === 'number' ? g.pid : undefined, buffered.subarray(nl + 1));
      } catch {
        done(undefined);
      }
    };
    const onClose = () => done(undefined);
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.on('error', onClose);
  });
}

/** A connected socket, or undefined when nobody listens there (yet, or any more). */
function connect(path: string): Promise<Socket | undefined> {
  return new Promise((resolve, reject) => {
    const s = createConnection(path);
    s.once('connect', () => {
      s.removeAllListeners('error');
      resolve(s);
    });
    s.once('error', (e: NodeJS.ErrnoException) => {
      s.destroy();
      if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED') resolve(undefined);
      else reject(e);
    });
  });
}

/** The last lines of the host's log, for the error a client's user reads. */
function logTail(path: string): string {
  try {
    const lines = readFileSync(path, 'utf8').trimEnd().split('\n');
    return lines.slice(-5).join('\n');
  } catch {
    return `(no log at ${path})`;
  }
}
