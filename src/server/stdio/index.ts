import type { Readable, Writable } from 'node:stream';
import type { RuntimeConfig } from '../../config/index.js';
import type { Deps } from '../../deps.js';
import { createLogger, type Logger } from '../../log.js';
import { openStdioGateway } from './gateway.js';
import { SHUTDOWN_SIGNALS } from './signals.js';

export interface StdioOptions {
  configPath: string;
  credentialsPath: string;
  /** The config as already loaded from configPath. */
  loaded?: RuntimeConfig;
  deps?: Deps;
  logger?: Logger;
  /** Default: the process's stdin and stdout. */
  stdin?: Readable;
  stdout?: Writable;
  /**
   * Shut down on SIGTERM or SIGINT as on stdin's end (a second signal exits at once). Default: true
   * on the process's own stdin.
   */
  handleSignals?: boolean;
}

/**
 * `xaa-gateway stdio` serving its own client in this process (the first client of a config and
 * sign-in, or `--standalone`; the others share a host, share/): the desktop client speaks MCP on
 * stdin/stdout, in either protocol era: the SDK's serveStdio pins the connection to the era its
 * opening message speaks (2025 `initialize`, or 2026-07-28 requests with the `_meta` envelope) and
 * serves it from the same factory as HTTP. The agent is the clientInfo the client sent.
 *
 * On stdin's end or a shutdown signal (signals.ts) it stops: calls in progress given up to 1.5 s to
 * finish (Gateway.close), upstream connections closed, queued outcome records made durable, the final
 * signed checkpoint written, the chain's lock released. (A call still waiting for its SaaS after that
 * has no outcome record: the next start on this chain records it as "outcome unknown".)
 */
export async function runStdio(opts: StdioOptions): Promise<void> {
  const logger = opts.logger ?? createLogger();
  const gateway = await openStdioGateway({
    configPath: opts.configPath,
    credentialsPath: opts.credentialsPath,
    logger,
    ...(opts.loaded ? { loaded: opts.loaded } : {}),
    ...(opts.deps ? { deps: opts.deps } : {}),
  });
  const connection = gateway.connect(opts.stdin ?? process.stdin, opts.stdout ?? process.stdout);
  let signalled: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    // A second signal while stopping: the operator means it.
    if (signalled) process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
    signalled = signal;
    logger.info('stopping', { signal });
    void connection.close();
  };
  const signals = opts.handleSignals ?? opts.stdin === undefined;
  if (signals) for (const s of SHUTDOWN_SIGNALS) process.on(s, onSignal);
  logger.info('xaa-gateway stdio ready', { config: gateway.config.current.path, auditDir: gateway.config.current.auditDir });
  // The client closing stdin (or a signal) ends the gateway.
  await connection.closed;
  await gateway.close();
  if (signals) for (const s of SHUTDOWN_SIGNALS) process.off(s, onSignal);
  if (signalled) logger.info('xaa-gateway stopped', { signal: signalled });
}
