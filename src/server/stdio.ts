import type { Readable, Writable } from 'node:stream';
import type { Server } from '@modelcontextprotocol/server';
import { serveStdio } from '@modelcontextprotocol/server/stdio';
import { openAuditLog } from '../audit/index.js';
import { ConfigStore, loadConfigFile } from '../config/index.js';
import { defaultDeps, type Deps } from '../deps.js';
import { LocalIdentity } from '../inbound/local.js';
import { createLogger, type Logger } from '../log.js';
import { setupTracing } from '../observability/index.js';
import { Gateway } from './gateway.js';
import { createMcpServer } from './mcp.js';
import { LineTransport } from './stdio-transport.js';

/** How long a stdio gateway keeps its audit directory's lock once idle (see openAuditLog's keepLockMs). */
const STDIO_AUDIT_KEEP_LOCK_MS = 25;

export interface StdioOptions {
  configPath: string;
  credentialsPath: string;
  deps?: Deps;
  logger?: Logger;
  /** Default: the process's stdin and stdout. */
  stdin?: Readable;
  stdout?: Writable;
}

/** The limit of one stdio message when the config has no `server` section: server.maxBodyBytes's default. */
export const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024;

/**
 * `xaa-gateway stdio`: the desktop clients start the gateway and speak MCP on stdin/stdout, in
 * either protocol era: the SDK's serveStdio pins each connection to the era its opening message
 * speaks (2025 `initialize`, or 2026-07-28 requests with the `_meta` envelope) and serves it from
 * the same factory as HTTP. The agent is the clientInfo the client sent.
 */
export async function runStdio(opts: StdioOptions): Promise<void> {
  const deps = opts.deps ?? defaultDeps;
  const logger = opts.logger ?? createLogger();
  const config = new ConfigStore(loadConfigFile(opts.configPath));
  config.subscribe({
    onChange: (next) => logger.info('config reloaded', { path: next.path, tools: next.config.tools.length }),
    onInvalid: (message) => logger.error('config edit refused; the last good config stays in force', { error: message }),
  });
  config.watch();
  const o = config.current.config.observability;
  // Traces only: stdio has no HTTP listener for /metrics.
  const tracing = await setupTracing({ ...(o?.otlp ? { endpoint: o.otlp.endpoint } : {}), ...(o?.serviceName ? { serviceName: o.serviceName } : {}) });
  // Several desktop clients' gateways may share one audit directory (one config). Each keeps the lock
  // while its calls come back to back (one write and one fsync per round, no link/unlink), hands it over
  // after its round when another process marks that it waits, and lets go when idle this long (an idle
  // holder does not look at the mark, so this is what another process's first call may wait).
  const audit = await openAuditLog(config.current.auditDir, deps, { keepLockMs: STDIO_AUDIT_KEEP_LOCK_MS });
  const identity = new LocalIdentity({ credentialsPath: opts.credentialsPath, config, deps });
  const gateway = new Gateway({ config, identity, audit, deps, logger });

  // The instance(s) serving the connection: serveStdio also builds a short-lived one for a
  // server/discover probe. Each is told when the tools change; on a 2026-07-28 connection the
  // entry turns that into a notification on the client's subscriptions/listen stream.
  const servers = new Set<Server>();
  const notify = () => {
    for (const s of servers) s.sendToolListChanged().catch(() => {});
  };
  const offConfig = gateway.onToolsChanged(notify);
  // Signing in (or out, or as someone else) changes the tools the client may see when upstream MCP
  // servers are configured: their tools are listed with the user's token.
  let signedInAs = await whoIsSignedIn(identity);
  const offCredentials = identity.watch(() => {
    void whoIsSignedIn(identity).then((who) => {
      if (who === signedInAs) return;
      signedInAs = who;
      logger.info('sign-in changed', { signedIn: who !== undefined });
      if (config.current.config.upstreams.some((u) => u.enabled)) notify();
    });
  });

  const transport = new LineTransport({
    stdin: opts.stdin ?? process.stdin,
    stdout: opts.stdout ?? process.stdout,
    // Same limit as an HTTP request body (server.maxBodyBytes), read at each message.
    maxMessageBytes: () => config.current.config.server?.maxBodyBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
    // tools/call in progress at once on this connection (stdio.maxConcurrentToolCalls), read at each call.
    maxToolCalls: () => config.current.config.stdio.maxConcurrentToolCalls,
  });
  const handle = serveStdio(
    () => {
      const server = createMcpServer(gateway);
      servers.add(server);
      const previous = server.onclose;
      server.onclose = () => {
        servers.delete(server);
        previous?.();
      };
      return server;
    },
    { transport, onerror: (e) => logger.warn('stdio: message refused or failed', { error: e.message }) },
  );
  logger.info('xaa-gateway stdio ready', { config: config.current.path, auditDir: config.current.auditDir });
  // The client closing stdin ends the gateway.
  await transport.closed;
  await handle.close().catch(() => {});
  offConfig();
  offCredentials();
  config.close();
  await gateway.close();
  await audit.close();
  await tracing.shutdown();
}

async function whoIsSignedIn(identity: LocalIdentity): Promise<string | undefined> {
  try {
    const { user } = await identity.resolve();
    return `${user.iss} ${user.sub}`;
  } catch {
    return undefined;
  }
}
