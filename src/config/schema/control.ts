import { z } from 'zod';
import { HttpUrl, Issuer, SecretRef } from './common.js';

/** Who may take access away besides the config: admins (API, console, CLI) and the IdP's security events. */

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

export const ScimClientConfig = z
  .strictObject({
    name: z
      .string()
      .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'lowercase letters, digits, "-" and "_", at most 63 characters (e.g. "okta")')
      .describe('Name of this SCIM connection (e.g. "okta"): its users and groups, audit records and errors carry it'),
    token: SecretRef.describe(
      'Bearer token the IdP sends to /scim/v2 for this connection (Okta: "API Token"; Entra: "Secret Token"); at least 32 characters (`openssl rand -base64 32`)',
    ),
    subject: z
      .enum(['externalId', 'userName', 'email'])
      .default('externalId')
      .describe(
        'How a SCIM user is matched to a gateway user of the IdP (idp.issuer): "externalId" or "userName" is the `sub` of their ID token; "email" matches the email of their gateway sign-ins (Entra, whose `sub` is pairwise)',
      ),
    accessGroups: z
      .array(z.string().min(1).max(256))
      .max(100)
      .default([])
      .describe(
        'Groups (displayName) that grant gateway access: a SCIM user in none of them is deprovisioned, like active: false; empty means every active user',
      ),
  })
  .describe('One IdP connection pushing SCIM 2.0 Users and Groups');
export type ScimClientConfig = z.infer<typeof ScimClientConfig>;

export const ScimConfig = z
  .strictObject({
    clients: z.array(ScimClientConfig).min(1).max(16).describe('The IdP connections allowed to provision (each its own token and namespace)'),
  })
  .superRefine((cfg, ctx) => {
    const seen = new Map<string, number>();
    cfg.clients.forEach((c, i) => {
      if (seen.has(c.name))
        ctx.addIssue({ code: 'custom', path: ['clients', i, 'name'], message: `duplicate SCIM client name "${c.name}" (also clients[${seen.get(c.name)}])` });
      seen.set(c.name, i);
    });
  })
  .describe(
    'SCIM 2.0 receiver at <publicUrl>/scim/v2 (RFC 7644): deprovisioning a user (active: false, DELETE, removal from an access group) disables them at the gateway',
  );
export type ScimConfig = z.infer<typeof ScimConfig>;

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
