import type { Server as NodeServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdaptorServer } from '@hono/node-server';
import { Hono } from 'hono';
import { cors } from 'hono/cors';
import type { AdminEnv } from '../admin/index.js';
import type { AuditJwks } from '../audit/signing-key.js';
import type { AuditSink } from '../audit/types.js';
import type { ConfigStore, ServerConfig } from '../config/index.js';
import type { Deps } from '../deps.js';
import { GatewayError, payloadTooLarge, toGatewayError } from '../errors.js';
import { InboundDpop } from '../inbound/http/dpop.js';
import type { AccessTokenService } from '../inbound/http/tokens.js';
import type { Logger } from '../log.js';
import { metricsRoute, type MetricsRouteOptions } from '../observability/index.js';
import type { Store } from '../store/types.js';
import type { Gateway } from '../gateway/index.js';
import { Admission, admissionControl, type AdmissionStats } from './http/admission.js';
import { bearerAuth, type BearerEnv } from './http/auth.js';
import { bodyLimitCheap } from './http/body-limit.js';
import { JSONRPC_SERVER_ERROR, jsonRpcError, jsonRpcRefusal } from './http/errors.js';
import { readiness } from './http/health.js';
import { allowedHostnames, hostGuard } from './http/host.js';
import { InFlight, whenResponseDone } from './http/inflight.js';
import { McpEndpoint } from './http/mcp-endpoint.js';
import { protectedResourceMetadata } from './http/metadata.js';
import { allowedOriginSet, originGuard } from './http/origin.js';
import type { McpSessions, McpSessionsOptions } from './http/sessions.js';
import { mcpSessionStoreOf, type McpSessionStore } from '../store/mcp-sessions.js';
import { gatewayUrls, MCP_PATH, RESOURCE_METADATA_PATH, type GatewayUrls } from './http/urls.js';

/** Where the audit checkpoint keys are published. */
export const AUDIT_KEYS_PATH = '/.well-known/xaa-audit-keys';

export { MCP_REQUIRED_SCOPES, SUPPORTED_SCOPES, type VerifiedBearer } from './http/auth.js';
export { bearerChallenge } from './http/errors.js';
export { gatewayUrls, MCP_PATH, RESOURCE_METADATA_PATH, type GatewayUrls } from './http/urls.js';
export type { SessionOwner } from './http/sessions.js';

export interface HttpAppOptions {
  config: ConfigStore;
  gateway: Gateway;
  store: Store;
  tokens: AccessTokenService;
  deps: Deps;
  logger: Logger;
  /** The gateway's OAuth authorization server (createAuthorizationServer), mounted at the root. */
  authorizationServer?: Hono;
  /** The admin API and sign-in (createAdminRouter(...).app), mounted at /admin. */
  admin?: Hono<AdminEnv>;
  /** The Shared Signals receiver (createSsfReceiver): POST /ssf/events, mounted at the root; stopped by close(). */
  ssf?: { routes: Hono; stop(): Promise<void> };
  /** The SCIM receiver (createScimReceiver): /scim/v2, mounted at the root. */
  scim?: { routes: Hono };
  /** GET /metrics (Prometheus): loopback scrapers, or others with one of the bearer tokens. */
  metrics?: MetricsRouteOptions;
  sessions?: Pick<McpSessionsOptions, 'idleMs' | 'maxPerOwner' | 'maxSessions'> & {
    /** How often idle and revoked sessions are looked for. Default 60 s. */
    sweepMs?: number;
  };
  /** Where 2025-era MCP sessions are kept; default: the `store`'s (shared by every instance on it). */
  mcpSessions?: McpSessionStore;
  /** The audit sink, asked by /readyz whether a record could be written now (calls fail closed without it). */
  audit?: Pick<AuditSink, 'check'>;
  /** The audit sink is the fleet's PostgreSQL table: readiness asks it, not the audit directory. */
  auditInDatabase?: boolean;
  /** The audit public keys (every instance's with the PostgreSQL sink), served at /.well-known/xaa-audit-keys. */
  auditKeys?: () => Promise<AuditJwks>;
  /** DPoP proof checks at /mcp (server.dpop); default: this app's own (nonces are stateless, the replay cache per instance). */
  dpop?: InboundDpop;
}

export interface HttpApp {
  app: Hono;
  /** 2025-era MCP sessions (records shared through the store, GET streams held here). */
  sessions: McpSessions;
  /** /mcp for both eras: its event bus (tools/list_changed) and the streams held on this instance. */
  mcp: McpEndpoint;
  /** Admission control at /mcp (server.overload): requests in progress, queued, refused. */
  admission: AdmissionStats;
  readonly draining: boolean;
  /** From now on every request but /healthz and /readyz gets 503; resolves true once nothing is in flight, false after `timeoutMs`. */
  drain(timeoutMs: number): Promise<boolean>;
  /** Closes every MCP session (ending their SSE streams) and stops the sweep timer. */
  close(): Promise<void>;
}

type AppEnv = BearerEnv & { Variables: { heldStream?: boolean } };

/**
 * The remote gateway's HTTP surface: MCP over Streamable HTTP at /mcp behind the protected
 * resource's bearer check, RFC 9728 metadata, health and readiness, and (optionally) the
 * gateway's authorization server at the root.
 */
export function createHttpApp(opts: HttpAppOptions): HttpApp {
  const server = (): ServerConfig => {
    const s = opts.config.current.config.server;
    if (!s) throw new GatewayError('config_invalid', 'the config has no "server" section: set server.publicUrl (and server.encryptionKey) to serve over HTTP');
    return s;
  };
  server(); // fail at start, not at the first request
  let urlsCache: { hash: string; urls: GatewayUrls; origins: Set<string>; hosts: string[] } | undefined;
  const current = () => {
    const rt = opts.config.current;
    if (urlsCache?.hash !== rt.hash) {
      const urls = gatewayUrls(server());
      // server.allowedHosts: names besides publicUrl's that clients reach the gateway by.
      const extraHosts = server().allowedHosts;
      urlsCache = {
        hash: rt.hash,
        urls,
        origins: allowedOriginSet(urls.origin, server().allowedOrigins, opts.logger),
        hosts: allowedHostnames(server().publicUrl, extraHosts),
      };
    }
    return urlsCache;
  };
  current();

  const mcp = new McpEndpoint({
    gateway: opts.gateway,
    store: opts.store,
    records: opts.mcpSessions ?? mcpSessionStoreOf(opts.store),
    deps: opts.deps,
    logger: opts.logger,
    resource: () => current().urls.resource,
    ...(opts.sessions ? { sessions: opts.sessions } : {}),
  });
  const sessions = mcp.sessions;
  const sweep = setInterval(
    () => void sessions.sweep().catch((e: unknown) => opts.logger.warn('MCP session sweep failed', { error: e })),
    opts.sessions?.sweepMs ?? 60_000,
  );
  sweep.unref();

  const inflight = new InFlight();
  // Read at each request: a hot reload of server.overload applies to the next request.
  const overload = () => server().overload;
  const admission = new Admission(overload);
  opts.metrics?.metrics.trackAdmission(admission);
  let draining = false;
  const app = new Hono<AppEnv>();

  // Shutdown gate and in-flight accounting, in front of everything (the authorization server too).
  app.use('*', async (c, next) => {
    if (c.req.path === '/healthz' || c.req.path === '/readyz') return next();
    if (draining) {
      return jsonRpcRefusal(new GatewayError('shutting_down', 'Service unavailable: the gateway is shutting down; retry shortly'), { Connection: 'close' });
    }
    const end = inflight.begin();
    try {
      await next();
    } catch (e) {
      end();
      throw e;
    }
    // Streams the client holds open (2025 GET, 2026 subscriptions/listen) are not "in flight": shutdown ends them.
    if (c.get('heldStream')) end();
    else whenResponseDone(c, end);
  });

  if (opts.auditKeys) {
    const keys = opts.auditKeys;
    // Public keys that verify the audit checkpoints (JWKS, RFC 7517). Pin a copy off this host: keys
    // read from here are only as trustworthy as the gateway and its database (docs/audit.md).
    app.get(AUDIT_KEYS_PATH, async (c) => c.json(await keys(), 200, { 'Cache-Control': 'public, max-age=300' }));
  }
  app.get('/healthz', (c) => c.json({ status: 'ok' }, 200, { 'Cache-Control': 'no-store' }));
  // Overload does not make the instance not-ready: under a load that saturates the fleet, balancers would
  // take instances out one after another and pile their share on the rest. A refusal (503, Retry-After)
  // costs the overloaded instance almost nothing; /readyz stays about whether it can serve at all.
  app.get('/readyz', async (c) => {
    const r = await readiness({
      config: opts.config,
      store: opts.store,
      draining,
      ...(opts.audit ? { audit: opts.audit } : {}),
      ...(opts.auditInDatabase ? { auditInDatabase: true } : {}),
    });
    return c.json(r.ready ? { status: 'ready', checks: r.checks } : { status: 'not_ready', failing: r.failing, checks: r.checks }, r.ready ? 200 : 503, {
      'Cache-Control': 'no-store',
    });
  });

  if (opts.metrics) {
    // Tokenless loopback scrapes make /metrics a DNS rebinding target: Host is checked (IP literals pass).
    app.use(
      '/metrics',
      hostGuard(() => current().hosts, { loopbackAndIpLiterals: true }),
    );
    app.get('/metrics', metricsRoute(opts.metrics));
  }

  const metadata = cors({ origin: '*', allowMethods: ['GET', 'OPTIONS'], maxAge: 600 });
  for (const path of [RESOURCE_METADATA_PATH, `${RESOURCE_METADATA_PATH}${MCP_PATH}`]) {
    app.use(path, metadata);
    app.get(path, (c) => c.json(protectedResourceMetadata(current().urls, server().dpop), 200, { 'Cache-Control': 'public, max-age=300' }));
  }

  // /mcp: Host and Origin (DNS rebinding) -> CORS for listed browser origins -> admission (overload) -> bearer -> body size -> MCP.
  app.use(
    MCP_PATH,
    hostGuard(() => current().hosts),
  );
  app.use(
    MCP_PATH,
    originGuard(() => current().origins),
  );
  const mcpCors = cors({
    origin: (origin) => (current().origins.has(origin) ? origin : null),
    allowMethods: ['GET', 'POST', 'DELETE', 'OPTIONS'],
    // DPoP: the proof goes up (RFC 9449 §7.1), the nonce for the next one comes down (§9).
    allowHeaders: ['Authorization', 'Content-Type', 'Accept', 'Mcp-Session-Id', 'MCP-Protocol-Version', 'Mcp-Method', 'Mcp-Name', 'Last-Event-ID', 'DPoP'],
    exposeHeaders: ['Mcp-Session-Id', 'MCP-Protocol-Version', 'WWW-Authenticate', 'DPoP-Nonce'],
    maxAge: 600,
  });
  // CORS is for browsers, which always send Origin on cross-origin and preflight requests (Fetch
  // standard §3.1). Applied to requests without it, hono's cors() touches c.res before the handler,
  // and every response is then rebuilt around a stream: a cost on every agent's call for nothing.
  app.use(MCP_PATH, (c, next) => (c.req.header('origin') === undefined ? next() : mcpCors(c, next)));
  // Admission before the bearer check, so that an overloaded instance refuses without reading its store.
  app.use(MCP_PATH, admissionControl(admission, overload));
  const dpop = opts.dpop ?? new InboundDpop({ runtime: () => opts.config.current, now: opts.deps.now });
  app.use(MCP_PATH, bearerAuth({ tokens: opts.tokens, urls: () => current().urls, logger: opts.logger, dpop }));
  app.use(
    MCP_PATH,
    bodyLimitCheap(
      () => server().maxBodyBytes,
      () => jsonRpcRefusal(payloadTooLarge(server().maxBodyBytes)),
    ),
  );
  app.on(['GET', 'POST', 'DELETE'], MCP_PATH, async (c) => {
    const { response, held } = await mcp.handle(c.req.raw, c.get('bearer'));
    if (held) c.set('heldStream', true);
    return response;
  });
  app.all(MCP_PATH, () => jsonRpcError(405, JSONRPC_SERVER_ERROR, 'Method not allowed.', { Allow: 'GET, POST, DELETE' }));

  if (opts.admin) app.route('/admin', opts.admin);
  if (opts.ssf) app.route('/', opts.ssf.routes);
  if (opts.scim) app.route('/', opts.scim.routes);
  if (opts.authorizationServer) app.route('/', opts.authorizationServer);

  app.onError((e, c) => {
    const err = toGatewayError(e);
    opts.logger.error('HTTP request failed', { path: c.req.path, method: c.req.method, code: err.code, error: err.message });
    return jsonRpcRefusal(err.code === 'store_unavailable' ? err : new GatewayError('internal', err.message));
  });

  return {
    app: app as unknown as Hono,
    sessions,
    mcp,
    admission,
    get draining() {
      return draining;
    },
    drain(timeoutMs) {
      draining = true;
      return inflight.idle(timeoutMs);
    },
    async close() {
      clearInterval(sweep);
      // Polling stops (and acknowledges) before the audit log and the store it writes to are closed.
      await opts.ssf?.stop();
      await mcp.close();
    },
  };
}

// ---------------------------------------------------------------------------------------------

export interface ServeHttpOptions extends HttpAppOptions {
  /** The gateway's audit sink: flushed and closed at shutdown. */
  audit: AuditSink;
  /** Override server.host / server.port (CLI --host/--port; 0 = any free port). */
  host?: string;
  port?: number;
  /** How long shutdown waits for in-flight requests and tool calls. Default 20 s. */
  drainTimeoutMs?: number;
  /** Shut down on SIGTERM/SIGINT (a second signal exits at once). Default true. */
  handleSignals?: boolean;
}

export interface HttpServer {
  http: HttpApp;
  node: NodeServer;
  /** Where the socket listens, e.g. http://127.0.0.1:4300. */
  listenUrl: string;
  /** What MCP clients are given: `<publicUrl>/mcp`. */
  mcpUrl: string;
  port: number;
  /** Graceful shutdown (idempotent): see serveHttp. */
  shutdown(reason?: string): Promise<void>;
  /** Settles once shutdown finished. */
  closed: Promise<void>;
}

/**
 * Listens with @hono/node-server. Shutdown (SIGTERM, SIGINT or `shutdown()`): new requests get 503
 * (load balancers see /readyz fail) while in-flight requests and tool calls finish, bounded by
 * `drainTimeoutMs`; then MCP sessions and their streams are closed, the listener stops, queued audit
 * records are flushed and the audit log and the store are closed.
 */
export async function serveHttp(opts: ServeHttpOptions): Promise<HttpServer> {
  const http = createHttpApp(opts);
  const cfg = opts.config.current.config.server!;
  const host = opts.host ?? cfg.host;
  const node = createAdaptorServer({
    fetch: http.app.fetch,
    hostname: host,
    // Node checks these timeouts every connectionsCheckingInterval (30 s by default): every second, so
    // a slow request ends within a second of its limit (node's own requestTimeout is 300 s).
    serverOptions: {
      requestTimeout: cfg.requestTimeoutSeconds * 1000,
      headersTimeout: Math.min(cfg.headersTimeoutSeconds, cfg.requestTimeoutSeconds) * 1000,
      connectionsCheckingInterval: 1000,
    },
  }) as NodeServer;
  try {
    await new Promise<void>((resolve, reject) => {
      node.once('error', reject);
      node.listen(opts.port ?? cfg.port, host, () => {
        node.off('error', reject);
        resolve();
      });
    });
  } catch (e) {
    await http.close();
    const code = (e as NodeJS.ErrnoException).code;
    throw new GatewayError(
      'config_invalid',
      `cannot listen on ${host}:${opts.port ?? cfg.port} (${code ?? (e as Error).message}); change server.port/server.host or pass --port/--host`,
      { cause: e },
    );
  }
  const port = (node.address() as AddressInfo).port;
  const listenUrl = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => (resolveClosed = r));
  let shuttingDown: Promise<void> | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (shuttingDown) {
      opts.logger.warn('second signal: exiting without waiting', { signal });
      process.exit(1);
    }
    void shutdown(signal);
  };

  const shutdown = (reason = 'shutdown') =>
    (shuttingDown ??= (async () => {
      const drainMs = opts.drainTimeoutMs ?? 20_000;
      opts.logger.info('shutting down: refusing new requests, waiting for those in flight', { reason, inFlightTimeoutMs: drainMs });
      const idle = await http.drain(drainMs);
      if (!idle) opts.logger.warn('shutdown: requests still in flight after the drain timeout are cut off', { timeoutMs: drainMs });
      await http.close();
      opts.logger.debug('shutdown: sessions closed');
      await new Promise<void>((resolve) => {
        node.close(() => resolve());
        node.closeIdleConnections();
        // Streams were ended above; anything left is a stuck client.
        setTimeout(() => node.closeAllConnections(), 1_000).unref();
      });
      opts.logger.debug('shutdown: listener closed');
      const step = async (what: string, fn: () => Promise<void>) => {
        try {
          await fn();
        } catch (e) {
          opts.logger.error(`shutdown: ${what} failed`, { error: toGatewayError(e).message });
        }
      };
      await step('closing upstream connections, flushing the audit log', () => opts.gateway.close());
      await step('closing the audit log', () => opts.audit.close());
      await step('closing the store', () => opts.store.close());
      opts.config.close();
      if (opts.handleSignals !== false) {
        process.off('SIGTERM', onSignal);
        process.off('SIGINT', onSignal);
      }
      opts.logger.info('xaa-gateway stopped', { reason });
      resolveClosed();
    })());

  if (opts.handleSignals !== false) {
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  }
  return { http, node, listenUrl, mcpUrl: gatewayUrls(cfg).resource, port, shutdown, closed };
}
