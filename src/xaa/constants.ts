/** Protocol identifiers (RFC 8693 §3, RFC 7523 §2.1, draft-ietf-oauth-identity-assertion-authz-grant). */
export const GRANT_TYPE_TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const GRANT_TYPE_JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
export const TOKEN_TYPE_ID_JAG = 'urn:ietf:params:oauth:token-type:id-jag';
export const TOKEN_TYPE_ID_TOKEN = 'urn:ietf:params:oauth:token-type:id_token';
export const TOKEN_TYPE_REFRESH_TOKEN = 'urn:ietf:params:oauth:token-type:refresh_token';
/** JOSE `typ` of an ID-JAG (draft §3.1). */
export const ID_JAG_JWT_TYPE = 'oauth-id-jag+jwt';

export type SubjectTokenType = typeof TOKEN_TYPE_ID_TOKEN | typeof TOKEN_TYPE_REFRESH_TOKEN;

/**
 * Default time budget of one HTTP exchange with an IdP, AS or MCP server (config: idp.timeoutMs,
 * resources.<name>.timeoutMs). 4 s: a tool call that needs a new token and meets a hanging IdP fails
 * within 5 s, naming the cause, instead of holding the agent (and an admission slot) for longer.
 */
export const DEFAULT_TIMEOUT_MS = 4_000;
