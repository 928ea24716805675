import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js';
import type { UpstreamConfig } from '../config/schema.js';
import { GatewayError, isGatewayError } from '../errors.js';
import type { Deps } from '../deps.js';
import type { BrokeredToken } from '../broker/index.js';

export const GATEWAY_CLIENT_INFO = { name: 'xaa-gateway', version: '0.1.0' };

/** Per call: the token to present, and how to replace it when the upstream answers 401. */
export interface UpstreamAuth {
  token: BrokeredToken;
  /** Evicts `stale` and mints a fresh token (once per call). */
  remint(stale: BrokeredToken): Promise<BrokeredToken>;
}

/** `*` globs over tool names, for allow and deny lists. */
export function globMatch(pattern: string, name: string): boolean {
  const re = new RegExp('^' + pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$');
  return re.test(name);
}

export function upstreamExposes(upstream: UpstreamConfig, toolName: string): boolean {
  if (upstream.deny.some((p) => globMatch(p, toolName))) return false;
  return !upstream.allow || upstream.allow.some((p) => globMatch(p, toolName));
}

/**
 * Opens an MCP client session to an upstream for one operation, presenting the brokered token
 * (never the inbound one). A 401 from the upstream evicts the token and retries once with a fresh
 * one; a second 401 is reported as downstream_unauthorized.
 */
export async function withUpstreamClient<T>(
  upstream: UpstreamConfig,
  auth: UpstreamAuth,
  deps: Pick<Deps, 'fetch'>,
  run: (client: Client) => Promise<T>,
): Promise<T> {
  let token = auth.token;
  let reminted = false;
  const authedFetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const send = (t: BrokeredToken) => {
      const headers = new Headers(init?.headers);
      headers.set('Authorization', `Bearer ${t.accessToken}`);
      return deps.fetch(input, { ...init, headers, redirect: 'error', signal: init?.signal ?? AbortSignal.timeout(upstream.timeoutMs) });
    };
    let res = await send(token);
    if (res.status === 401 && !reminted) {
      reminted = true;
      await res.body?.cancel();
      token = await auth.remint(token);
      res = await send(token);
    }
    if (res.status === 401) {
      await res.body?.cancel();
      throw new GatewayError('downstream_unauthorized', `upstream MCP server "${upstream.name}" refused a freshly minted token (401)`, { status: 401 });
    }
    return res;
  };
  const client = new Client(GATEWAY_CLIENT_INFO, { capabilities: {} });
  const transport = new StreamableHTTPClientTransport(new URL(upstream.url), { fetch: authedFetch });
  try {
    await client.connect(transport);
    return await run(client);
  } catch (e) {
    if (isGatewayError(e)) throw e;
    const cause = (e as { cause?: unknown }).cause;
    if (isGatewayError(cause)) throw cause;
    throw new GatewayError('upstream_mcp_error', `upstream MCP server "${upstream.name}" failed: ${(e as Error).message}`, { cause: e });
  } finally {
    await client.close().catch(() => {});
  }
}

/** The upstream's tools as the gateway shows them: filtered, then prefixed. */
export async function listUpstreamTools(upstream: UpstreamConfig, auth: UpstreamAuth, deps: Pick<Deps, 'fetch'>): Promise<Tool[]> {
  return withUpstreamClient(upstream, auth, deps, async (client) => {
    const tools: Tool[] = [];
    let cursor: string | undefined;
    do {
      const page = await client.listTools(cursor ? { cursor } : undefined);
      tools.push(...page.tools);
      cursor = page.nextCursor;
    } while (cursor);
    return tools.filter((t) => upstreamExposes(upstream, t.name));
  });
}

export async function callUpstreamTool(
  upstream: UpstreamConfig,
  auth: UpstreamAuth,
  deps: Pick<Deps, 'fetch'>,
  upstreamToolName: string,
  args: Record<string, unknown>,
): Promise<CallToolResult> {
  return withUpstreamClient(upstream, auth, deps, async (client) => (await client.callTool({ name: upstreamToolName, arguments: args })) as CallToolResult);
}
