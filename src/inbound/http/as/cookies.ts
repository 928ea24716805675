import type { Context } from 'hono';
import { generateCookie, getCookie } from 'hono/cookie';
import { isLoopbackHttp } from '../../../security.js';

/**
 * The cookie that binds a browser to one pending authorization request: only the browser that
 * started /authorize can finish the IdP sign-in and the consent (login CSRF, RFC 9700 §4.7). One
 * cookie per request, so two sign-ins in two tabs do not overwrite each other. Its value is the
 * request's CSRF token, which the consent form must also carry.
 *
 * `__Host-` requires Secure, which browsers refuse over http; a gateway on http loopback
 * (development) uses the plain name without Secure.
 */
export const REQUEST_COOKIE_BASE = 'xaa-authz';

export function requestCookieName(publicUrl: string, requestId: string): string {
  return `${secureOrigin(publicUrl) ? '__Host-' : ''}${REQUEST_COOKIE_BASE}-${requestId}`;
}

function secureOrigin(publicUrl: string): boolean {
  return !isLoopbackHttp(new URL(publicUrl));
}

/** The Set-Cookie value; handlers add it to the response they build. */
export function requestCookie(publicUrl: string, requestId: string, value: string, maxAgeSeconds: number): string {
  return generateCookie(requestCookieName(publicUrl, requestId), value, {
    path: '/',
    httpOnly: true,
    secure: secureOrigin(publicUrl),
    sameSite: 'Lax',
    maxAge: maxAgeSeconds,
  });
}

export function getRequestCookie(c: Context, publicUrl: string, requestId: string): string | undefined {
  return getCookie(c, requestCookieName(publicUrl, requestId));
}

/** Expires the cookie once the request is finished (code issued, denied or failed). */
export function clearedRequestCookie(publicUrl: string, requestId: string): string {
  return requestCookie(publicUrl, requestId, '', 0);
}

export function withCookie(res: Response, cookie: string): Response {
  res.headers.append('Set-Cookie', cookie);
  return res;
}
