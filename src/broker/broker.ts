import { GatewayError, isGatewayError } from '../errors.js';
import type { Deps } from '../deps.js';
import { DPOP_ALG, type DpopClient } from '../dpop/index.js';
import { tokenFingerprint } from '../security.js';
import type { AccessTokenResult, AuthorizationServerMetadata, ClientCredentials, IdJagResult } from '../xaa/types.js';
import { normalizeScopes, tokenKey, type TokenKeyParts } from './key.js';

/** The protocol steps the broker drives; src/xaa implements them, unit tests fake them. */
export interface XaaPort {
  /** `role: 'idp'` makes an unreachable server an `idp_unreachable` error. */
  discover(issuer: string, options?: { role?: 'idp' | 'as'; timeoutMs?: number }): Promise<AuthorizationServerMetadata>;
  requestIdJag(params: {
    idp: AuthorizationServerMetadata;
    client: ClientCredentials;
    subjectToken: string;
    subjectTokenType: string;
    audience: string;
    resource: string;
    scopes: string[];
    timeoutMs?: number;
  }): Promise<IdJagResult>;
  redeemIdJag(params: {
    as: AuthorizationServerMetadata;
    client: ClientCredentials;
    idJag: string;
    scopes: string[];
    timeoutMs?: number;
    dpop?: DpopClient;
  }): Promise<AccessTokenResult>;
}

/** The user's IdP credential presented as subject_token (RFC 8693 §2.1). */
export interface SubjectTokenSource {
  /** `forceRefresh`: the IdP refused the last one (or it expired): renew it with the refresh token. */
  getSubjectToken(opts: { forceRefresh: boolean; type: string }): Promise<string>;
  /**
   * The subject_token_type this source always presents, whatever idp.subjectTokenType says: the ID-JAG
   * of an enterprise-managed sign-in (chained exchange, draft-parecki-oauth-identity-assertion-gateways
   * §3). Such a source cannot be renewed, so an IdP refusal stands.
   */
  readonly fixedTokenType?: string;
}

export interface IdpSettings {
  issuer: string;
  client: ClientCredentials;
  subjectTokenType: string;
  /** Per request to the IdP (idp.timeoutMs); the XaaPort's default when absent. */
  timeoutMs?: number;
}

export interface MintTarget extends TokenKeyParts {
  /** Issuer of the resource's AS: the ID-JAG audience. */
  authorizationServer: string;
  /** The gateway's client at that AS. */
  client: ClientCredentials;
  /** Per request to that AS (resources.<name>.timeoutMs); the XaaPort's default when absent. */
  timeoutMs?: number;
  /** resources.<name>.dpop (upstreams[].dpop): when to ask for a DPoP-bound token. Default "off". */
  dpop?: 'auto' | 'required' | 'off';
}

export interface BrokeredToken {
  /** Secret: never log it. */
  accessToken: string;
  /** Epoch ms after which the broker will not hand it out. */
  expiresAt: number;
  scopesGranted: string[];
  idJagJti: string;
  /** base64url(SHA-256(access token)), for audit records. */
  fingerprint: string;
  /** "DPoP": bound to the broker's DPoP key (RFC 9449); every request with it carries a proof. */
  tokenType: 'Bearer' | 'DPoP';
  fromCache: boolean;
}

export interface BrokerOptions {
  xaa: XaaPort;
  deps: Pick<Deps, 'now'>;
  idp: () => IdpSettings;
  /** Upper bound on how long a token is reused, whatever its `exp`. Default 15 min. */
  maxLifetimeMs?: () => number;
  /** Tokens are dropped this long before their `exp`. Default 30 s. */
  skewMs?: () => number;
  /** This process's DPoP key and nonces (RFC 9449): asked for when a target's `dpop` calls for it. */
  dpop?: () => Promise<DpopClient>;
}

export interface BrokerStats {
  hits: number;
  misses: number;
  tokenExchanges: number;
  jwtBearerGrants: number;
  subjectRefreshes: number;
}

interface Entry {
  token: Omit<BrokeredToken, 'fromCache'>;
  parts: TokenKeyParts;
  /** Where it was minted, so a purge can revoke it there (RFC 7009). */
  issuer: Pick<MintTarget, 'authorizationServer' | 'client'>;
}

/** A cached token a purge dropped: enough to revoke it at its AS (RFC 7009). Holds a secret. */
export interface DroppedToken {
  /** Secret: never log it. */
  accessToken: string;
  fingerprint: string;
  user: { iss: string; sub: string };
  resource: string;
  /** Issuer of the AS that minted it, and the gateway's client there. */
  authorizationServer: string;
  client: MintTarget['client'];
}

interface InFlight {
  promise: Promise<Omit<BrokeredToken, 'fromCache'>>;
  parts: TokenKeyParts;
  /** Set by a purge that happened while minting: the result is handed to the waiting callers but not cached. */
  discarded: boolean;
}

/**
 * Per-user, per-resource, per-scope-set downstream tokens, minted by ID-JAG and held in memory only.
 * One mint in flight per key (single-flight), so a burst of first calls makes one token exchange
 * and one jwt-bearer grant.
 */
export class TokenBroker {
  readonly stats: BrokerStats = { hits: 0, misses: 0, tokenExchanges: 0, jwtBearerGrants: 0, subjectRefreshes: 0 };
  readonly #cache = new Map<string, Entry>();
  readonly #inflight = new Map<string, InFlight>();

  constructor(private readonly opts: BrokerOptions) {}

  async getToken(target: MintTarget, subject: SubjectTokenSource): Promise<BrokeredToken> {
    const key = tokenKey(target);
    const now = this.opts.deps.now();
    const hit = this.#cache.get(key);
    if (hit && hit.token.expiresAt > now) {
      this.stats.hits++;
      return { ...hit.token, fromCache: true };
    }
    if (hit) this.#cache.delete(key);
    this.stats.misses++;
    let flight = this.#inflight.get(key);
    if (!flight) {
      const parts: TokenKeyParts = { user: target.user, resource: target.resource, scopes: normalizeScopes(target.scopes) };
      const created: InFlight = { parts, discarded: false, promise: this.#mint(target, subject) };
      flight = created;
      this.#inflight.set(key, created);
      created.promise.then(
        (token) => {
          if (this.#inflight.get(key) === created) this.#inflight.delete(key);
          if (!created.discarded && token.expiresAt > this.opts.deps.now()) {
            this.#cache.set(key, { token, parts, issuer: { authorizationServer: target.authorizationServer, client: target.client } });
          }
        },
        () => {
          if (this.#inflight.get(key) === created) this.#inflight.delete(key);
        },
      );
    }
    return { ...(await flight.promise), fromCache: false };
  }

  /**
   * Drops a token the downstream refused (401). Only the exact token is dropped, so many concurrent
   * 401s for one stale token cause one re-mint, not one each.
   */
  evict(target: TokenKeyParts, accessToken: string): boolean {
    const key = tokenKey(target);
    const hit = this.#cache.get(key);
    if (hit && hit.token.accessToken === accessToken) {
      this.#cache.delete(key);
      return true;
    }
    return false;
  }

  /** Purge by user and/or resource (both given: their intersection). Returns how many tokens went. */
  purge(filter: { user?: { iss: string; sub: string }; resource?: string }): number {
    return this.drop(filter).length;
  }

  /**
   * Purge by user and/or resource, returning the cached tokens it dropped so the caller can revoke
   * them at their authorization servers (kill switches). Mints in flight for a match are discarded:
   * their callers get the token but it is never cached.
   */
  drop(filter: { user?: { iss: string; sub: string }; resource?: string }): DroppedToken[] {
    const match = (p: TokenKeyParts) =>
      (!filter.user || (p.user.iss === filter.user.iss && p.user.sub === filter.user.sub)) && (!filter.resource || p.resource === filter.resource);
    const dropped: DroppedToken[] = [];
    for (const [key, entry] of this.#cache) {
      if (match(entry.parts)) {
        this.#cache.delete(key);
        dropped.push({
          accessToken: entry.token.accessToken,
          fingerprint: entry.token.fingerprint,
          user: entry.parts.user,
          resource: entry.parts.resource,
          authorizationServer: entry.issuer.authorizationServer,
          client: entry.issuer.client,
        });
      }
    }
    for (const [key, flight] of this.#inflight) {
      if (match(flight.parts)) {
        flight.discarded = true;
        this.#inflight.delete(key);
      }
    }
    return dropped;
  }

  get size(): number {
    return this.#cache.size;
  }

  async #mint(target: MintTarget, subject: SubjectTokenSource): Promise<Omit<BrokeredToken, 'fromCache'>> {
    const idp = this.opts.idp();
    const scopes = normalizeScopes(target.scopes);
    // Discovery results are cached by the XaaPort; both lookups run together.
    const idpTimeout = idp.timeoutMs !== undefined ? { timeoutMs: idp.timeoutMs } : {};
    const asTimeout = target.timeoutMs !== undefined ? { timeoutMs: target.timeoutMs } : {};
    const [idpMeta, asMeta] = await Promise.all([
      this.opts.xaa.discover(idp.issuer, { role: 'idp', ...idpTimeout }),
      this.opts.xaa.discover(target.authorizationServer, asTimeout),
    ]);

    const subjectTokenType = subject.fixedTokenType ?? idp.subjectTokenType;
    const exchange = async (forceRefresh: boolean) => {
      if (forceRefresh) this.stats.subjectRefreshes++;
      const subjectToken = await subject.getSubjectToken({ forceRefresh, type: subjectTokenType });
      this.stats.tokenExchanges++;
      return this.opts.xaa.requestIdJag({
        idp: idpMeta,
        client: idp.client,
        subjectToken,
        subjectTokenType,
        audience: asMeta.issuer,
        resource: target.resource,
        scopes,
        ...idpTimeout,
      });
    };
    let idJag: IdJagResult;
    try {
      idJag = await exchange(false);
    } catch (e) {
      // invalid_grant on the subject token: the ID token may have expired or been rotated at the
      // IdP. Renew it once with the refresh token, then let a second refusal stand (RFC 8693 §2.2.2).
      if (!(isGatewayError(e, 'token_exchange_failed') && e.oauthError === 'invalid_grant') || subject.fixedTokenType !== undefined) throw e;
      idJag = await exchange(true);
    }

    this.stats.jwtBearerGrants++;
    const useDpop = wantsDpop(target.dpop ?? 'off', asMeta);
    if (useDpop && !this.opts.dpop) throw new GatewayError('internal', 'a DPoP-bound token is wanted but the broker has no DPoP key');
    const dpop = useDpop ? { dpop: await this.opts.dpop!() } : {};
    const token = await this.opts.xaa.redeemIdJag({ as: asMeta, client: target.client, idJag: idJag.idJag, scopes, ...asTimeout, ...dpop });
    const tokenType = token.tokenType.toLowerCase();
    if (useDpop && tokenType !== 'dpop') {
      // RFC 9449 §5: a server that ignores the proof answers Bearer. Using that token would make a
      // stolen copy usable by anyone, which the binding was asked for to prevent: refused, and said.
      throw new GatewayError(
        'invalid_token_response',
        `authorization server ${asMeta.issuer} answered a DPoP token request with a "${token.tokenType}" token; refused rather than used as a bearer token (dpop: "${target.dpop}")`,
        { details: { dpop: target.dpop, tokenType: token.tokenType } },
      );
    }
    if (!useDpop && tokenType !== 'bearer') {
      throw new GatewayError('invalid_token_response', `authorization server ${asMeta.issuer} issued a "${token.tokenType}" token to a Bearer token request`);
    }
    const now = this.opts.deps.now();
    const cap = now + (this.opts.maxLifetimeMs?.() ?? 15 * 60_000);
    const skew = this.opts.skewMs?.() ?? 30_000;
    const expiresAt = Math.min(cap, (token.expiresAt ?? cap + skew) - skew);
    return {
      accessToken: token.accessToken,
      expiresAt,
      scopesGranted: token.scopes,
      idJagJti: idJag.jti,
      fingerprint: tokenFingerprint(token.accessToken),
      tokenType: useDpop ? 'DPoP' : 'Bearer',
    };
  }
}

/** RFC 9449 §5.1: an AS that supports DPoP lists the algorithms it takes; the broker's key is ES256. */
function wantsDpop(mode: 'auto' | 'required' | 'off', as: AuthorizationServerMetadata): boolean {
  if (mode === 'off') return false;
  if (mode === 'required') return true;
  const algs = (as as { dpop_signing_alg_values_supported?: unknown }).dpop_signing_alg_values_supported;
  return Array.isArray(algs) && algs.includes(DPOP_ALG);
}
