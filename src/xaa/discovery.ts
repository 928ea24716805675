import * as oauth from 'oauth4webapi';
import type { Deps } from '../deps.js';
import { GatewayError } from '../errors.js';
import { TtlCache } from './cache.js';
import { DEFAULT_TIMEOUT_MS } from './constants.js';
import { NetworkFailure, describeNetworkError, isAllowedUrl, markingFetch, oauthHttpOptions, parseUrl, withTimeout } from './http.js';
import type { AuthorizationServerMetadata } from './types.js';

export interface DiscoveryOptions {
  /** Whose metadata this is: an unreachable IdP is `idp_unreachable`, anything else `discovery_failed`. */
  role?: 'idp' | 'as';
  timeoutMs?: number;
}

type Candidate = { url: string; request: () => Promise<Response> };

/**
 * The well-known locations to try, in the order of the MCP authorization spec (2025-11-25 §"Authorization
 * Server Metadata Discovery"): RFC 8414 §3.1 (path inserted), OIDC Discovery with the path inserted, then
 * OIDC Discovery 1.0 §4 (path appended). For an issuer without a path the last two are the same URL.
 */
function candidates(issuer: URL, deps: Pick<Deps, 'fetch'>, timeoutMs: number): Candidate[] {
  const path = issuer.pathname.replace(/\/$/, '');
  const list: Candidate[] = [
    {
      url: new URL(`/.well-known/oauth-authorization-server${path}`, issuer).href,
      request: () => oauth.discoveryRequest(issuer, { ...oauthHttpOptions(issuer, deps, timeoutMs), algorithm: 'oauth2' }),
    },
  ];
  if (path !== '') {
    // oauth4webapi knows only the two standard forms; this third one is a plain GET like theirs.
    const url = new URL(`/.well-known/openid-configuration${path}`, issuer).href;
    list.push({
      url,
      request: () =>
        markingFetch(deps)(url, {
          method: 'GET',
          headers: { accept: 'application/json' },
          redirect: 'manual',
          signal: AbortSignal.timeout(timeoutMs),
        }),
    });
  }
  list.push({
    url: new URL(`${path}/.well-known/openid-configuration`, issuer).href,
    request: () => oauth.discoveryRequest(issuer, { ...oauthHttpOptions(issuer, deps, timeoutMs), algorithm: 'oidc' }),
  });
  return list;
}

/**
 * RFC 8414 / OpenID Connect Discovery of an authorization server. The document's `issuer` must be
 * identical to the configured issuer (RFC 8414 §3.3, OIDC Discovery §4.3), character for character:
 * a mismatch is refused outright, never retried elsewhere.
 */
export async function discoverAuthorizationServer(issuer: string, deps: Deps, options: DiscoveryOptions = {}): Promise<AuthorizationServerMetadata> {
  const issuerUrl = parseUrl(issuer);
  if (!issuerUrl || !isAllowedUrl(issuerUrl) || issuerUrl.search || issuerUrl.hash) {
    throw new GatewayError(
      'discovery_failed',
      `Issuer "${issuer}" is not a valid issuer identifier (https URL without query or fragment; http only on loopback)`,
    );
  }
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const tried: string[] = [];
  let unavailable = 0;
  for (const candidate of candidates(issuerUrl, deps, timeoutMs)) {
    let response: Response;
    try {
      response = await candidate.request();
    } catch (e) {
      const reason = withTimeout(
        describeNetworkError(e instanceof NetworkFailure ? e.cause : e),
        timeoutMs,
        options.role === 'idp' ? 'idp.timeoutMs' : "the resource's timeoutMs",
      );
      const code = options.role === 'idp' ? 'idp_unreachable' : 'discovery_failed';
      throw new GatewayError(code, `Could not reach ${issuer} for metadata discovery (${candidate.url}): ${reason}`, {
        cause: e instanceof NetworkFailure ? e.cause : e,
      });
    }
    if (response.status !== 200) {
      await response.body?.cancel();
      if ([502, 503, 504].includes(response.status)) unavailable++;
      tried.push(`${candidate.url} -> HTTP ${response.status}`);
      continue;
    }
    let metadata: oauth.AuthorizationServer;
    try {
      metadata = await oauth.processDiscoveryResponse(issuerUrl, response);
    } catch (e) {
      if (e instanceof oauth.OperationProcessingError && e.code === oauth.JSON_ATTRIBUTE_COMPARISON) {
        throw issuerMismatch(issuer, candidate.url);
      }
      // Some servers answer 200 with an HTML page for any path: try the next location.
      tried.push(`${candidate.url} -> ${e instanceof Error ? e.message : String(e)}`);
      continue;
    }
    // oauth4webapi compares parsed URLs (so "https://a" equals "https://a/"); §3.3 wants identical strings.
    if (metadata.issuer !== issuer) throw issuerMismatch(issuer, candidate.url, metadata.issuer);
    const tokenEndpoint = typeof metadata.token_endpoint === 'string' ? parseUrl(metadata.token_endpoint) : undefined;
    if (!tokenEndpoint || !isAllowedUrl(tokenEndpoint)) {
      throw new GatewayError('discovery_failed', `Metadata of ${issuer} (${candidate.url}) has no usable token_endpoint`);
    }
    return { ...(metadata as AuthorizationServerMetadata), token_endpoint: metadata.token_endpoint as string };
  }
  // Every location answered "unavailable": the server is down, not misconfigured.
  const down = unavailable > 0 && unavailable === tried.length;
  const code = down ? (options.role === 'idp' ? 'idp_unreachable' : 'discovery_failed') : 'discovery_failed';
  const what = down ? `${issuer} is unavailable` : `No authorization server metadata found for ${issuer}`;
  throw new GatewayError(code, `${what} (tried ${tried.join('; ')})`, {
    details: { tried },
  });
}

function issuerMismatch(issuer: string, url: string, got?: string): GatewayError {
  return new GatewayError(
    'discovery_failed',
    `Metadata at ${url} names issuer ${got === undefined ? 'a different issuer' : `"${got}"`}, not "${issuer}" (RFC 8414 §3.3): refused`,
    { details: { expectedIssuer: issuer, ...(got === undefined ? {} : { issuer: got }) } },
  );
}

/**
 * Discovered metadata per issuer, kept for `ttlMs` (1 h by default) so the broker does not refetch it on
 * every mint; concurrent lookups of one issuer share one request, failures are not cached.
 */
export class AuthorizationServerDirectory {
  readonly #cache: TtlCache<AuthorizationServerMetadata>;

  constructor(options: { ttlMs?: number } = {}) {
    this.#cache = new TtlCache(options.ttlMs ?? 60 * 60 * 1000);
  }

  discover(issuer: string, deps: Deps, options: DiscoveryOptions = {}): Promise<AuthorizationServerMetadata> {
    return this.#cache.get(issuer, deps.now, () => discoverAuthorizationServer(issuer, deps, options));
  }

  /** Forget one issuer (e.g. after its token endpoint failed in a way that suggests a move). */
  evict(issuer: string): void {
    this.#cache.delete(issuer);
  }
}
