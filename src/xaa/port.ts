import type { Deps } from '../deps.js';
import { AuthorizationServerDirectory, type DiscoveryOptions } from './discovery.js';
import { redeemIdJag, type JwtBearerRequest } from './jwt-bearer.js';
import { discoverMcpResource } from './mcp-discovery.js';
import { requestIdJag, type IdJagRequest } from './token-exchange.js';
import type { AccessTokenResult, AuthorizationServerMetadata, IdJagResult, McpResourceDiscovery } from './types.js';

/** The protocol bound to one set of deps, with one discovery cache: what the broker and gateway call. */
export interface XaaClient {
  /** Pass `{ role: 'idp' }` for the IdP so an outage there is `idp_unreachable`. */
  discover(issuer: string, options?: DiscoveryOptions): Promise<AuthorizationServerMetadata>;
  requestIdJag(params: IdJagRequest): Promise<IdJagResult>;
  redeemIdJag(params: JwtBearerRequest): Promise<AccessTokenResult>;
  discoverMcpResource(url: string, options?: { wwwAuthenticate?: string | null }): Promise<McpResourceDiscovery>;
}

export function createXaaPort(deps: Deps, options: { discoveryTtlMs?: number } = {}): XaaClient {
  const directory = new AuthorizationServerDirectory({ ttlMs: options.discoveryTtlMs });
  return {
    discover: (issuer, opts) => directory.discover(issuer, deps, opts),
    requestIdJag: (params) => requestIdJag(params, deps),
    redeemIdJag: (params) => redeemIdJag(params, deps),
    discoverMcpResource: (url, opts = {}) => discoverMcpResource(url, deps, { ...opts, directory }),
  };
}
