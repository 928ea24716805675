import { DPOP_SIGNING_ALGS } from '../dpop.js';
import type { AsContext } from './context.js';
import { AS_SCOPES_SUPPORTED } from './scopes.js';

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
    grant_types_supported: ['authorization_code', 'refresh_token'],
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
