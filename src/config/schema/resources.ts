import { z } from 'zod';
import { ClientAuth, HttpUrl, Issuer, OAuthClient, ScopeList } from './common.js';

/** The enterprise IdP that issues ID-JAGs, and the resources whose authorization servers accept them. */

/**
 * Time budget of one request to the IdP or an authorization server. 4 s by default: a call that needs a
 * new token fails within 5 s when one of them hangs, with the cause in the error (src/xaa/constants.ts).
 */
const AuthTimeoutMs = z.number().int().min(100).max(60_000).default(4_000);

/**
 * Sender-constrained downstream tokens (RFC 9449). "auto": DPoP when the authorization server
 * advertises ES256 in `dpop_signing_alg_values_supported`; "required": always (a server that does not
 * bind the token fails the call); "off": Bearer. Once DPoP was asked for, a Bearer answer is refused.
 */
export const DpopMode = z
  .enum(['auto', 'required', 'off'])
  .default('auto')
  .describe(
    'DPoP (RFC 9449) for the downstream tokens: "auto" when the authorization server advertises it, "required" always, "off" never; once asked for, a Bearer token is refused, never used silently',
  );

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
    dpop: DpopMode,
  })
  .describe('A SaaS resource reached by ID-JAG');
export type ResourceConfig = z.infer<typeof ResourceConfig>;
