import type { Context } from 'hono';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { SharedLimits } from './rate-limit.js';
import type * as client from 'openid-client';
import type { ConfigStore, RuntimeConfig, ServerConfig } from '../../../config/index.js';
import type { Deps } from '../../../deps.js';
import { GatewayError } from '../../../errors.js';
import type { Logger } from '../../../log.js';
import type { Store } from '../../../store/types.js';
import { idpConfiguration } from '../../idp-client.js';
import { InboundDpop } from '../dpop.js';
import { IdpKeys } from './idp-keys.js';
import type { AccessTokenService } from '../tokens.js';
import type { ClientRegistry } from './clients.js';
import type { RateLimits } from './rate-limit.js';

export interface AuthorizationServerOptions {
  config: ConfigStore;
  store: Store;
  tokens: AccessTokenService;
  deps: Deps;
  logger: Logger;
  /**
   * The caller's address for rate limits. Default: the socket's peer address (@hono/node-server).
   * Behind a reverse proxy pass a function that reads the header that proxy sets.
   */
  clientAddress?: (c: Context) => string | undefined;
  /** Rate limits counted in Redis, shared by every instance (REDIS_URL); default: in this process. */
  sharedLimits?: SharedLimits;
  /** DPoP proof checks (server.dpop); default: this server's own (nonces are stateless, the replay cache per instance). */
  dpop?: InboundDpop;
}

/** Everything a route handler needs; the config is read through `runtime()` so hot reloads apply. */
export interface AsContext {
  store: Store;
  tokens: AccessTokenService;
  deps: Deps;
  logger: Logger;
  clients: ClientRegistry;
  limits: RateLimits;
  /** DPoP proofs at /token (RFC 9449 §5). */
  dpop: InboundDpop;
  /** The enterprise IdP's signing keys, for ID-JAGs redeemed at /token (id-jag-grant.ts). */
  idpKeys: IdpKeys;
  runtime(): RuntimeConfig;
  server(): ServerConfig;
  /** The issuer: server.publicUrl without its trailing slash (RFC 8414 §2). */
  issuer(): string;
  /** The gateway's MCP resource, `<publicUrl>/mcp` (RFC 8707). */
  resource(): string;
  /** openid-client configuration of the gateway's IdP client (discovered once per config version). */
  idp(): Promise<client.Configuration>;
  address(c: Context): string;
  /** Waits for the config clients to be in the store. */
  ready(): Promise<void>;
}

export function issuerOf(server: ServerConfig): string {
  return server.publicUrl.replace(/\/+$/, '');
}

export function createContext(opts: AuthorizationServerOptions, parts: { clients: ClientRegistry; limits: RateLimits; ready: () => Promise<void> }): AsContext {
  const server = (): ServerConfig => {
    const s = opts.config.current.config.server;
    if (!s) throw new GatewayError('config_invalid', 'the "server" section is missing from the config; it is needed to serve over HTTP');
    return s;
  };
  let idp: { hash: string; config: Promise<client.Configuration> } | undefined;
  let idpKeys: IdpKeys | undefined;
  const ctx: AsContext = {
    get idpKeys() {
      return (idpKeys ??= new IdpKeys(ctx));
    },
    store: opts.store,
    tokens: opts.tokens,
    deps: opts.deps,
    logger: opts.logger,
    clients: parts.clients,
    limits: parts.limits,
    dpop: opts.dpop ?? new InboundDpop({ runtime: () => opts.config.current, now: opts.deps.now }),
    runtime: () => opts.config.current,
    server,
    issuer: () => issuerOf(server()),
    resource: () => `${issuerOf(server())}/mcp`,
    idp() {
      const rt = opts.config.current;
      if (!idp || idp.hash !== rt.hash) {
        const pending = idpConfiguration(rt.config.idp.issuer, rt.idpClient, opts.deps, rt.config.idp.timeoutMs);
        const entry = { hash: rt.hash, config: pending };
        idp = entry;
        // A failed discovery is not cached: the next sign-in tries again.
        pending.catch(() => {
          if (idp === entry) idp = undefined;
        });
      }
      return idp.config;
    },
    address(c) {
      const custom = opts.clientAddress?.(c);
      if (custom) return custom;
      // Behind N trusted proxies, each appends the address it saw (RFC 7239 §5.2 semantics for the
      // de-facto X-Forwarded-For): the Nth entry from the right is the one no client can forge.
      const hops = opts.config.current.config.server?.trustProxyHops ?? 0;
      if (hops > 0) {
        const chain = (c.req.header('x-forwarded-for') ?? '')
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean);
        const forwarded = chain[chain.length - hops];
        if (forwarded) return forwarded;
      }
      try {
        return getConnInfo(c).remote.address ?? 'unknown';
      } catch {
        return 'unknown';
      }
    },
    ready: parts.ready,
  };
  return ctx;
}
