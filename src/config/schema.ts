import { z } from 'zod';

/** An audit instance (chain) name: it is part of file names, lock names and every audit record. */
export const INSTANCE_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

/**
 * The schema of mcp.config.json. It is the single source of truth: the TypeScript types, the
 * validation of `config check` and of hot reloads, and mcp.config.schema.json (for editors) all
 * come from here.
 */

// ---------------------------------------------------------------------------------------------
// Secrets are never written in the config: only a reference to where they live.

const LITERAL_SECRET_HINT = 'secrets are never written in the config; use {"env": "VAR_NAME"} or {"file": "path/to/secret"}';

export const SecretRef = z
  .union(
    [
      z.strictObject({
        env: z
          .string()
          .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name')
          .describe('Name of the environment variable that holds the secret'),
      }),
      z.strictObject({
        file: z.string().min(1).describe('Path of a file holding the secret (relative to the config file); surrounding whitespace is trimmed'),
      }),
    ],
    { error: (issue) => (typeof issue.input === 'string' ? `literal secret refused: ${LITERAL_SECRET_HINT}` : LITERAL_SECRET_HINT) },
  )
  .describe('A reference to a secret: {"env": "NAME"} or {"file": "path"}');
export type SecretRef = z.infer<typeof SecretRef>;

const HttpUrl = z
  .string()
  .refine((s) => URL.canParse(s), { message: 'must be an absolute URL', abort: true })
  .refine((s) => /^https?:$/.test(new URL(s).protocol), 'must be an http(s) URL')
  .refine((s) => !new URL(s).hash, 'must not have a #fragment');

/** An issuer identifier (RFC 8414 §2): https URL without query or fragment. http is allowed for loopback. */
const Issuer = HttpUrl.refine((s) => !new URL(s).search, 'an issuer must not have a query');

// ---------------------------------------------------------------------------------------------
// Client authentication (RFC 6749 §2.3, RFC 7523 §2.2 for private_key_jwt)

export const ClientAuth = z
  .discriminatedUnion('method', [
    z.strictObject({
      method: z.literal('client_secret_basic'),
      clientSecret: SecretRef,
    }),
    z.strictObject({
      method: z.literal('client_secret_post'),
      clientSecret: SecretRef,
    }),
    z.strictObject({
      method: z.literal('private_key_jwt'),
      privateKey: SecretRef.describe('Reference to a private JWK (JSON) or PKCS#8 PEM key'),
      alg: z.enum(['RS256', 'PS256', 'ES256', 'EdDSA']).default('ES256'),
      kid: z.string().optional(),
    }),
  ])
  .describe('How the gateway authenticates as an OAuth client');
export type ClientAuth = z.infer<typeof ClientAuth>;

export const OAuthClient = z.strictObject({
  clientId: z.string().min(1).describe("The gateway's client id at this server"),
  auth: ClientAuth,
});

// ---------------------------------------------------------------------------------------------

const ScopeList = z.array(z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]+$/, 'a scope token has no spaces or quotes (RFC 6749 §3.3)')).describe('OAuth scopes');

const Name = z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/, 'use letters, digits, "_", "-" and "." (at most 64 characters)');

/**
 * Time budget of one request to the IdP or an authorization server. 4 s by default: a call that needs a
 * new token fails within 5 s when one of them hangs, with the cause in the error (src/xaa/constants.ts).
 */
const AuthTimeoutMs = z.number().int().min(100).max(60_000).default(4_000);

export const IdpConfig = z
  .strictObject({
    issuer: Issuer.describe('Issuer of the enterprise IdP (OIDC discovery is done from it)'),
    clientId: z.string().min(1).describe("The gateway's client id at the IdP"),
    auth: ClientAuth,
    loginScopes: ScopeList.default(['openid', 'profile', 'email', 'offline_access']),
    subjectTokenType: z
      .enum(['urn:ietf:params:oauth:token-type:id_token', 'urn:ietf:params:oauth:token-type:refresh_token'])
      .default('urn:ietf:params:oauth:token-type:id_token')
      .describe("Which of the user's IdP tokens is sent as subject_token in the token exchange"),
    timeoutMs: AuthTimeoutMs.describe('Longest wait for one answer from the IdP (metadata discovery, token exchange); then the call fails naming this setting'),
  })
  .describe('The enterprise IdP that issues ID-JAGs (RFC 8693 token exchange)');

export const ResourceConfig = z
  .strictObject({
    resource: HttpUrl.describe('Resource URI (RFC 8707) sent as `resource` in the token exchange'),
    authorizationServer: Issuer.describe("Issuer of the resource's authorization server (the ID-JAG audience)"),
    client: OAuthClient.describe("The gateway's client at that authorization server"),
    enabled: z.boolean().default(true).describe('false refuses every call to this resource'),
    timeoutMs: AuthTimeoutMs.describe("Longest wait for one answer from the resource's authorization server (metadata discovery, jwt-bearer grant)"),
  })
  .describe('A SaaS resource reached by ID-JAG');
export type ResourceConfig = z.infer<typeof ResourceConfig>;

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
        z.string().refine((s) => !/\r|\n/.test(s), 'no line breaks'),
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
  })
  .describe('An upstream MCP server reached by Enterprise-Managed Authorization (SEP-990)');
export type UpstreamConfig = z.infer<typeof UpstreamConfig>;

export const PreRegisteredClient = z
  .strictObject({
    clientId: z.string().min(1),
    clientName: z.string().min(1).describe('Shown on the consent page and in audit records'),
    redirectUris: z.array(HttpUrl).min(1).describe('Exact redirect URIs (http only for loopback)'),
    clientSecret: SecretRef.optional().describe('Omit for public clients (PKCE only); else client_secret_basic/post'),
  })
  .describe('An MCP client registered ahead of time');
export type PreRegisteredClient = z.infer<typeof PreRegisteredClient>;

const RateLimit = z.strictObject({
  windowSeconds: z.number().int().positive().default(60),
  perAddress: z.number().int().positive(),
  perClient: z.number().int().positive(),
});

/**
 * Admission control of MCP requests at /mcp (src/server/http/admission.ts). The limit adapts between
 * min and max: it falls toward min while the event loop is saturated (the CPU is the bottleneck: more
 * concurrency only adds latency) and rises toward max while it is not (calls waiting on a slow SaaS
 * API cost little CPU). Defaults: see docs/overload.md.
 */
export const OverloadConfig = z
  .strictObject({
    maxConcurrentRequests: z
      .number()
      .int()
      .min(1)
      .max(100_000)
      .default(256)
      .describe('MCP POST requests at /mcp served at once by this instance, never more (calls waiting on downstream APIs count too)'),
    minConcurrentRequests: z
      .number()
      .int()
      .min(1)
      .max(100_000)
      .default(32)
      .describe('The limit while the CPU is saturated (event loop busy): requests beyond it wait in the queue. Equal to maxConcurrentRequests: a fixed limit'),
    maxQueuedRequests: z
      .number()
      .int()
      .min(0)
      .max(100_000)
      .default(1024)
      .describe(
        'Requests waiting for a slot, first come first served; beyond it, or when a newcomer could not expect a slot within maxQueueWaitMs at the rate slots are freeing, 503 with Retry-After',
      ),
    maxQueueWaitMs: z.number().int().min(1).max(60_000).default(500).describe('Longest wait in the queue; then 503 with Retry-After'),
  })
  .refine((o) => o.minConcurrentRequests <= o.maxConcurrentRequests, {
    path: ['minConcurrentRequests'],
    message: 'must not be above maxConcurrentRequests (set both equal for a fixed limit)',
  })
  .describe('Overload protection of /mcp: a bounded number of requests in progress and a bounded queue; beyond them 503 with Retry-After');
export type OverloadConfig = z.infer<typeof OverloadConfig>;

export const OVERLOAD_DEFAULTS: OverloadConfig = { maxConcurrentRequests: 256, minConcurrentRequests: 32, maxQueuedRequests: 1024, maxQueueWaitMs: 500 };

export const ServerConfig = z
  .strictObject({
    publicUrl: HttpUrl.refine((s) => !new URL(s).search && new URL(s).pathname === '/', 'use the origin only, e.g. "https://mcp.acme.example"').describe(
      'Origin clients use to reach the gateway: the MCP endpoint is <publicUrl>/mcp and the authorization server issuer is <publicUrl>',
    ),
    host: z.string().default('127.0.0.1').describe('Listen address'),
    port: z.number().int().min(0).max(65535).default(4300),
    allowedOrigins: z.array(z.string()).default([]).describe('Browser Origins allowed at /mcp besides publicUrl (DNS-rebinding guard); "*" is refused'),
    allowedHosts: z
      .array(
        z
          .string()
          .regex(
            /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?)$/,
            'a host name or IP literal without scheme, port or wildcard, e.g. "mcp.internal.acme.example"',
          ),
      )
      .default([])
      .describe("Host names clients may reach /mcp by besides publicUrl's host (DNS-rebinding guard on the Host header; ports are not compared)"),
    maxBodyBytes: z
      .number()
      .int()
      .positive()
      .max(16 * 1024 * 1024)
      .default(1024 * 1024),
    trustProxyHops: z
      .number()
      .int()
      .min(0)
      .max(5)
      .default(0)
      .describe(
        'Reverse proxies in front of the gateway: rate limits take the client address from X-Forwarded-For, this many hops from the right (0 = the socket address)',
      ),
    accessTokenTtlSeconds: z.number().int().min(60).max(900).default(600),
    signingKeyRotationDays: z
      .number()
      .int()
      .min(1)
      .default(30)
      .describe(
        'Age at which the key signing gateway access tokens is replaced (checked at start and hourly); the old key keeps verifying until its tokens have expired',
      ),
    refreshTokenTtlSeconds: z
      .number()
      .int()
      .min(3600)
      .max(90 * 86400)
      .default(30 * 86400),
    encryptionKey: SecretRef.describe('32-byte key (base64 or 64 hex digits) that encrypts IdP refresh tokens and signing keys at rest (AES-256-GCM)'),
    dataDir: z.string().default('./data/store').describe('Embedded store directory (PGlite); ignored when DATABASE_URL is set'),
    dynamicRegistration: z.boolean().default(true).describe('Allow RFC 7591 dynamic client registration at /register'),
    clientIdMetadataDocuments: z.boolean().default(true).describe('Accept https client_id URLs (Client ID Metadata Documents)'),
    clients: z.array(PreRegisteredClient).default([]),
    overload: OverloadConfig.default(OVERLOAD_DEFAULTS),
    sessions: z
      .strictObject({
        maxPerSignIn: z
          .number()
          .int()
          .min(1)
          .max(1000)
          .default(16)
          .describe(
            'Live 2025-era MCP sessions (Mcp-Session-Id) one sign-in may hold per agent; opening one more ends the least recently used, whose next request gets 404 saying why',
          ),
        idleTimeoutSeconds: z
          .number()
          .int()
          .min(60)
          .max(7 * 86400)
          .default(1800)
          .describe('A 2025-era MCP session with no request for this long (on any instance) ends'),
      })
      .default({ maxPerSignIn: 16, idleTimeoutSeconds: 1800 })
      .describe('2025-era MCP sessions (2026-07-28 has none); read at start'),
    rateLimits: z
      .strictObject({
        register: RateLimit.default({ windowSeconds: 60, perAddress: 10, perClient: 10 }),
        authorize: RateLimit.default({ windowSeconds: 60, perAddress: 30, perClient: 30 }),
        token: RateLimit.default({ windowSeconds: 60, perAddress: 60, perClient: 60 }),
      })
      .default({
        register: { windowSeconds: 60, perAddress: 10, perClient: 10 },
        authorize: { windowSeconds: 60, perAddress: 30, perClient: 30 },
        token: { windowSeconds: 60, perAddress: 60, perClient: 60 },
      }),
  })
  .describe('The remote gateway: Streamable HTTP at /mcp, and its OAuth authorization server for MCP clients');
export type ServerConfig = z.infer<typeof ServerConfig>;

export const ObservabilityConfig = z
  .strictObject({
    metrics: z
      .strictObject({
        enabled: z.boolean().default(true).describe('Serve Prometheus metrics at GET /metrics (serve only)'),
        token: SecretRef.optional().describe(
          'Bearer token a scraper presents to read /metrics from a non-loopback address; without it only loopback scrapers are served',
        ),
      })
      .default({ enabled: true }),
    otlp: z
      .strictObject({
        endpoint: HttpUrl.describe('OTLP/HTTP collector base URL, e.g. "http://otel-collector:4318"; spans go to <endpoint>/v1/traces'),
      })
      .optional()
      .describe('Export OpenTelemetry traces; without it the standard OTEL_EXPORTER_OTLP_ENDPOINT is used, and with neither tracing is off'),
    serviceName: z.string().min(1).optional().describe('service.name of the exported spans (default: OTEL_SERVICE_NAME, else "xaa-gateway")'),
  })
  .describe('Metrics (Prometheus) and traces (OpenTelemetry)');
export type ObservabilityConfig = z.infer<typeof ObservabilityConfig>;

export const SsfConfig = z
  .strictObject({
    transmitter: Issuer.describe(
      'Issuer of the Shared Signals transmitter (usually the IdP); its /.well-known/ssf-configuration gives the jwks_uri that signs its SETs',
    ),
    audience: z.string().min(1).optional().describe('The "aud" every SET must carry (default server.publicUrl)'),
    delivery: z
      .enum(['push', 'poll'])
      .default('push')
      .describe('push: the transmitter POSTs SETs to <publicUrl>/ssf/events (RFC 8935); poll: the gateway polls pollUrl (RFC 8936)'),
    pushToken: SecretRef.optional().describe('When set, pushed SETs must carry "Authorization: Bearer <this token>"'),
    pollUrl: HttpUrl.optional().describe('The RFC 8936 poll endpoint of the stream (required with delivery "poll")'),
    pollToken: SecretRef.optional().describe('Bearer token the gateway sends to the poll endpoint'),
    pollIntervalSeconds: z.number().int().min(1).max(3600).default(30).describe('Pause between polls when nothing is pending; failures back off from it'),
    maxAgeSeconds: z
      .number()
      .int()
      .min(60)
      .max(30 * 86400)
      .default(86400)
      .describe('SETs issued longer ago than this are refused (and their jti need not be remembered longer)'),
  })
  .describe('Security events from the IdP (OpenID Shared Signals: CAEP, RISC) received as SETs');
export type SsfConfig = z.infer<typeof SsfConfig>;

export const AdminConfig = z
  .strictObject({
    tokens: z
      .array(SecretRef)
      .default([])
      .describe(
        'Bearer tokens for automation and the admin CLI, as secret references (e.g. {"env": "XAA_ADMIN_TOKEN"}); at least 32 characters each (`openssl rand -base64 32`)',
      ),
    group: z.string().min(1).optional().describe('IdP group whose members may sign in at /admin/login (OIDC, same IdP); omit to allow only tokens'),
    groupsClaim: z.string().min(1).default('groups').describe("ID token (or UserInfo) claim that lists the user's groups"),
    sessionTtlSeconds: z.number().int().min(300).max(86400).default(28800).describe('Lifetime of a browser admin session'),
  })
  .describe('Who may use the admin API (/admin/api) and console: bearer admin tokens and/or members of an IdP group');
export type AdminConfig = z.infer<typeof AdminConfig>;

const CallRate = z
  .strictObject({
    calls: z.number().int().min(1).max(1_000_000_000).describe('Tool calls allowed in one window'),
    windowSeconds: z.number().int().min(1).max(86_400).default(60).describe('Length of the fixed window, in seconds'),
  })
  .describe('At most `calls` tool calls in each window of `windowSeconds`');

export const ToolRateLimitsConfig = z
  .strictObject({
    perUser: CallRate.optional().describe("Each user's calls of all tools together"),
    perTool: CallRate.optional().describe("Each tool's calls by all users together (every tool; tools.<name>.perTool replaces it for that tool)"),
    tools: z
      .record(
        z.string().min(1),
        z.strictObject({
          perUser: CallRate.optional().describe("Each user's calls of this tool"),
          perTool: CallRate.optional().describe("This tool's calls by all users together, instead of the top-level perTool"),
        }),
      )
      .default({})
      .describe('Limits of one tool, by its name as tools/list shows it (an upstream tool with its prefix)'),
  })
  .describe(
    'Rate limits of tool calls, per user and per tool: a call over a limit is denied by policy (tool error [rate_limited], audited). With REDIS_URL every instance counts in Redis, else each process on its own',
  );
export type ToolRateLimitsConfig = z.infer<typeof ToolRateLimitsConfig>;

export const StdioConfig = z
  .strictObject({
    maxConcurrentToolCalls: z
      .number()
      .int()
      .min(1)
      .max(10_000)
      .default(64)
      .describe('tools/call requests in progress at once on one stdio connection; beyond it a JSON-RPC error (-32000) answers at once'),
  })
  .describe('`xaa-gateway stdio`: limits of one desktop connection');
export type StdioConfig = z.infer<typeof StdioConfig>;

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
    tokens: z
      .strictObject({
        maxLifetimeSeconds: z.number().int().positive().max(3600).default(900),
        skewSeconds: z.number().int().min(0).max(300).default(30),
      })
      .default({ maxLifetimeSeconds: 900, skewSeconds: 30 }),
    audit: z
      .strictObject({
        dir: z.string().min(1).default('./data/audit').describe('Directory of the JSON Lines audit files (relative to the config file)'),
        instance: z
          .string()
          .regex(INSTANCE_RE, 'must be 1-100 letters, digits, ".", "_" or "-", starting with a letter or digit')
          .optional()
          .describe(
            'Name of this serve instance in the audit log: every record carries it and each instance writes a hash chain of its own. Default: XAA_INSTANCE_ID, else the host name; give each instance of a fleet its own, stable across restarts',
          ),
        sink: z
          .enum(['file', 'postgres'])
          .optional()
          .describe(
            'Where serve writes audit records: "postgres" (the default with DATABASE_URL: one audit table for the whole fleet) or "file" (audit.dir on this host)',
          ),
        signingKeyFile: z
          .string()
          .min(1)
          .optional()
          .describe(
            'The audit signing key (Ed25519, created on first start, mode 0600) that signs checkpoints; relative to the config file. Default: audit-signing-key.json in server.dataDir (serve) or beside the credentials file (stdio). Keep it out of audit.dir and off the database',
          ),
        checkpoints: z
          .strictObject({
            intervalSeconds: z
              .number()
              .int()
              .min(1)
              .max(86_400)
              .default(60)
              .describe('How often each instance signs its chain head while records come (also at start and at shutdown)'),
            copyFile: z
              .string()
              .min(1)
              .optional()
              .describe(
                'Also append every checkpoint to this file (relative to the config file): put it on another disk or a mount a second party owns. Every checkpoint is also logged (msg "audit checkpoint")',
              ),
          })
          .default({ intervalSeconds: 60 }),
      })
      .default({ dir: './data/audit', checkpoints: { intervalSeconds: 60 } }),
    observability: ObservabilityConfig.optional(),
    toolRateLimits: ToolRateLimitsConfig.optional(),
    stdio: StdioConfig.default({ maxConcurrentToolCalls: 64 }),
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
