import type { Context } from 'hono';
import { generateCookie, getCookie } from 'hono/cookie';
import type { ConfigStore } from '../../config/index.js';
import { cookieName, secureCookies } from '../context.js';
import { safeReturnTo } from '../login.js';

/**
 * Post/Redirect/Get: after a console form is handled, the browser is sent (303) to a page that
 * shows what happened. The message rides in a short-lived HttpOnly cookie rather than the URL, so
 * no link can make the console display a message it did not produce.
 */

export const FLASH_COOKIE = 'xaa-admin-flash';
const FLASH_TTL_S = 60;
const MAX_TEXT = 600;

export interface Flash {
  kind: 'ok' | 'error' | 'warn';
  text: string;
}

/** 303 to `to` (only /admin paths: never an open redirect) carrying `flash`. */
export function redirectWithFlash(config: ConfigStore, to: string, flash: Flash): Response {
  const value = Buffer.from(JSON.stringify({ kind: flash.kind, text: flash.text.slice(0, MAX_TEXT) })).toString('base64url');
  const res = new Response(null, { status: 303, headers: { Location: safeReturnTo(to), 'Cache-Control': 'no-store' } });
  res.headers.append(
    'Set-Cookie',
    generateCookie(cookieName(config, FLASH_COOKIE), value, { path: '/', httpOnly: true, secure: secureCookies(config), sameSite: 'Lax', maxAge: FLASH_TTL_S }),
  );
  return res;
}

/** The pending message, if any, and the Set-Cookie that clears it (shown once). */
export function takeFlash(c: Context, config: ConfigStore): { flash?: Flash; clear?: string } {
  const name = cookieName(config, FLASH_COOKIE);
  const raw = getCookie(c, name);
  if (!raw) return {};
  const clear = generateCookie(name, '', { path: '/', httpOnly: true, secure: secureCookies(config), sameSite: 'Lax', maxAge: 0 });
  try {
    const v = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as Partial<Flash>;
    if ((v.kind === 'ok' || v.kind === 'error' || v.kind === 'warn') && typeof v.text === 'string')
      return { flash: { kind: v.kind, text: v.text.slice(0, MAX_TEXT) }, clear };
  } catch {
    // a malformed cookie is the same as none
  }
  return { clear };
}
