import * as oauth from 'oauth4webapi';
import { LATEST_PROTOCOL_VERSION } from '@modelcontextprotocol/server';
import type { Deps } from '../deps.js';
import { GatewayError } from '../errors.js';
import { DEFAULT_TIMEOUT_MS } from './constants.js';
import { AuthorizationServerDirectory, discoverAuthorizationServer } from './discovery.js';
import { NetworkFailure, describeNetworkError, isAllowedUrl, markingFetch, oauthHttpOptions, parseUrl } from './http.js';
import type { McpResourceDiscovery } from './types.js';

export interface McpDiscoveryOptions {
  /** The `WWW-Authenticate` header of a 401 the caller already got from the upstream; else one is provoked. */
  wwwAuthenticate?: string | null;
  /** Use (and fill) this cache for the authorization server step. */
  directory?: AuthorizationServerDirectory;
  timeoutMs?: number;
}

/**
 * The `resource_metadata` URL of a `WWW-Authenticate: Bearer ...` challenge (RFC 9728 §5.1), or undefined
 * when the header is absent, not a Bearer challenge, or carries no valid URL.
 */
export async function parseResourceMetadataUrl(wwwAuthenticate: string | null | undefined): Promise<URL | undefined> {
  if (!wwwAuthenticate) return undefined;
  // The SDK v2 client's parser, imported when first needed: only a gateway with upstream MCP servers
  // discovers them, and it loads the client for their connections anyway.
  const { extractWWWAuthenticateParams } = await import('@modelcontextprotocol/client');
  return extractWWWAuthenticateParams(new Response(null, { headers: { 'www-authenticate': wwwAuthenticate } })).resourceMetadataUrl;
}

function failed(message: string, cause?: unknown): GatewayError {
  return new GatewayError('discovery_failed', message, cause === undefined ? {} : { cause });
}

/**
 * Send an unauthenticated MCP `initialize` (SEP-990 / MCP authorization §"Authorization Server Location")
 * and return the `WWW-Authenticate` header of the 401 it provokes, if any.
 */
async function provokeChallenge(mcpUrl: string, deps: Deps, timeoutMs: number): Promise<string | null> {
  let response: Response;
  try {
    response = await markingFetch(deps)(mcpUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': LATEST_PROTOCOL_VERSION,
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 0,
        method: 'initialize',
        params: {
          protocolVersion: LATEST_PROTOCOL_VERSION,
          capabilities: {},
          clientInfo: { name: 'xaa-gateway', version: '0.1.0' },
        },
      }),
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (e) {
    const cause = e instanceof NetworkFailure ? e.cause : e;
    throw failed(`Could not reach MCP server ${mcpUrl}: ${describeNetworkError(cause)}`, cause);
  }
  await response.body?.cancel();
  return response.status === 401 ? response.headers.get('www-authenticate') : null;
}

/**
 * SEP-990 discovery of an upstream MCP server: its 401 challenge -> RFC 9728 protected resource metadata
 * (whose `resource` must be identical to the upstream URL, RFC 9728 §3.3) -> the first authorization
 * server -> RFC 8414 / OIDC discovery of it (issuer identical, RFC 8414 §3.3).
 */
export async function discoverMcpResource(mcpUrl: string, deps: Deps, options: McpDiscoveryOptions = {}): Promise<McpResourceDiscovery> {
  const url = parseUrl(mcpUrl);
  if (!url || !isAllowedUrl(url)) {
    throw failed(`MCP server URL "${mcpUrl}" must be an https URL (http only on loopback)`);
  }
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const header = options.wwwAuthenticate !== undefined ? options.wwwAuthenticate : await provokeChallenge(mcpUrl, deps, timeoutMs);
  const metadataUrl = await parseResourceMetadataUrl(header);
  if (metadataUrl && !isAllowedUrl(metadataUrl)) {
    throw failed(`MCP server ${mcpUrl} points to resource metadata at a non-https URL (${metadataUrl.href}): refused`);
  }

  // RFC 9728 §3.1: without a pointer, the well-known URI with the resource's path inserted.
  const where = metadataUrl?.href ?? new URL(`/.well-known/oauth-protected-resource${url.pathname.replace(/\/$/, '')}`, url).href;
  let response: Response;
  try {
    response = metadataUrl
      ? await markingFetch(deps)(metadataUrl.href, {
          method: 'GET',
          headers: { accept: 'application/json' },
          redirect: 'manual',
          signal: AbortSignal.timeout(timeoutMs),
        })
      : await oauth.resourceDiscoveryRequest(url, oauthHttpOptions(url, deps, timeoutMs));
  } catch (e) {
    const cause = e instanceof NetworkFailure ? e.cause : e;
    throw failed(`Could not fetch the protected resource metadata of ${mcpUrl} (${where}): ${describeNetworkError(cause)}`, cause);
  }

  let prm: oauth.ResourceServer;
  try {
    prm = await oauth.processResourceDiscoveryResponse(url, response);
  } catch (e) {
    if (e instanceof oauth.OperationProcessingError && e.code === oauth.JSON_ATTRIBUTE_COMPARISON) {
      throw resourceMismatch(mcpUrl, where);
    }
    const reason = response.status !== 200 ? `HTTP ${response.status}` : e instanceof Error ? e.message : String(e);
    throw failed(`No usable protected resource metadata for ${mcpUrl} at ${where}: ${reason}`);
  }
  // oauth4webapi compares parsed URLs; RFC 9728 §3.3 wants the identical string.
  if (prm.resource !== mcpUrl) throw resourceMismatch(mcpUrl, where, prm.resource);

  const servers = prm.authorization_servers;
  const issuer = Array.isArray(servers) ? servers[0] : undefined;
  if (typeof issuer !== 'string' || issuer === '') {
    throw failed(`Protected resource metadata of ${mcpUrl} (${where}) lists no authorization_servers`);
  }
  const authorizationServer = options.directory
    ? await options.directory.discover(issuer, deps, { timeoutMs })
    : await discoverAuthorizationServer(issuer, deps, { timeoutMs });
  const scopes = prm.scopes_supported;
  return {
    resource: prm.resource,
    authorizationServer,
    ...(Array.isArray(scopes) && scopes.every((s) => typeof s === 'string') ? { scopesSupported: [...scopes] } : {}),
  };
}

function resourceMismatch(mcpUrl: string, where: string, got?: string): GatewayError {
  return failed(
    `Protected resource metadata at ${where} is for ${got === undefined ? 'another resource' : `"${got}"`}, not "${mcpUrl}" (RFC 9728 §3.3): refused`,
  );
}
