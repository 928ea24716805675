/**
 * The gateway's scopes. One for now: using the gateway's tools as the signed-in user. What each tool
 * may reach downstream is decided per call by the IdP (ID-JAG) and the gateway's policy, not here.
 */
export const GATEWAY_SCOPE = 'mcp:tools';
export const SUPPORTED_SCOPES: readonly string[] = [GATEWAY_SCOPE];

/**
 * Granted scopes for a requested `scope` (RFC 6749 §3.3: the server may grant fewer than asked).
 * Unknown scopes (e.g. `openid`, `offline_access`, which some clients add by habit) are dropped
 * rather than refused; no scope at all means the default.
 */
export function grantScopes(requested: string | null | undefined): string[] {
  const asked = (requested ?? '').split(' ').filter(Boolean);
  const known = SUPPORTED_SCOPES.filter((s) => asked.includes(s));
  return known.length ? known : [GATEWAY_SCOPE];
}

export function coversScopes(granted: readonly string[], wanted: readonly string[]): boolean {
  return wanted.every((s) => granted.includes(s));
}
