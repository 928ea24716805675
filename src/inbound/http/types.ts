/**
 * The gateway's own access tokens for MCP clients (issue: remote gateway). JWTs signed ES256 by a
 * key from the store, at most 15 minutes, audience-restricted to this gateway's MCP resource.
 */
export interface GatewayAccessTokenClaims {
  /** The gateway's authorization server issuer (= server.publicUrl). */
  iss: string;
  /** The gateway's MCP resource URI: `<publicUrl>/mcp` (RFC 8707 / RFC 9068 §2.2). */
  aud: string;
  /** The user's subject at the enterprise IdP. */
  sub: string;
  /** The enterprise IdP's issuer (the user is (idp_iss, sub)). */
  idp_iss: string;
  /** The MCP client (agent). */
  client_id: string;
  /** Gateway session id: the user's IdP session held in the store; signing out revokes it. */
  sid: string;
  scope: string;
  /**
   * RFC 9449 §6.1: the DPoP key the token is bound to (its RFC 7638 thumbprint). A bound token is
   * accepted at /mcp only as `Authorization: DPoP` with a proof signed by that key.
   */
  cnf?: { jkt: string };
  jti: string;
  iat: number;
  exp: number;
}

/** What a verified bearer token yields to the MCP layer (SDK AuthInfo.extra). */
export interface GatewayAuthExtra {
  sid: string;
  sub: string;
  idpIss: string;
  clientName?: string;
  jti: string;
}
