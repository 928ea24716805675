import { chmodSync, unlinkSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { DirLock } from '../../../audit/lock.js';
import type { RuntimeConfig } from '../../../config/index.js';
import type { Logger } from '../../../log.js';
import { openStdioGateway, type StdioConnection } from '../gateway.js';
import { SHUTDOWN_SIGNALS } from '../signals.js';
import type { SharePlace } from './place.js';

/** How long a new host waits for its first client (the relay that started it connects within milliseconds). */
const FIRST_CLIENT_MS = 60_000;

/** The line a host writes first on each connection it serves, before any MCP message. */
export const greeting = (): string => `${JSON.stringify({ xaaGatewayShare: 1, pid: process.pid })}\n`;

export interface HostOptions {
  configPath: string;
  credentialsPath: string;
  /** The config as already loaded from configPath. */
  loaded: RuntimeConfig;
  place: SharePlace;
  logger: Logger;
  /** How long the host stays up with no client (stdio.shareIdleSeconds), for the next one to find it warm. */
  idleMs: () => number;
}

/**
 * The shared host (`stdio --share-host`, started detached by the first relay that found none): one
 * stdio gateway (one audit chain, one token cache, code the JIT has long since optimized) serving every
 * relayed client of one config and sign-in on its Unix socket, each connection an MCP stdio session of
 * its own. It exits once it has had no client for `idleMs`, or on SIGTERM/SIGINT, stopping as
 * `stdio` does. Returns the exit code: 0, or 1 when the gateway could not start (its error is logged,
 * and the relay that waits for the socket then serves its client itself and shows it).
 */
export async function runShareHost(opts: HostOptions): Promise<number> {
  const { place, logger } = opts;
  // One host per place: a second one started in a race finds the lock taken and leaves.
  const lock = new DirLock(place.dir, {}, place.hostLock);
  if (!(await lock.tryAcquire())) {
    logger.info('another shared host serves these clients; exiting', { socket: place.socket });
    return 0;
  }
  let gateway;
  try {
    gateway = await openStdioGateway({ configPath: opts.configPath, credentialsPath: opts.credentialsPath, loaded: opts.loaded, logger });
  } catch (e) {
    logger.error('the shared stdio gateway could not start', { error: e });
    await lock.close();
    return 1;
  }
  const connections = new Map<Socket, StdioConnection>();
  let idle: NodeJS.Timeout | undefined;
  let stopping: Promise<void> | undefined;
  let resolveStopped!: () => void;
  const stopped = new Promise<void>((r) => (resolveStopped = r));

  const server = createServer((socket) => {
    if (stopping) return void socket.destroy();
    clearTimeout(idle);
    // A relay that went away mid-write is one client gone, not the host's concern.
    socket.on('error', (e) => logger.debug('stdio share: client connection error', { error: e.message }));
    // The greeting tells the relay that this host serves it (one that is stopping closes without it).
    socket.write(greeting());
    const connection = gateway.connect(socket, socket);
    connections.set(socket, connection);
    logger.info('client connected', { clients: connections.size });
    void connection.closed.then(() => {
      connections.delete(socket);
      socket.end();
      logger.info('client left', { clients: connections.size });
      if (connections.size === 0 && !stopping) idle = setTimeout(() => void stop('idle'), opts.idleMs());
    });
  });

  const stop = (why: string) =>
    (stopping ??= (async () => {
      clearTimeout(idle);
      logger.info('stopping the shared host', { why, clients: connections.size });
      server.close();
      removeSocket(place.socket);
      // A new client may start the next host now: it claims an audit chain of its own.
      await lock.close();
      await Promise.all([...connections.values()].map((c) => c.close()));
      await gateway.close();
      resolveStopped();
    })());

  let signalled = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
    signalled = true;
    void stop(signal);
  };
  for (const s of SHUTDOWN_SIGNALS) process.on(s, onSignal);

  // The lock is ours, so a socket file here is a dead host's.
  removeSocket(place.socket);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(place.socket, () => {
        server.off('error', reject);
        resolve();
      });
    });
    chmodSync(place.socket, 0o600);
  } catch (e) {
    logger.error('the shared host cannot listen on its socket', { socket: place.socket, error: e });
    await stop('listen failed');
    return 1;
  }
  server.on('error', (e) => logger.error('stdio share: socket error', { error: e }));
  // The relay that started this host is waiting for it: it is given time to connect whatever the idle setting.
  idle = setTimeout(() => void stop('idle'), Math.max(opts.idleMs(), FIRST_CLIENT_MS));
  logger.info('xaa-gateway shared stdio host ready', { socket: place.socket, config: gateway.config.current.path });
  await stopped;
  for (const s of SHUTDOWN_SIGNALS) process.off(s, onSignal);
  logger.info('xaa-gateway shared stdio host stopped');
  return 0;
}

function removeSocket(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // absent
  }
}
