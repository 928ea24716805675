import { DPOP_SIGNING_ALGS } from '../dpop.js';
import type { AsContext } from './context.js';
import { AS_SCOPES_SUPPORTED } from './scopes.js';
import { ID_JAG_GRANT_PROFILE } from './id-jag-grant.js';
import { supportedGrantTypes } from './token.js';

/** RFC 8414 §2 authorization server metadata; the issuer is server.publicUrl exactly. */
export function authorizationServerMetadata(ctx: AsContext): Record<string, unknown> {
  const issuer = ctx.issuer();
  const server = ctx.server();
  return {
    issuer,
    authorization_endpoint: `${issuer}/authorize`,
    token_endpoint: `${issuer}/token`,
    ...(server.dynamicRegistration ? { registration_endpoint: `${issuer}/register` } : {}),
    revocation_endpoint: `${issuer}/revoke`,
    jwks_uri: `${issuer}/jwks`,
    response_types_supported: ['code'],
    response_modes_supported: ['query'],
    grant_types_supported: supportedGrantTypes(ctx),
    // draft-ietf-oauth-identity-assertion-authz-grant §7.2, MCP Enterprise-Managed Authorization §6:
    // how an enterprise MCP client learns it can redeem an ID-JAG here.
    ...(server.enterpriseManaged.enabled ? { authorization_grant_profiles_supported: [ID_JAG_GRANT_PROFILE] } : {}),
    code_challenge_methods_supported: ['S256'],
    token_endpoint_auth_methods_supported: ['none', 'client_secret_basic', 'client_secret_post'],
    revocation_endpoint_auth_methods_supported: ['none', 'client_secret_basic', 'client_secret_post'],
    // offline_access here only, never in the resource's metadata (MCP 2026-07-28 "Refresh Tokens").
    scopes_supported: [...AS_SCOPES_SUPPORTED],
    // RFC 9207: `iss` is in every authorization response.
    authorization_response_iss_parameter_supported: true,
    ...(server.clientIdMetadataDocuments ? { client_id_metadata_document_supported: true } : {}),
    // RFC 9449 §5.1: /token takes DPoP proofs signed with these.
    dpop_signing_alg_values_supported: [...DPOP_SIGNING_ALGS],
  };
}
