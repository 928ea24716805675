import { createHash } from 'node:crypto';
import { isAbsolute, join, resolve } from 'node:path';
import { auditInstanceName, recordUnknownOutcomes, type AuditSink } from '../audit/index.js';
import { startCheckpoints } from '../audit/checkpointer.js';
import { auditSinkKind, openAudit, type AuditSinkKind } from '../audit/open-sink.js';
import { AUDIT_KEY_FILE, type AuditJwks } from '../audit/signing-key.js';
import { ConfigStore, loadConfigFile, startFleetConfig, type FleetConfigSync } from '../config/index.js';
import { defaultDeps, type Deps } from '../deps.js';
import { GatewayError } from '../errors.js';
import { createAuthorizationServer } from '../inbound/http/as/index.js';
import { HttpIdentity } from '../inbound/http/identity.js';
import { AccessTokenService } from '../inbound/http/tokens.js';
import { createLogger, type Logger } from '../log.js';
import { createObservability, instrumentAuditSink, metricsTokens } from '../observability/index.js';
import { createAdminRouter } from '../admin/index.js';
import { ControlService, SwitchSnapshot } from '../control/index.js';
import { createScimReceiver } from '../scim/index.js';
import { createSsfReceiver, lookupUsersInStore } from '../ssf/index.js';
import { describeStoreLocation, openStore, type ListenerOptions } from '../store/index.js';
import { AuthStateCache, withAuthState } from '../store/auth-state.js';
import type { Redis } from 'ioredis';
import { Gateway } from '../gateway/index.js';
import { gatewayUrls, serveHttp, type HttpServer } from './http.js';

export interface ServeOptions {
  configPath: string;
  /** Override server.host / server.port. */
  host?: string;
  port?: number;
  /** PostgreSQL instead of the embedded store (DATABASE_URL). */
  databaseUrl?: string;
  /** Redis shared by the instances (REDIS_URL): rate limits count per deployment instead of per process. */
  redisUrl?: string;
  deps?: Deps;
  logger?: Logger;
  /** Default true; tests drive shutdown() themselves. */
  handleSignals?: boolean;
  /** How often the signing key's age is checked (server.signingKeyRotationDays). Default hourly; tests shorten it. */
  keyRotationCheckMs?: number;
  /**
   * Where tools, resources and upstreams come from (XAA_CONFIG_SOURCE): "store" (shared by a fleet;
   * the default with DATABASE_URL) or "file" (the default without; with DATABASE_URL an opt-out that
   * leaves this instance out of the fleet's config). "store" also works on the embedded store.
   */
  configSource?: string;
  /** Store schema (test isolation; default "public"). */
  storeSchema?: string;
  /** PostgreSQL LISTEN connection re-open backoff (tests shorten it). */
  listen?: ListenerOptions;
  /** Revision polls of kill switches and the fleet config (ms; default 500 with PostgreSQL, tests turn them off). */
  pollMs?: number;
}

const PURGE_EVERY_MS = 10 * 60_000;
const WIPE_ASSERTIONS_EVERY_MS = 15_000;
/** serve keeps its audit directory locked until idle this long; a CLI writing there (config import) gets it then. */
const AUDIT_KEEP_LOCK_MS = 1_000;
const KEY_ROTATION_CHECK_MS = 60 * 60_000;
const DAY_MS = 86_400_000;

/**
 * `xaa-gateway serve`: the remote gateway for many users. Opens the audit log, the store (embedded
 * PGlite in server.dataDir, or PostgreSQL with DATABASE_URL), the gateway's token service and
 * authorization server, and serves /mcp over Streamable HTTP until SIGTERM.
 */
export async function runServe(opts: ServeOptions): Promise<HttpServer> {
  const deps = opts.deps ?? defaultDeps;
  const logger = opts.logger ?? createLogger();
  const runtime = loadConfigFile(opts.configPath);
  const server = runtime.config.server;
  if (!server || !runtime.encryptionKey) {
    throw new GatewayError(
      'config_invalid',
      `${runtime.path}: "server" is missing; \`xaa-gateway serve\` needs at least server.publicUrl (the origin MCP clients use, e.g. "https://mcp.acme.example") and server.encryptionKey ({"env": "XAA_ENCRYPTION_KEY"})`,
    );
  }
  const config = new ConfigStore(runtime);
  config.subscribe({
    onChange: (next, previous) => {
      logger.info('config reloaded', {
        path: next.path,
        tools: next.config.tools.length,
        ...(next.fleet ? { source: 'store', revision: next.fleet.revision } : {}),
      });
      if (next.config.server?.publicUrl !== previous.config.server?.publicUrl)
        logger.warn('server.publicUrl changed: restart the gateway for tokens and metadata to use it');
    },
    onInvalid: (message) => logger.error('config edit refused; the last good config stays in force', { error: message }),
  });
  config.watch();

  const observability = await createObservability(runtime, logger);
  // This instance's own hash chain (audit.instance / XAA_INSTANCE_ID / host name), in the fleet's
  // PostgreSQL table (the default with DATABASE_URL) or in the audit directory (instances sharing a
  // directory do not wait for each other).
  const instance = auditInstanceName(runtime.config.audit.instance);
  let sink: AuditSinkKind;
  let opened: Awaited<ReturnType<typeof openAudit>>;
  try {
    sink = auditSinkKind(runtime.config.audit.sink, opts.databaseUrl, runtime.path);
    opened = await openAudit({
      kind: sink,
      dir: runtime.auditDir,
      instance,
      ...(opts.databaseUrl ? { databaseUrl: opts.databaseUrl } : {}),
      ...(opts.storeSchema ? { schema: opts.storeSchema } : {}),
      deps,
      // File sink: the chain's lock is kept while calls keep coming: one write and one fsync per round.
      keepLockMs: AUDIT_KEEP_LOCK_MS,
      onWarning: (m) => logger.warn(m),
    });
  } catch (e) {
    config.close();
    throw e;
  }
  // The final checkpoint is signed before the sink closes (at shutdown, by serveHttp's close).
  let stopCheckpoints: (() => Promise<void>) | undefined;
  const raw = opened.sink;
  const audit = instrumentAuditSink<AuditSink>(
    {
      append: (event, options) => raw.append(event, options),
      check: () => raw.check?.() ?? Promise.resolve(undefined),
      close: async () => {
        await stopCheckpoints?.().catch((e: unknown) => logger.warn('the final audit checkpoint could not be written', { error: e }));
        return raw.close();
      },
    },
    observability.metrics,
  );
  // Where the console, and this instance's recovery below, read the log: every instance's chain.
  const auditSource = opened.source;
  let auditKeys: AuditJwks;
  // Calls in flight when the previous run died (kill -9, OOM, power) have a decision and no outcome:
  // recorded as "outcome unknown" before this run serves a call (docs/audit.md).
  try {
    const unknown = await recordUnknownOutcomes(auditSource, instance, audit);
    if (unknown.length) {
      logger.warn(
        'calls whose outcome was lost when the gateway stopped are recorded as outcome unknown; check them at the SaaS before retrying (xaa-gateway audit query --outcome unknown)',
        {
          calls: unknown.length,
          traceIds: unknown.slice(0, 20).map((r) => r.traceId),
        },
      );
    }
    // Signed checkpoints of this instance's chain head: now (sealing what a previous run left), every
    // audit.checkpoints.intervalSeconds, and at shutdown; the public keys go where verifiers find them.
    const a = runtime.config.audit;
    const checkpoints = await startCheckpoints({
      sink: opened.sink,
      keyFile: a.signingKeyFile
        ? resolve(runtime.dir, a.signingKeyFile)
        : join(isAbsolute(server.dataDir) ? server.dataDir : resolve(runtime.dir, server.dataDir), AUDIT_KEY_FILE),
      intervalSeconds: a.checkpoints.intervalSeconds,
      ...(a.checkpoints.copyFile ? { copyFile: resolve(runtime.dir, a.checkpoints.copyFile) } : {}),
      now: deps.now,
      logger,
    });
    stopCheckpoints = checkpoints.stop;
    auditKeys = checkpoints.key.jwks;
    await opened.sink.publishKeys?.(auditKeys);
  } catch (e) {
    await audit.close().catch(() => {});
    await auditSource.close?.();
    config.close();
    throw e;
  }
  const configSource = opts.configSource || (opts.databaseUrl ? 'store' : 'file');
  if (configSource !== 'store' && configSource !== 'file') {
    config.close();
    throw new GatewayError(
      'config_invalid',
      `XAA_CONFIG_SOURCE must be "store" (tools, resources and upstreams shared by the fleet in the store) or "file", not "${configSource}"`,
    );
  }
  let store: Awaited<ReturnType<typeof openStore>>;
  const storeOptions = {
    ...(opts.databaseUrl ? { databaseUrl: opts.databaseUrl } : {}),
    // Relative to the config file, like audit.dir.
    dataDir: isAbsolute(server.dataDir) ? server.dataDir : resolve(runtime.dir, server.dataDir),
    ...(opts.storeSchema ? { schema: opts.storeSchema } : {}),
  };
  let fleet: FleetConfigSync | undefined;
  try {
    store = await openStore({
      ...storeOptions,
      encryptionKey: runtime.encryptionKey,
      now: deps.now,
      logger,
      ...(opts.listen ? { listen: opts.listen } : {}),
    });
    // One configuration for the fleet: tools, resources and upstreams from the shared store (seeded
    // from this file when it has none), before anything reads them. See src/config/fleet.ts.
    if (configSource === 'store') {
      fleet = await startFleetConfig({
        config,
        store,
        logger,
        where: describeStoreLocation(storeOptions),
        ...(opts.pollMs !== undefined ? { refreshMs: opts.pollMs } : {}),
      }).catch(async (e: unknown) => {
        await store.close().catch(() => {});
        throw e;
      });
    } else if (opts.databaseUrl) {
      logger.warn(
        "config: XAA_CONFIG_SOURCE=file with DATABASE_URL: this instance takes tools, resources and upstreams from its file, not from the fleet's shared store; admin edits here reach no other instance",
        { path: runtime.path },
      );
    } else {
      logger.info('config: the file is the source of truth', { source: 'file', path: runtime.path });
    }
  } catch (e) {
    config.close();
    await audit.close();
    await auditSource.close?.();
    await observability.shutdown();
    throw e;
  }

  let redis: Redis | undefined;
  try {
    // Sessions and revoked jtis in memory, kept fresh by the auth change feed (src/store/auth-state.ts):
    // a warm call reads no table. Everything below uses the store through it.
    const authState = new AuthStateCache(store, { now: deps.now, logger, ...(opts.pollMs !== undefined ? { pollMs: opts.pollMs } : {}) });
    await authState.start();
    store = withAuthState(store, authState);
    const urls = gatewayUrls(server);
    const tokens = new AccessTokenService({
      store,
      deps,
      issuer: urls.issuer,
      resource: urls.resource,
      ttlSeconds: () => config.current.config.server?.accessTokenTtlSeconds ?? server.accessTokenTtlSeconds,
    });
    // Signing keys age out: checked now (before the first token is signed) and then periodically.
    // With several instances on one store, the age is re-checked under the store's rotation lock,
    // so the one key that is due is rotated once (see SqlStore.rotateSigningKey).
    const rotateKeyIfDue = async () => {
      const days = config.current.config.server?.signingKeyRotationDays ?? server.signingKeyRotationDays;
      try {
        const r = await tokens.rotateIfOlderThan(days * DAY_MS);
        if (r) logger.info('signing key rotated', { kid: r.kid, previous: r.previous, verifyUntil: new Date(r.verifyUntil).toISOString(), afterDays: days });
      } catch (e) {
        logger.warn('signing key rotation check failed', { error: e });
      }
    };
    await rotateKeyIfDue();
    // Kill switches: the gateway's policy reads the snapshot on every call; ControlService keeps it current.
    const switches = new SwitchSnapshot();
    // Redis (REDIS_URL): the authorization server's and the tool calls' rate limits count per deployment.
    redis = opts.redisUrl ? await openRedis(opts.redisUrl, logger) : undefined;
    const sharedLimits = redis ? { redis, prefix: redisPrefix(config.current.config.server?.publicUrl) } : undefined;
    const gateway = new Gateway({
      config,
      identity: new HttpIdentity({ store, config, deps }),
      audit,
      deps,
      logger,
      metrics: observability.metrics,
      switches,
      ...(sharedLimits ? { sharedLimits } : {}),
    });
    const control = new ControlService({
      store,
      snapshot: switches,
      broker: gateway.broker,
      config,
      audit,
      deps,
      logger,
      ...(opts.pollMs !== undefined ? { refreshMs: opts.pollMs } : {}),
    });
    observability.metrics.trackStoreListen(() => store.listenStatus?.());
    const admin = createAdminRouter({ config, store, control, audit, auditSource, deps, logger, tokens });
    // Security events from the IdP (CAEP/RISC): push at /ssf/events, or polling when ssf.delivery is "poll".
    // The store remembers the SETs acted on, across restarts and instances sharing it.
    const ssf = createSsfReceiver({ config, control, audit, deps, logger, lookupUserByEmail: lookupUsersInStore(store), store });
    // SCIM 2.0 from the IdP at /scim/v2: deprovisioning sets the user's kill switch, shared by the fleet through the store.
    const scim = createScimReceiver({ config, store, control, audit, logger, now: deps.now, lookupUserByEmail: lookupUsersInStore(store) });
    await control.start();
    const authorizationServer = createAuthorizationServer({
      config,
      store,
      tokens,
      deps,
      logger,
      ...(sharedLimits ? { sharedLimits } : {}),
    });
    const http = await serveHttp({
      // 2025-era MCP sessions: the per-sign-in cap and the idle bound (server.sessions), read at start.
      sessions: { maxPerOwner: server.sessions.maxPerSignIn, idleMs: server.sessions.idleTimeoutSeconds * 1000 },
      config,
      gateway,
      store,
      tokens,
      deps,
      logger,
      authorizationServer,
      admin: admin.app,
      ssf,
      scim,
      audit,
      ...(sink === 'postgres' ? { auditInDatabase: true } : {}),
      // Every instance's keys from the fleet's table; this instance's own with the file sink.
      auditKeys: auditSource.keys ? () => auditSource.keys!().then((k) => (k.keys.length ? k : auditKeys)) : async () => auditKeys,
      ...(runtime.config.observability?.metrics.enabled === false
        ? {}
        : { metrics: { metrics: observability.metrics, tokens: metricsTokens(() => config.current, logger) } }),
      ...(opts.host !== undefined ? { host: opts.host } : {}),
      ...(opts.port !== undefined ? { port: opts.port } : {}),
      handleSignals: opts.handleSignals ?? true,
    });
    // Expired codes, pending requests, refresh tokens and revoked jtis are only garbage.
    const purge = setInterval(() => void store.purgeExpired(deps.now()).catch((e: unknown) => logger.warn('store purge failed', { error: e })), PURGE_EVERY_MS);
    purge.unref();
    void http.closed.then(() => clearInterval(purge));
    // draft-parecki-oauth-identity-assertion-gateways §4: an ID-JAG redeemed at sign-in is kept no
    // longer than the access tokens issued for it (which end with it); wiped within WIPE_ASSERTIONS_EVERY_MS.
    const wipe = setInterval(
      () => void store.wipeExpiredAssertions(deps.now()).catch((e: unknown) => logger.warn('wiping expired ID-JAGs failed', { error: e })),
      WIPE_ASSERTIONS_EVERY_MS,
    );
    wipe.unref();
    void http.closed.then(() => clearInterval(wipe));
    const keyRotation = setInterval(() => void rotateKeyIfDue(), opts.keyRotationCheckMs ?? KEY_ROTATION_CHECK_MS);
    keyRotation.unref();
    void http.closed.then(() => clearInterval(keyRotation));
    // Sessions revoked by a switch end their MCP streams now, not at the next sweep.
    control.onSessionsRevoked(async (ids) => {
      for (const sid of ids) await http.http.sessions.closeWhere({ sid }, 'user session revoked by an admin or a security event');
    });
    void http.closed.then(() => control.close());
    void http.closed.then(() => fleet?.close());
    void http.closed.then(() => auditSource.close?.());
    if (redis) void http.closed.then(() => redis?.quit()).catch(() => redis?.disconnect());
    ssf.start();
    // Spans still queued are flushed once the audit log and the store are closed.
    void http.closed.then(() => observability.shutdown()).catch((e: unknown) => logger.warn('trace export flush failed', { error: e }));
    const inForce = config.current.fleet;
    logger.info('xaa-gateway serving MCP over Streamable HTTP', {
      mcp: http.mcpUrl,
      listen: http.listenUrl,
      store: store.engine,
      audit: { sink, instance, where: auditSource.where },
      configSource: inForce ? 'store' : 'file',
      ...(inForce ? { configRevision: inForce.revision } : {}),
    });
    return http;
  } catch (e) {
    config.close();
    fleet?.close();
    redis?.disconnect();
    await store.close().catch(() => {});
    await audit.close().catch(() => {});
    await auditSource.close?.();
    await observability.shutdown().catch(() => {});
    throw e;
  }
}

/**
 * The Redis connection for shared rate limits. Commands fail at once while it is down (no offline
 * queue), so a request is never held waiting for Redis: the limits then count in process memory.
 * ioredis is imported only with REDIS_URL (a few MiB a process without it does not carry).
 */
async function openRedis(url: string, logger: Logger): Promise<Redis> {
  const { Redis } = await import('ioredis');
  const redis = new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 5_000 });
  let down = false;
  redis.on('error', (e: Error) => {
    if (!down) logger.warn('redis unavailable: rate limits count in this process until it is back', { error: e.message });
    down = true;
  });
  redis.on('ready', () => {
    if (down) logger.info('redis back: rate limits are shared again');
    down = false;
  });
  return redis;
}

/**
 * Rate-limit keys in a shared Redis are per deployment: the instances of one gateway (one publicUrl,
 * behind one balancer) count together; another gateway using the same Redis counts apart.
 */
export function redisPrefix(publicUrl: string | undefined): string {
  return publicUrl ? `xaa-gateway:${createHash('sha256').update(publicUrl.replace(/\/+$/, '')).digest('hex').slice(0, 16)}` : 'xaa-gateway';
}
