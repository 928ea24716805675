import { DPOP_SIGNING_ALGS, type DpopPolicy } from '../../inbound/http/dpop.js';
import { SUPPORTED_SCOPES } from './auth.js';
import type { GatewayUrls } from './urls.js';

export const RESOURCE_NAME = 'xaa-gateway';

/**
 * RFC 9728 §2 protected resource metadata of the MCP endpoint. Served at both
 * `/.well-known/oauth-protected-resource/mcp` (§3.1, path-suffixed: what MCP clients derive from
 * the endpoint URL) and `/.well-known/oauth-protected-resource` (clients that try the root).
 * `resource` must equal the URL the client connects to (§3.3), and the authorization server is the
 * gateway itself: the same issuer its RFC 8414 metadata names. DPoP (RFC 9449 §5.1 and RFC 9728 §2):
 * the proof algorithms accepted, and whether only DPoP-bound tokens are (server.dpop.required).
 */
export function protectedResourceMetadata(urls: GatewayUrls, dpop: Pick<DpopPolicy, 'required'>): Record<string, unknown> {
  return {
    resource: urls.resource,
    authorization_servers: [urls.issuer],
    scopes_supported: [...SUPPORTED_SCOPES],
    bearer_methods_supported: ['header'],
    resource_name: RESOURCE_NAME,
    dpop_signing_alg_values_supported: [...DPOP_SIGNING_ALGS],
    ...(dpop.required ? { dpop_bound_access_tokens_required: true } : {}),
  };
}
