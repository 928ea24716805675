import { z } from 'zod';
import { AuditConfig } from './audit.js';
import { Name } from './common.js';
import { AdminConfig, ScimConfig, SsfConfig } from './control.js';
import { ToolRateLimitsConfig, StdioConfig } from './limits.js';
import { ObservabilityConfig } from './observability.js';
import { IdpConfig, ResourceConfig } from './resources.js';
import { ServerConfig } from './server.js';
import { ToolConfig, UpstreamConfig } from './tools.js';

/** The whole of mcp.config.json: its sections, and the rules that hold between them. */
export const GatewayConfig = z
  .strictObject({
    $schema: z.string().optional(),
    idp: IdpConfig,
    resources: z.record(Name, ResourceConfig).default({}),
    tools: z.array(ToolConfig).default([]),
    upstreams: z.array(UpstreamConfig).default([]),
    server: ServerConfig.optional().describe('Needed by `xaa-gateway serve` (remote MCP over Streamable HTTP)'),
    admin: AdminConfig.default({ tokens: [], groupsClaim: 'groups', sessionTtlSeconds: 28800 }),
    ssf: SsfConfig.optional().describe('Shared Signals receiver: CAEP/RISC events revoke or disable users (remote gateway only)'),
    scim: ScimConfig.optional().describe('SCIM 2.0 receiver: the IdP provisions and deprovisions users (remote gateway only)'),
    tokens: z
      .strictObject({
        maxLifetimeSeconds: z.number().int().positive().max(3600).default(900),
        skewSeconds: z.number().int().min(0).max(300).default(30),
      })
      .default({ maxLifetimeSeconds: 900, skewSeconds: 30 }),
    audit: AuditConfig.default({ dir: './data/audit', checkpoints: { intervalSeconds: 60 } }),
    observability: ObservabilityConfig.optional(),
    toolRateLimits: ToolRateLimitsConfig.optional(),
    stdio: StdioConfig.default({ maxConcurrentToolCalls: 64, share: true, shareIdleSeconds: 10 }),
  })
  .superRefine((cfg, ctx) => {
    const names = new Map<string, number>();
    cfg.tools.forEach((tool, i) => {
      if (names.has(tool.name)) {
        ctx.addIssue({ code: 'custom', path: ['tools', i, 'name'], message: `duplicate tool name "${tool.name}" (also tools[${names.get(tool.name)}])` });
      }
      names.set(tool.name, i);
      if (!(tool.resource in cfg.resources)) {
        const known = Object.keys(cfg.resources);
        ctx.addIssue({
          code: 'custom',
          path: ['tools', i, 'resource'],
          message: `unknown resource "${tool.resource}"; declare it under "resources"${known.length ? ` (known: ${known.join(', ')})` : ''}`,
        });
      }
      const props = (tool.inputSchema.properties ?? {}) as Record<string, unknown>;
      const required = new Set((tool.inputSchema.required ?? []) as string[]);
      for (const m of tool.http.url.matchAll(/\{([^}]*)\}/g)) {
        const arg = m[1] ?? '';
        if (!(arg in props) || !required.has(arg)) {
          ctx.addIssue({
            code: 'custom',
            path: ['tools', i, 'http', 'url'],
            message: `path parameter {${arg}} must be a required property of inputSchema`,
          });
        }
      }
      if ((tool.http.method === 'GET' || tool.http.method === 'DELETE') && tool.http.body) {
        ctx.addIssue({
          code: 'custom',
          path: ['tools', i, 'http', 'body'],
          message: `${tool.http.method} requests carry no body; map these arguments with "query" instead`,
        });
      }
      for (const where of ['query', 'body'] as const) {
        for (const [key, arg] of Object.entries(tool.http[where] ?? {})) {
          if (!(arg in props)) {
            ctx.addIssue({ code: 'custom', path: ['tools', i, 'http', where, key], message: `argument "${arg}" is not a property of inputSchema` });
          }
        }
      }
    });
    const prefixes = new Map<string, number>();
    cfg.upstreams.forEach((u, i) => {
      if (prefixes.has(u.prefix)) {
        ctx.addIssue({
          code: 'custom',
          path: ['upstreams', i, 'prefix'],
          message: `prefix "${u.prefix}" is already used by upstreams[${prefixes.get(u.prefix)}]`,
        });
      }
      prefixes.set(u.prefix, i);
    });
    // Upstream tools are only known once listed: a name with an upstream's prefix is taken on trust.
    for (const name of Object.keys(cfg.toolRateLimits?.tools ?? {})) {
      if (names.has(name) || cfg.upstreams.some((u) => name.startsWith(u.prefix) && name.length > u.prefix.length)) continue;
      const known = [...names.keys()];
      const prefixes = cfg.upstreams.map((u) => `"${u.prefix}..."`);
      ctx.addIssue({
        code: 'custom',
        path: ['toolRateLimits', 'tools', name],
        message: `unknown tool "${name}"; name a tool of "tools"${known.length ? ` (${known.slice(0, 10).join(', ')}${known.length > 10 ? ', ...' : ''})` : ''}${prefixes.length ? ` or an upstream tool with its prefix (${prefixes.join(', ')})` : ''}`,
      });
    }
    if (cfg.ssf?.delivery === 'poll' && !cfg.ssf.pollUrl) {
      ctx.addIssue({
        code: 'custom',
        path: ['ssf', 'pollUrl'],
        message: 'delivery "poll" needs the poll endpoint of the stream (RFC 8936), e.g. "https://idp.example/ssf/poll/<stream>"',
      });
    }
  })
  .describe('xaa-gateway configuration (mcp.config.json)');

/** Config as written (defaults optional). */
export type GatewayConfigInput = z.input<typeof GatewayConfig>;
/** Config after parsing (defaults filled). Frozen after load. */
export type GatewayConfig = z.infer<typeof GatewayConfig>;
