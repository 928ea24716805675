import type { Readable, Writable } from 'node:stream';
import type { Server } from '@modelcontextprotocol/server';
import { serveStdio } from '@modelcontextprotocol/server/stdio';
import { dirname, join, resolve } from 'node:path';
import { startCheckpoints } from '../../audit/checkpointer.js';
import { openAuditLog, recordUnknownOutcomes } from '../../audit/index.js';
import { AUDIT_KEY_FILE } from '../../audit/signing-key.js';
import { ConfigStore, loadConfigFile, type RuntimeConfig } from '../../config/index.js';
import { defaultDeps, type Deps } from '../../deps.js';
import { LocalIdentity } from '../../inbound/local.js';
import type { Logger } from '../../log.js';
import { setupTracing } from '../../observability/index.js';
import { Gateway } from '../../gateway/index.js';
import { createMcpServer } from '../mcp.js';
import { LineTransport } from './transport.js';

/** stdio gateways claim the audit chains stdio-1, stdio-2... */
const STDIO_CHAIN_PREFIX = 'stdio-';

/** The limit of one stdio message when the config has no `server` section: server.maxBodyBytes's default. */
export const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024;

export interface StdioGatewayOptions {
  configPath: string;
  credentialsPath: string;
  /** The config as already loaded from configPath (the stdio command reads it to choose how to serve). */
  loaded?: RuntimeConfig;
  deps?: Deps;
  logger: Logger;
}

/** One desktop connection: a client's stdin and stdout, or a relay's socket (share/host.ts). */
export interface StdioConnection {
  /** Settles once the connection closed (its input ended, or close()). */
  closed: Promise<void>;
  close(): Promise<void>;
}

/**
 * The gateway of the local user, for one or more stdio connections: one config, one audit chain, one
 * token cache. `xaa-gateway stdio` serves its own client with it; the shared host (share/host.ts)
 * serves every relayed client of the same config and sign-in.
 */
export interface StdioGateway {
  readonly config: ConfigStore;
  /** Serve MCP on one connection, in the era its opening message speaks. */
  connect(input: Readable, output: Writable): StdioConnection;
  /** Calls in progress finished (up to 1.5 s), upstreams closed, final checkpoint written, audit closed. */
  close(): Promise<void>;
}

export async function openStdioGateway(opts: StdioGatewayOptions): Promise<StdioGateway> {
  const deps = opts.deps ?? defaultDeps;
  const logger = opts.logger;
  const config = new ConfigStore(opts.loaded ?? loadConfigFile(opts.configPath));
  config.subscribe({
    onChange: (next) => logger.info('config reloaded', { path: next.path, tools: next.config.tools.length }),
    onInvalid: (message) => logger.error('config edit refused; the last good config stays in force', { error: message }),
  });
  config.watch();
  const o = config.current.config.observability;
  // Traces only: stdio has no HTTP listener for /metrics.
  const tracing = await setupTracing({ ...(o?.otlp ? { endpoint: o.otlp.endpoint } : {}), ...(o?.serviceName ? { serviceName: o.serviceName } : {}) });
  // Several desktop clients' gateways may share one audit directory (one config). Each claims a chain of
  // its own (stdio-1, stdio-2...: the first no live process holds) and keeps its lock for life, so they
  // never wait for each other; a chain left by a process that exited is continued by the next one.
  const audit = await openAuditLog(config.current.auditDir, deps, { claim: { prefix: STDIO_CHAIN_PREFIX } });
  // Its chain is its own: calls a crashed predecessor on this chain left without an outcome are recorded
  // as "outcome unknown" (docs/audit.md).
  let checkpoints: { stop(): Promise<void> };
  let unknown: Awaited<ReturnType<typeof recordUnknownOutcomes>>;
  try {
    unknown = await recordUnknownOutcomes(config.current.auditDir, audit.instance, audit);
    // Signed checkpoints of this chain (now, every audit.checkpoints.intervalSeconds, at exit), with the
    // desktop user's audit key beside the credentials file unless audit.signingKeyFile says otherwise.
    const a = config.current.config.audit;
    checkpoints = await startCheckpoints({
      sink: audit,
      keyFile: a.signingKeyFile ? resolve(config.current.dir, a.signingKeyFile) : join(dirname(opts.credentialsPath), AUDIT_KEY_FILE),
      intervalSeconds: a.checkpoints.intervalSeconds,
      ...(a.checkpoints.copyFile ? { copyFile: resolve(config.current.dir, a.checkpoints.copyFile) } : {}),
      now: deps.now,
      logger,
    });
  } catch (e) {
    await audit.close().catch(() => {});
    config.close();
    throw e;
  }
  if (unknown.length) {
    logger.warn(
      'calls whose outcome was lost when a previous gateway stopped are recorded as outcome unknown; check them at the SaaS before retrying (xaa-gateway audit query --outcome unknown)',
      {
        calls: unknown.length,
        chain: audit.instance,
      },
    );
  }
  const identity = new LocalIdentity({ credentialsPath: opts.credentialsPath, config, deps });
  const gateway = new Gateway({ config, identity, audit, deps, logger });

  // The instances serving the connections: serveStdio also builds a short-lived one for a
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

  const connect = (input: Readable, output: Writable): StdioConnection => {
    const transport = new LineTransport({
      stdin: input,
      stdout: output,
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
    // The connection's end closes its server instance; a call still in progress goes on in the gateway
    // and gets its outcome record, its answer has nobody to go to.
    const closed = transport.closed.then(() => handle.close().catch(() => {}));
    return { closed, close: () => transport.close().then(() => closed) };
  };

  const close = async () => {
    offConfig();
    offCredentials();
    config.close();
    await gateway.close();
    await checkpoints.stop().catch((e: unknown) => logger.warn('the final audit checkpoint could not be written', { error: e }));
    await audit.close();
    await tracing.shutdown();
  };
  return { config, connect, close };
}

async function whoIsSignedIn(identity: LocalIdentity): Promise<string | undefined> {
  try {
    const { user } = await identity.resolve();
    return `${user.iss} ${user.sub}`;
  } catch {
    return undefined;
  }
}
