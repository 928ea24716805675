import type { ServerConfig } from '../../config/index.js';

/** The gateway's public identifiers, all derived from `server.publicUrl` (one origin, path "/"). */
export interface GatewayUrls {
  /** The authorization server issuer (RFC 8414 §2): publicUrl without its trailing slash. */
  issuer: string;
  /** The MCP endpoint and protected resource (RFC 8707, RFC 9728 `resource`). */
  resource: string;
  /** RFC 9728 §3.1: the well-known URI with the resource's path appended. */
  resourceMetadata: string;
  /** Serialized origin of publicUrl, as browsers send it in `Origin`. */
  origin: string;
}

export const MCP_PATH = '/mcp';
export const RESOURCE_METADATA_PATH = '/.well-known/oauth-protected-resource';

export function gatewayUrls(server: Pick<ServerConfig, 'publicUrl'>): GatewayUrls {
  // Same derivation as the authorization server's issuer, so `authorization_servers` matches it exactly.
  const issuer = server.publicUrl.replace(/\/+$/, '');
  return {
    issuer,
    resource: `${issuer}${MCP_PATH}`,
    resourceMetadata: `${issuer}${RESOURCE_METADATA_PATH}${MCP_PATH}`,
    origin: new URL(server.publicUrl).origin,
  };
}
