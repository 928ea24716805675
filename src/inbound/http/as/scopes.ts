/**
 * The gateway's scopes. One resource scope for now: using the gateway's tools as the signed-in user.
 * What each tool may reach downstream is decided per call by the IdP (ID-JAG) and the gateway's
 * policy, not here.
 */
export const GATEWAY_SCOPE = 'mcp:tools';
/**
 * Resource scopes: what /mcp knows and its Protected Resource Metadata lists. `offline_access` is not
 * one (MCP 2026-07-28 "Refresh Tokens", SEP-2207: refresh tokens are not a resource requirement).
 */
export const SUPPORTED_SCOPES: readonly string[] = [GATEWAY_SCOPE];
/** The OIDC scope a client adds to ask for a refresh token (OIDC Core §11, MCP 2026-07-28 "Refresh Tokens"). */
export const OFFLINE_ACCESS = 'offline_access';
/** RFC 8414 `scopes_supported` of the authorization server: the resource scopes and `offline_access`. */
export const AS_SCOPES_SUPPORTED: readonly string[] = [...SUPPORTED_SCOPES, OFFLINE_ACCESS];

/**
 * The scopes an authorization request asks for (RFC 6749 §3.3: the server may grant fewer). Unknown
 * scopes (e.g. `openid`, which some clients add by habit) are dropped rather than refused; no resource
 * scope at all means the default, so a token always carries one. `offline_access` is kept when asked.
 */
export function requestedScopes(requested: string | null | undefined, resourceScopes: readonly string[] = SUPPORTED_SCOPES): string[] {
  const asked = (requested ?? '').split(' ').filter(Boolean);
  const known = resourceScopes.filter((s) => asked.includes(s));
  return [...(known.length ? known : [resourceScopes[0]!]), ...(asked.includes(OFFLINE_ACCESS) ? [OFFLINE_ACCESS] : [])];
}

export interface GrantDecision {
  /** Scopes of the code and its tokens. */
  granted: string[];
  /** Whether the token response carries a refresh token. */
  refresh: boolean;
  /** What the user has not allowed this agent yet: the consent page shows these only (empty: no page). */
  toConsent: string[];
  /** What the user allowed before and this grant uses again (shown as context on a step-up). */
  alreadyAllowed: string[];
  /** The consent record after the user allows `toConsent`. */
  consentAfter: string[];
}

/**
 * Step-up with accumulated scopes (MCP 2026-07-28 "Step-Up Authorization Flow"): a re-authorization
 * is granted the union of the resource scopes the user already allowed this agent and the ones asked
 * now, so a client that asks only for the scope of a 403 `insufficient_scope` keeps the others. The
 * user is asked only about what is new.
 *
 * Refresh tokens (SEP-2207): issued when the client asked for `offline_access` now (the OIDC signal;
 * never carried over from an earlier consent), or when it registered the `refresh_token` grant (the
 * OAuth signal, RFC 7591 `grant_types`). Lasting access is consented as `offline_access` either way,
 * so the consent page says so before a refresh token is issued.
 */
export function decideGrant(o: {
  requested: readonly string[];
  consented: readonly string[];
  clientRefreshGrant: boolean;
  resourceScopes?: readonly string[];
}): GrantDecision {
  const resourceScopes = o.resourceScopes ?? SUPPORTED_SCOPES;
  const offline = o.requested.includes(OFFLINE_ACCESS);
  const granted = resourceScopes.filter((s) => o.requested.includes(s) || o.consented.includes(s));
  if (offline) granted.push(OFFLINE_ACCESS);
  const refresh = offline || o.clientRefreshGrant;
  const effective = refresh && !offline ? [...granted, OFFLINE_ACCESS] : granted;
  return {
    granted,
    refresh,
    toConsent: effective.filter((s) => !o.consented.includes(s)),
    alreadyAllowed: effective.filter((s) => o.consented.includes(s)),
    consentAfter: [...new Set([...o.consented, ...effective])],
  };
}
