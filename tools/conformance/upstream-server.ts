import { join } from 'node:path';
import type { CallToolResult, InputRequiredResult } from '@modelcontextprotocol/server';
import { createMcpHandler, fromJsonSchema, inputRequired, McpServer } from '@modelcontextprotocol/server';
import { z } from 'zod';
import { listen } from '../demo/listen.js';
import { handleOAuth } from '../demo/oauth.js';
import { asMetadata } from '../demo/saas/app.js';
import { verifyBearer } from '../demo/saas/bearer.js';
import { createSaasContext } from '../demo/saas/context.js';
import { jwtBearerToken } from '../demo/saas/token.js';
import { GATEWAY_CLIENT_ID, type AppDefinition } from '../demo/seed.js';
import { DEMO_SECRETS_DIR } from '../demo/secrets.js';
import { DemoState } from '../demo/state.js';
import type { DemoEnterprise } from '../demo/types.js';

/**
 * The upstream MCP server behind the gateway in the conformance run: the tools the suite's server
 * scenarios call by name (test_simple_text, test_image_content, ..., json_schema_2020_12_tool, the
 * SEP-2575 diagnostic tools), served by the SDK v2 `createMcpHandler` (2026-07-28, and 2025 revisions
 * statelessly), protected as an Enterprise-Managed Authorization (SEP-990) resource of the demo
 * enterprise exactly like the demo CRM's MCP server: 401 + RFC 9728 metadata, its own authorization
 * server taking the IdP's ID-JAG by the JWT bearer grant (RFC 7523), at+jwt tokens for <origin>/mcp.
 * The suite reaches these tools only through the gateway (upstream prefix "", so names match).
 */

export const UPSTREAM_SCOPE = 'conformance.tools';
export const MCP_PATH = '/mcp';

/**
 * The gateway's credentials at this upstream's AS: the demo's client id and a demo-only secret
 * (the Calendar app's, read from tools/demo/secrets like every demo secret).
 */
export const UPSTREAM_CLIENT_SECRET_FILE = join(DEMO_SECRETS_DIR, 'calendar-client-secret');

const DEFINITION: AppDefinition = {
  // IdP policy (user assignment, connection switch) is the CRM's: alice may use it, bob may not.
  name: 'crm',
  title: 'Conformance upstream',
  scopes: [UPSTREAM_SCOPE],
  resourcePaths: [MCP_PATH],
  clientAuth: { method: 'client_secret_basic', secretFile: 'calendar-client-secret' },
};

// The suite's own 1x1 PNG and minimal WAV (it checks the type and mimeType, not the bytes).
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==';
const WAV = 'UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA=';

/** The schema of json-schema-2020-12 (SEP-1613, SEP-2106): every keyword must survive tools/list verbatim. */
export const JSON_SCHEMA_2020_12 = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  $defs: { address: { $anchor: 'addressDef', type: 'object', properties: { street: { type: 'string' }, city: { type: 'string' } } } },
  properties: {
    name: { type: 'string' },
    address: { $ref: '#/$defs/address' },
    contactMethod: { type: 'string', enum: ['phone', 'email'] },
    phone: { type: 'string' },
    email: { type: 'string' },
  },
  allOf: [{ anyOf: [{ required: ['phone'] }, { required: ['email'] }] }],
  if: { properties: { contactMethod: { const: 'phone' } }, required: ['contactMethod'] },
  then: { required: ['phone'] },
  else: { required: ['email'] },
  additionalProperties: false,
} as const;

const text = (t: string): CallToolResult => ({ content: [{ type: 'text', text: t }] });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface ConformanceUpstream {
  origin: string;
  /** The MCP endpoint, also its RFC 9728 `resource`. */
  url: string;
  /** tools/call counts by tool name (what reached the upstream through the gateway). */
  calls: Map<string, number>;
  close(): Promise<void>;
}

/** Starts the upstream on a loopback port and makes the demo IdP issue ID-JAGs for it. */
export async function startConformanceUpstream(demo: DemoEnterprise): Promise<ConformanceUpstream> {
  const listener = await listen('127.0.0.1', 0);
  const ctx = await createSaasContext(DEFINITION, listener.origin, demo.urls.idp, new DemoState());
  demo.trustResourceServer({ issuer: listener.origin, resources: ctx.resources, scopes: DEFINITION.scopes.slice(), policyOf: DEFINITION.name });
  const calls = new Map<string, number>();
  // test_trigger_tool_change flips this tool in and out of tools/list (SEP-2575 list_changed probe).
  let dynamicTool = false;

  const handler = createMcpHandler(() => {
    const server = new McpServer({ name: 'xaa-conformance-upstream', version: '1.0.0' }, { capabilities: { tools: { listChanged: true }, logging: {} } });
    // Counts each call, then runs the tool; without a schema the tool takes no arguments.
    const tool = (
      name: string,
      description: string,
      run: (args: any, ctx: any) => Promise<CallToolResult | InputRequiredResult>,
      inputSchema: unknown = z.object({}),
    ) =>
      server.registerTool(name, { description, inputSchema: inputSchema as never }, (async (args: unknown, c: unknown) => {
        calls.set(name, (calls.get(name) ?? 0) + 1);
        return run(args, c);
      }) as never);

    tool('test_simple_text', 'Returns one text block', async () => text('This is a simple text response for testing.'));
    tool('test_image_content', 'Returns one image block', async () => ({ content: [{ type: 'image', data: PNG, mimeType: 'image/png' }] }));
    tool('test_audio_content', 'Returns one audio block', async () => ({ content: [{ type: 'audio', data: WAV, mimeType: 'audio/wav' }] }));
    tool('test_embedded_resource', 'Returns an embedded text resource', async () => ({
      content: [{ type: 'resource', resource: { uri: 'test://embedded-resource', mimeType: 'text/plain', text: 'This is an embedded resource content.' } }],
    }));
    tool('test_multiple_content_types', 'Returns text, image and resource blocks', async () => ({
      content: [
        { type: 'text', text: 'Multiple content types test:' },
        { type: 'image', data: PNG, mimeType: 'image/png' },
        {
          type: 'resource',
          resource: { uri: 'test://mixed-content-resource', mimeType: 'application/json', text: JSON.stringify({ test: 'data', value: 123 }) },
        },
      ],
    }));
    // A tool execution error (isError: true), not a protocol error: MCP "Error Handling".
    tool('test_error_handling', 'Fails as a tool error', async () => ({
      isError: true,
      content: [{ type: 'text', text: 'This tool intentionally returns an error for testing' }],
    }));
    tool('test_tool_with_progress', 'Reports progress 0, 50, 100 when the request carries a progressToken', async (_args: unknown, c: any) => {
      const progressToken = c.mcpReq._meta?.progressToken;
      if (progressToken !== undefined) {
        for (const progress of [0, 50, 100]) {
          await c.mcpReq.notify({ method: 'notifications/progress', params: { progressToken, progress, total: 100, message: `step ${progress}` } });
          if (progress < 100) await sleep(30);
        }
      }
      return text(String(progressToken ?? 'no-progress-token'));
    });
    tool('test_tool_with_logging', 'Sends three log messages while running', async (_args: unknown, c: any) => {
      for (const data of ['Tool execution started', 'Tool processing data', 'Tool execution completed']) {
        await c.mcpReq.notify({ method: 'notifications/message', params: { level: 'info', data } });
        await sleep(20);
      }
      return text('Tool with logging executed successfully');
    });
    tool(
      'json_schema_2020_12_tool',
      'Tool with JSON Schema 2020-12 features (SEP-1613, SEP-2106)',
      async (args: unknown) => text(`called with ${JSON.stringify(args)}`),
      fromJsonSchema(JSON_SCHEMA_2020_12 as never),
    );
    tool('test_reconnection', 'Answers after a pause (SEP-1699 polling probe)', async () => {
      await sleep(100);
      return text('Reconnection test completed successfully.');
    });
    // SEP-2243: an argument mirrored into the Mcp-Param-Region header.
    tool(
      'test_x_mcp_header',
      'Echoes region, which clients mirror into Mcp-Param-Region (SEP-2243)',
      async (args: { region?: string }) => text(`region=${args.region ?? '<none>'}`),
      fromJsonSchema({ type: 'object', properties: { region: { type: 'string', 'x-mcp-header': 'Region' }, level: { type: 'integer' } } } as never),
    );
    // SEP-2575 server-stateless diagnostics.
    tool(
      'test_missing_capability',
      'Needs the client sampling capability (MRTR createMessage)',
      async (_args: unknown, c: any): Promise<CallToolResult | InputRequiredResult> => {
        if (c.mcpReq.inputResponses?.['llm_answer'] === undefined) {
          return inputRequired({
            inputRequests: {
              llm_answer: inputRequired.createMessage({ messages: [{ role: 'user', content: { type: 'text', text: 'Reply: pong' } }], maxTokens: 16 }),
            },
          });
        }
        return text('sampling round-trip complete');
      },
    );
    tool('test_streaming_elicitation', 'A plain result: the response stream carries no server-to-client requests', async () => text('result frames only'));
    tool('test_logging_tool', 'Logs through the request-scoped channel (sent only when _meta logLevel is set)', async (_args: unknown, c: any) => {
      await c.mcpReq.log('info', 'test_logging_tool ran');
      return text('logged');
    });
    tool('test_trigger_tool_change', 'Adds or removes test_dynamic_tool and announces tools/list_changed', async () => {
      dynamicTool = !dynamicTool;
      handler.notify.toolsChanged();
      return text(`test_dynamic_tool ${dynamicTool ? 'added' : 'removed'}`);
    });
    if (dynamicTool) tool('test_dynamic_tool', 'Present after an odd number of test_trigger_tool_change calls', async () => text('dynamic'));
    return server;
  });

  listener.setHandler(async (req) => {
    const { pathname } = new URL(req.url);
    if (req.method === 'GET' && pathname === '/.well-known/oauth-authorization-server') return Response.json(asMetadata(ctx));
    if (req.method === 'GET' && pathname === '/jwks') return Response.json({ keys: [ctx.publicJwk] });
    if (req.method === 'POST' && pathname === '/token') return handleOAuth(() => jwtBearerToken(ctx, req));
    // RFC 9728 §3.1: metadata at the well-known path + the resource's path.
    if (req.method === 'GET' && pathname === `/.well-known/oauth-protected-resource${MCP_PATH}`) {
      return Response.json({
        resource: listener.origin + MCP_PATH,
        authorization_servers: [listener.origin],
        scopes_supported: [UPSTREAM_SCOPE],
        bearer_methods_supported: ['header'],
      });
    }
    if (pathname !== MCP_PATH) return new Response('not found', { status: 404 });
    const verified = await verifyBearer(ctx, req, MCP_PATH);
    if (!verified.ok) return verified.response;
    return handler.fetch(req, { authInfo: { token: '', clientId: verified.auth.clientId, scopes: verified.auth.scopes } });
  });

  return {
    origin: listener.origin,
    url: listener.origin + MCP_PATH,
    calls,
    async close() {
      await handler.close().catch(() => {});
      await listener.close();
    },
  };
}

export { GATEWAY_CLIENT_ID };
