import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { z } from 'zod';
import { actingFor, insufficientScope, missingScopes, verifyBearer, type AccessClaims } from './bearer.js';
import type { SaasContext } from './context.js';
import { findCustomer, searchCustomers } from './apps/crm-data.js';

/**
 * Acme CRM's MCP server (Streamable HTTP, stateless), protected per the MCP authorization spec:
 * access tokens with aud = <origin>/mcp (Bearer, or DPoP with a proof: bearer.ts), 401 +
 * resource_metadata (RFC 9728 §5.1) otherwise.
 */

export const MCP_PATH = '/mcp';

const TOOL_SCOPES: Record<string, string[]> = {
  lookup_customer: ['crm.read'],
  search_customers: ['crm.read'],
  delete_customer: ['crm.write'],
};

function buildServer(auth: AccessClaims): McpServer {
  const server = new McpServer({ name: 'acme-crm', version: '1.0.0' });
  const who = actingFor(auth);
  const result = (data: Record<string, unknown>) => ({
    content: [{ type: 'text' as const, text: JSON.stringify({ ...data, actingFor: who }) }],
    structuredContent: { ...data, actingFor: who },
  });
  server.registerTool(
    'lookup_customer',
    {
      title: 'Look up a customer',
      description: 'Returns one Acme CRM customer by id (e.g. cus_1001).',
      inputSchema: { customerId: z.string().min(1).describe('Customer id, e.g. cus_1001') },
    },
    async ({ customerId }) => {
      const customer = findCustomer(customerId);
      if (!customer) return { isError: true, content: [{ type: 'text' as const, text: `no customer "${customerId}"` }] };
      return result({ customer });
    },
  );
  server.registerTool(
    'search_customers',
    {
      title: 'Search customers',
      description: 'Finds Acme CRM customers whose name or domain contains the query.',
      inputSchema: { query: z.string().min(1).describe('Part of a customer name or domain') },
    },
    async ({ query }) => result({ query, customers: searchCustomers(query) }),
  );
  server.registerTool(
    'delete_customer',
    {
      title: 'Delete a customer',
      description: 'Deletes a customer record (requires crm.write). Destructive.',
      inputSchema: { customerId: z.string().min(1) },
      annotations: { destructiveHint: true },
    },
    // The demo never really deletes: it reports what would have happened.
    async ({ customerId }) => result({ deleted: !!findCustomer(customerId), customerId, note: 'demo: nothing was deleted' }),
  );
  return server;
}

/** A tools/call that needs a scope the token lacks gets 403 insufficient_scope (MCP authorization, scope challenge). */
async function scopeChallenge(req: Request, auth: AccessClaims): Promise<Response | undefined> {
  if (req.method !== 'POST') return undefined;
  const body = (await req
    .clone()
    .json()
    .catch(() => undefined)) as unknown;
  for (const msg of Array.isArray(body) ? body : [body]) {
    const m = msg as { method?: unknown; params?: { name?: unknown } } | undefined;
    if (m?.method !== 'tools/call' || typeof m.params?.name !== 'string') continue;
    const required = TOOL_SCOPES[m.params.name] ?? [];
    if (missingScopes(auth, required).length) return insufficientScope(required, auth);
  }
  return undefined;
}

export async function handleMcp(ctx: SaasContext, req: Request): Promise<Response> {
  ctx.state.stats.apiCalls[ctx.def.name] += 1;
  const verified = await verifyBearer(ctx, req, MCP_PATH);
  if (!verified.ok) return verified.response;
  const challenge = await scopeChallenge(req, verified.auth);
  if (challenge) return challenge;
  // Stateless: one server and transport per request, no session id.
  const server = buildServer(verified.auth);
  const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
  await server.connect(transport);
  try {
    return await transport.handleRequest(req);
  } finally {
    // With JSON responses the body is complete once handleRequest resolves.
    void server.close();
  }
}
