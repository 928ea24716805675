/** The XAA protocol: discovery, RFC 8693 token exchange for an ID-JAG, RFC 7523 jwt-bearer redemption. */
export * from './constants.js';
export type * from './types.js';
export type { PublicClient, TokenEndpointClient } from './client-auth.js';
export { clientAuthentication } from './client-auth.js';
export { AuthorizationServerDirectory, discoverAuthorizationServer, type DiscoveryOptions } from './discovery.js';
export { discoverMcpResource, parseResourceMetadataUrl, type McpDiscoveryOptions } from './mcp-discovery.js';
export {
  buildTokenExchangeParams,
  processTokenExchangeResponse,
  requestIdJag,
  type IdJagRequest,
  type TokenExchangeResponseContext,
} from './token-exchange.js';
export { buildJwtBearerParams, processJwtBearerResponse, redeemIdJag, type JwtBearerRequest, type JwtBearerResponseContext } from './jwt-bearer.js';
export { inspectIdJag, type IdJagClaims, type IdJagExpectations } from './id-jag.js';
export { TtlCache } from './cache.js';
export { createXaaPort, type XaaClient } from './port.js';
