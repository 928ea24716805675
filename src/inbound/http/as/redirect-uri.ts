import { isLoopbackHost } from '../../../security.js';

/** Schemes that would run code or read local data in the browser: never a redirect target. */
const FORBIDDEN_SCHEMES = new Set(['javascript:', 'data:', 'vbscript:', 'file:', 'blob:', 'about:', 'filesystem:', 'ftp:', 'ws:', 'wss:', 'mailto:', 'tel:']);

/**
 * Why a redirect URI may not be registered, or undefined when it may (OAuth 2.1 §2.3.1, RFC 8252):
 * https; http only on a loopback host (§8.3); or a private-use scheme of a native app (§7.1).
 */
export function redirectUriProblem(value: unknown): string | undefined {
  if (typeof value !== 'string' || !value) return 'must be a non-empty string';
  if (value.length > 2000) return 'is longer than 2000 characters';
  if (!URL.canParse(value)) return 'is not an absolute URI';
  const u = new URL(value);
  if (u.hash || value.includes('#')) return 'must not contain a fragment (RFC 6749 §3.1.2)';
  if (u.username || u.password) return 'must not contain a user name or password';
  if (u.protocol === 'https:') return u.hostname ? undefined : 'has no host';
  if (u.protocol === 'http:') return isLoopbackHost(u.hostname) ? undefined : 'http is allowed only for loopback hosts (RFC 8252 §8.3); use https';
  if (FORBIDDEN_SCHEMES.has(u.protocol)) return `scheme "${u.protocol}" is not allowed`;
  return undefined; // private-use URI scheme of a native app (RFC 8252 §7.1)
}

/**
 * Exact string comparison (OAuth 2.1 §4.1.1, RFC 9700 §4.1.3), with the one exception RFC 8252 §7.3
 * requires: for a loopback IP literal with http the port may differ (native apps take any free port).
 */
export function redirectUriMatches(registered: readonly string[], requested: string): boolean {
  if (registered.includes(requested)) return true;
  if (!URL.canParse(requested)) return false;
  const r = new URL(requested);
  if (r.protocol !== 'http:' || !(r.hostname === '127.0.0.1' || r.hostname === '[::1]') || r.hash || r.username || r.password) return false;
  return registered.some((candidate) => {
    if (!URL.canParse(candidate)) return false;
    const c = new URL(candidate);
    return c.protocol === 'http:' && c.hostname === r.hostname && c.pathname === r.pathname && c.search === r.search;
  });
}

/**
 * OpenID Connect Registration §2 `application_type`, which MCP 2026-07-28 clients send at registration
 * ("Application Type and Redirect URI Constraints"): one client id is one kind of application.
 */
export type ApplicationType = 'web' | 'native';

/** Loopback http (RFC 8252 §7.3) or a private-use scheme (§7.1): where a native app receives the code. */
function isNativeRedirect(u: URL): boolean {
  if (u.protocol === 'http:') return isLoopbackHost(u.hostname);
  return u.protocol !== 'https:';
}

/** `application_type` as sent: undefined when absent, "invalid" for any other value (the caller names the error). */
export function parseApplicationType(value: unknown): ApplicationType | undefined | 'invalid' {
  if (value === undefined) return undefined;
  return value === 'web' || value === 'native' ? value : 'invalid';
}

/**
 * Why a redirect URI (already valid by redirectUriProblem) does not suit the application type:
 * native clients only loopback http or a private-use scheme (OIDC Registration §2); web clients only
 * https (the server "MAY reject" http for them, and a web app cannot receive a private-use scheme).
 */
export function applicationTypeProblem(type: ApplicationType, uri: string): string | undefined {
  const native = isNativeRedirect(new URL(uri));
  if (type === 'native' && !native) {
    return 'is not allowed for a native client: use a loopback http URI (127.0.0.1, [::1] or localhost) or a private-use scheme (OpenID Connect Registration §2, RFC 8252 §7); register https redirect URIs as application_type "web"';
  }
  if (type === 'web' && native) {
    return 'is not allowed for a web client: use https (OpenID Connect Registration §2); an app on the user\'s computer registers as application_type "native"';
  }
  return undefined;
}

/**
 * The type a registration without `application_type` has (2025 clients do not send it): the one its
 * redirect URIs fit, or none for a mixed set, which stays accepted as before rather than defaulting
 * to OIDC's "web" and refusing the loopback URIs every desktop client uses.
 */
export function inferApplicationType(uris: readonly string[]): ApplicationType | undefined {
  const native = uris.map((u) => isNativeRedirect(new URL(u)));
  if (native.every(Boolean)) return 'native';
  if (!native.some(Boolean)) return 'web';
  return undefined;
}
