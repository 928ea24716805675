import type { JWK } from 'jose';

/** Client authentication with its secret material resolved (never logged). RFC 6749 §2.3, RFC 7523 §2.2. */
export type ResolvedClientAuth =
  | { method: 'client_secret_basic' | 'client_secret_post'; clientSecret: string }
  | { method: 'private_key_jwt'; privateKey: JWK | string; alg: string; kid?: string };

export interface ClientCredentials {
  clientId: string;
  auth: ResolvedClientAuth;
}

/** RFC 8414 authorization server metadata (only what the gateway reads). */
export interface AuthorizationServerMetadata {
  issuer: string;
  token_endpoint: string;
  authorization_endpoint?: string;
  jwks_uri?: string;
  revocation_endpoint?: string;
  grant_types_supported?: string[];
  token_endpoint_auth_methods_supported?: string[];
  [key: string]: unknown;
}

/** Result of step a: RFC 8693 token exchange at the IdP. */
export interface IdJagResult {
  /** The ID-JAG itself. Secret: never log it. */
  idJag: string;
  jti: string;
  /** Epoch ms, from `expires_in` or else the ID-JAG's `exp`. */
  expiresAt: number;
  /** Scopes the IdP put in the ID-JAG (may be narrower than requested). */
  scopes?: string[];
}

/** Result of step b: RFC 7523 jwt-bearer grant at the resource AS. */
export interface AccessTokenResult {
  /** Secret: never log it. */
  accessToken: string;
  tokenType: string;
  /** Epoch ms, when known (expires_in or the JWT's exp). */
  expiresAt?: number;
  /** Granted scopes: the response `scope`, or the requested ones when it is omitted (RFC 6749 §5.1). */
  scopes: string[];
}

/** What SEP-990 discovery yields for an upstream MCP server. */
export interface McpResourceDiscovery {
  /** The `resource` of the RFC 9728 metadata; equals the upstream URL. */
  resource: string;
  authorizationServer: AuthorizationServerMetadata;
  scopesSupported?: string[];
}
