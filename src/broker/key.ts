/** Whose token, for which resource, with which scopes: the cache key (docs/architecture.md, the broker step). */
export interface TokenKeyParts {
  user: { iss: string; sub: string };
  /** Resource URI (RFC 8707): the token's audience. */
  resource: string;
  scopes: readonly string[];
  /**
   * How the token must be bound (resources.<name>.dpop). Part of the key: a Bearer token cached
   * under "off" must never serve a resource that now says "required" (a silent fallback), nor the
   * reverse.
   */
  dpop?: 'auto' | 'required' | 'off';
}

export function normalizeScopes(scopes: readonly string[]): string[] {
  return [...new Set(scopes)].sort();
}

/** Unambiguous: JSON of an array, so no separator inside a value can forge another key. */
export function tokenKey(parts: TokenKeyParts): string {
  return JSON.stringify([parts.user.iss, parts.user.sub, parts.resource, normalizeScopes(parts.scopes), parts.dpop ?? 'off']);
}
