import { z } from 'zod';
import { DpopMode } from './resources.js';
import { HttpUrl, Name, OAuthClient, ScopeList } from './common.js';

/** What the gateway exposes as tools: its own (one HTTP API operation each) and upstream MCP servers'. */

const ArgName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an argument name from inputSchema');

export const HttpOperation = z
  .strictObject({
    method: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']),
    url: HttpUrl.describe('URL template; {arg} is replaced by the URL-encoded argument'),
    query: z
      .record(z.string().min(1), ArgName)
      .optional()
      .describe('Query parameter name -> argument name. Default for GET/DELETE: every argument not in the path'),
    body: z
      .record(z.string().min(1), ArgName)
      .optional()
      .describe('JSON body field -> argument name. Default for POST/PUT/PATCH: every argument not in the path or query'),
    headers: z
      .record(
        z.string().regex(/^[A-Za-z0-9-]+$/),
        z
          .string()
          .refine((s) => !/\r|\n/.test(s), 'no line breaks')
          // RFC 9110 §5.5: a field value is visible characters, spaces, tabs and obs-text; Node refuses the rest when sending.
          .refine((s) => /^[\t\x20-\x7e\x80-\xff]*$/.test(s), 'must be a valid HTTP field value: no control characters, and no characters past U+00FF'),
      )
      .optional()
      .refine((h) => !h || !Object.keys(h).some((k) => k.toLowerCase() === 'authorization'), {
        message: 'Authorization is set by the gateway from the brokered token; remove it',
      })
      .describe('Fixed extra request headers (never Authorization)'),
    timeoutMs: z.number().int().positive().max(300_000).default(30_000),
    maxResponseBytes: z
      .number()
      .int()
      .positive()
      .max(64 * 1024 * 1024)
      .default(1024 * 1024),
  })
  .describe('The downstream HTTP API operation a tool performs');
export type HttpOperation = z.infer<typeof HttpOperation>;

const JsonSchemaObject = z.looseObject({ type: z.literal('object') }).describe('JSON Schema of the tool arguments (type: object)');

export const ToolConfig = z
  .strictObject({
    name: Name.describe('Tool name shown to MCP clients'),
    title: z.string().optional(),
    description: z.string().min(1),
    resource: z.string().min(1).describe('Key of the resource in `resources`'),
    scopes: ScopeList,
    inputSchema: JsonSchemaObject.default({ type: 'object', properties: {} }),
    http: HttpOperation,
    enabled: z.boolean().default(true),
  })
  .describe('A tool backed by one HTTP API operation of a resource');
export type ToolConfig = z.infer<typeof ToolConfig>;

export const UpstreamConfig = z
  .strictObject({
    name: Name,
    url: HttpUrl.describe('Streamable HTTP endpoint of the upstream MCP server'),
    prefix: z
      .string()
      .regex(/^[A-Za-z0-9_.-]*$/)
      .describe('Prepended to each upstream tool name, e.g. "crm_"'),
    scopes: ScopeList.default([]),
    client: OAuthClient.describe("The gateway's client at the upstream's authorization server (found by discovery)"),
    allow: z.array(z.string()).optional().describe('Tool names (globs with *) to expose; default all'),
    deny: z.array(z.string()).default([]).describe('Tool names (globs with *) to hide; wins over allow'),
    timeoutMs: z.number().int().positive().max(300_000).default(30_000),
    enabled: z.boolean().default(true),
    dpop: DpopMode,
  })
  .describe('An upstream MCP server reached by Enterprise-Managed Authorization (SEP-990)');
export type UpstreamConfig = z.infer<typeof UpstreamConfig>;
