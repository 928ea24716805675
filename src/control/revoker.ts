import type { DroppedToken, TokenBroker } from '../broker/index.js';
import type { ConfigStore } from '../config/index.js';
import type { Deps } from '../deps.js';
import type { KillSwitch, RevocationSummary } from '../domain/control.js';
import { toGatewayError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Store } from '../store/types.js';
import { createXaaPort } from '../xaa/port.js';
import type { AuthorizationServerMetadata } from '../xaa/types.js';
import { revokeDownstreamTokens } from './revocation.js';

/** What the Revoker uses of ControlServiceOptions (see there). */
export interface RevokerOptions {
  store: Store;
  broker: Pick<TokenBroker, 'drop'>;
  config: ConfigStore;
  deps: Deps;
  logger: Logger;
  discover?: (issuer: string) => Promise<AuthorizationServerMetadata>;
  revocationTimeoutMs?: number;
}

const NO_REVOCATION: RevocationSummary = { downstreamTokens: 0, sessions: 0, refreshTokens: 0 };

/**
 * What a switch or a revocation takes away besides denying: the cached downstream tokens of this
 * instance (then revoked at their authorization servers in the background), the sessions and refresh
 * tokens in the store, and the MCP sessions of those sessions (through the onSessionsRevoked listeners).
 */
export class Revoker {
  readonly #discover: (issuer: string) => Promise<AuthorizationServerMetadata>;
  readonly #pending = new Set<Promise<unknown>>();
  readonly #revokedListeners = new Set<(sessionIds: string[]) => void | Promise<void>>();

  constructor(private readonly opts: RevokerOptions) {
    this.#discover = opts.discover ?? ((issuer) => createXaaPort(opts.deps).discover(issuer));
  }

  /** Resolves once the background work started so far (downstream revocations) has settled. */
  async idle(): Promise<void> {
    while (this.#pending.size) await Promise.allSettled([...this.#pending]);
  }

  /** Called with the ids of user sessions revoked here (serve closes their MCP sessions). */
  onSessionsRevoked(listener: (sessionIds: string[]) => void | Promise<void>): () => void {
    this.#revokedListeners.add(listener);
    return () => this.#revokedListeners.delete(listener);
  }

  /** What a switch revokes besides denying: cached tokens here, and sessions in the store. */
  async revokeFor(s: KillSwitch): Promise<RevocationSummary> {
    const dropped = this.#dropLocal(s);
    this.revokeDownstream(dropped);
    const now = this.opts.deps.now();
    let sessions = { sessionIds: [] as string[], refreshTokens: 0 };
    if (s.kind === 'user') {
      sessions = await this.opts.store.revokeSessionsOf({ user: s.user }, now);
      // A disabled admin loses the console too.
      await this.opts.store.revokeAdminSessionsOf(s.user, now);
    } else if (s.kind === 'agent') {
      sessions = await this.opts.store.revokeSessionsOf({ clientId: s.clientId }, now);
    }
    await this.notifyRevoked(sessions.sessionIds);
    return { ...NO_REVOCATION, downstreamTokens: dropped.length, sessions: sessions.sessionIds.length, refreshTokens: sessions.refreshTokens };
  }

  /** A switch set on another instance: drops (in the background) what this instance cached for it. */
  purgeLocalInBackground(s: KillSwitch): void {
    this.#track(this.#purgeLocal(s));
  }

  async #purgeLocal(s: KillSwitch): Promise<void> {
    this.revokeDownstream(this.#dropLocal(s));
  }

  #dropLocal(s: KillSwitch): DroppedToken[] {
    switch (s.kind) {
      case 'user':
        return this.opts.broker.drop({ user: s.user });
      case 'resource':
        return this.#resourceUris(s.name).flatMap((resource) => this.opts.broker.drop({ resource }));
      case 'all':
        return this.opts.broker.drop({});
      case 'agent':
      case 'connection':
        // Cached tokens are keyed by user + resource + scopes, not by agent: another agent of the
        // same user may share one. The switch denies every call of this agent before the cache is
        // consulted, so no token of the cache can reach it; dropping shared tokens would only
        // punish the other agents.
        return [];
    }
  }

  /** A switch names a config resource or an upstream: the resource URIs (token audiences) behind that name. */
  #resourceUris(name: string): string[] {
    const { config } = this.opts.config.current;
    const uris: string[] = [];
    const r = config.resources[name];
    if (r) uris.push(r.resource);
    // SEP-990: an upstream's RFC 9728 `resource` equals its URL (checked at discovery).
    const u = config.upstreams.find((x) => x.name === name);
    if (u) uris.push(u.url);
    return uris;
  }

  /** RFC 7009 revocation of tokens already dropped from the cache. */
  revokeDownstream(dropped: DroppedToken[]): void {
    if (!dropped.length) return;
    // Fire and forget: never blocks the switch; each request has its own timeout.
    this.#track(
      revokeDownstreamTokens(dropped, { deps: this.opts.deps, logger: this.opts.logger, discover: this.#discover, timeoutMs: this.opts.revocationTimeoutMs }),
    );
  }

  #track(p: Promise<unknown>): void {
    const tracked = p
      .catch((e: unknown) => this.opts.logger.warn('background revocation failed', { error: toGatewayError(e).message }))
      .finally(() => this.#pending.delete(tracked));
    this.#pending.add(tracked);
  }

  /** Tells the onSessionsRevoked listeners; a failing listener is logged, the others still run. */
  async notifyRevoked(ids: string[]): Promise<void> {
    if (!ids.length) return;
    for (const l of this.#revokedListeners) {
      try {
        await l(ids);
      } catch (e) {
        this.opts.logger.warn('closing revoked sessions failed', { error: toGatewayError(e).message });
      }
    }
  }
}
