import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import type { AgentIdentity } from '../inbound/identity.js';
import type { Gateway } from './gateway.js';

export const SERVER_INFO = { name: 'xaa-gateway', version: '0.1.0' };

/**
 * One MCP server session over any transport. The agent is taken from the transport (OAuth client
 * over HTTP) or, for stdio, from the clientInfo the client sent in `initialize`.
 */
export function createMcpServer(gateway: Gateway, opts: { agent?: () => AgentIdentity } = {}): Server {
  const server = new Server(SERVER_INFO, {
    capabilities: { tools: { listChanged: true } },
    instructions:
      'Tools of enterprise SaaS apps, called for the signed-in user with short-lived tokens the enterprise IdP allowed. Every call is audited.',
  });
  const agentOf = (): AgentIdentity => {
    if (opts.agent) return opts.agent();
    const info = server.getClientVersion();
    return info ? { name: info.name, version: info.version } : {};
  };
  server.setRequestHandler(ListToolsRequestSchema, async (_req, extra) => ({ tools: await gateway.listTools({ authInfo: extra.authInfo }) }));
  server.setRequestHandler(CallToolRequestSchema, async (req, extra) =>
    gateway.callTool(
      { authInfo: extra.authInfo, agent: agentOf(), ...(extra.sessionId ? { sessionId: extra.sessionId } : {}), requestId: extra.requestId, meta: req.params._meta },
      req.params.name,
      req.params.arguments,
    ),
  );
  const unsubscribe = gateway.onToolsChanged(() => {
    // Only a connected session can be notified; a failure here must not affect the config reload.
    server.sendToolListChanged().catch(() => {});
  });
  const close = server.onclose;
  server.onclose = () => {
    unsubscribe();
    close?.();
  };
  return server;
}
