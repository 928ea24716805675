import { z } from 'zod';
import { HttpUrl, SecretRef } from './common.js';

/** The longest lifetime `server.accessTokenTtlSeconds` allows: the access-token check refuses a longer `exp - iat`. */
export const ACCESS_TOKEN_TTL_MAX_S = 900;

/** The `server` section: the remote gateway (`serve`), its authorization server, sessions and overload protection. */

export const PreRegisteredClient = z
  .strictObject({
    clientId: z.string().min(1),
    clientName: z.string().min(1).describe('Shown on the consent page and in audit records'),
    redirectUris: z.array(HttpUrl).min(1).describe('Exact redirect URIs (http only for loopback)'),
    clientSecret: SecretRef.optional().describe('Omit for public clients (PKCE only); else client_secret_basic/post'),
    dpopBoundAccessTokens: z
      .boolean()
      .default(false)
      .describe('The client must send a DPoP proof at /token and always gets DPoP-bound access tokens (RFC 9449 §5.2 dpop_bound_access_tokens)'),
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

/** Inbound DPoP (RFC 9449) at the gateway's /token and /mcp (src/inbound/http/dpop.ts). */
export const DpopServerConfig = z
  .strictObject({
    required: z
      .boolean()
      .default(false)
      .describe('Every client must use DPoP: /token refuses requests without a proof and /mcp refuses access tokens that are not DPoP-bound'),
    nonce: z
      .boolean()
      .default(false)
      .describe(
        'Proofs at /token and /mcp must carry a nonce the gateway issued (RFC 9449 §8, §9: a use_dpop_nonce refusal hands one out); nonces are valid 5 to 10 minutes on every instance sharing server.encryptionKey',
      ),
    proofMaxAgeSeconds: z
      .number()
      .int()
      .min(5)
      .max(600)
      .default(60)
      .describe('How old a proof (its iat) may be; its jti is remembered this long, per instance, to refuse a replay'),
  })
  .describe(
    'DPoP (RFC 9449): access tokens bound to a key of the client. A client that sends a proof at /token gets a DPoP token; Bearer stays possible unless required here or by the client (dpopBoundAccessTokens)',
  );
export type DpopServerConfig = z.infer<typeof DpopServerConfig>;

export const DPOP_DEFAULTS: DpopServerConfig = { required: false, nonce: false, proofMaxAgeSeconds: 60 };

/**
 * MCP Enterprise-Managed Authorization (SEP-990) at the gateway's authorization server: the
 * jwt-bearer grant (RFC 7523 §2.1) with an ID-JAG issued by the enterprise IdP (idp.issuer) for this
 * gateway (src/inbound/http/as/id-jag-grant.ts).
 */
export const EnterpriseManagedConfig = z
  .strictObject({
    enabled: z
      .boolean()
      .default(false)
      .describe(
        "Accept the jwt-bearer grant with an ID-JAG from the enterprise IdP (idp.issuer) whose audience is this gateway: agents sign in without a browser. Confidential clients only; the ID-JAG's client_id must be the authenticated client",
      ),
    maxAssertionLifetimeSeconds: z
      .number()
      .int()
      .min(30)
      .max(3600)
      .default(600)
      .describe('An ID-JAG whose exp - iat is longer than this is refused (IdPs issue them for minutes)'),
  })
  .describe('Enterprise-managed sign-in (SEP-990): an ID-JAG from the IdP redeemed at /token, no browser; downstream ID-JAGs by the chained exchange');
export type EnterpriseManagedConfig = z.infer<typeof EnterpriseManagedConfig>;

export const ENTERPRISE_MANAGED_DEFAULTS: EnterpriseManagedConfig = { enabled: false, maxAssertionLifetimeSeconds: 600 };

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
    headersTimeoutSeconds: z
      .number()
      .int()
      .min(1)
      .max(60)
      .default(5)
      .describe("Longest wait for a request's headers once it began; then 408 and the connection is closed (slowloris)"),
    requestTimeoutSeconds: z
      .number()
      .int()
      .min(1)
      .max(300)
      .default(10)
      .describe(
        'Longest wait for a whole request, headers and body; then 408 and the connection is closed (a body sent slowly on purpose). Responses, streams included, are not limited by it',
      ),
    trustProxyHops: z
      .number()
      .int()
      .min(0)
      .max(5)
      .default(0)
      .describe(
        'Reverse proxies in front of the gateway: rate limits take the client address from X-Forwarded-For, this many hops from the right (0 = the socket address)',
      ),
    accessTokenTtlSeconds: z.number().int().min(60).max(ACCESS_TOKEN_TTL_MAX_S).default(600),
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
    dpop: DpopServerConfig.default(DPOP_DEFAULTS),
    enterpriseManaged: EnterpriseManagedConfig.default(ENTERPRISE_MANAGED_DEFAULTS),
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
