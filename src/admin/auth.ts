import { createHash, createHmac } from 'node:crypto';
import { matchesAnyDigest, safeEqual, secretDigest } from '../security.js';
import type { Context, MiddlewareHandler } from 'hono';
import { getCookie } from 'hono/cookie';
import { readSecret } from '../config/secrets.js';
import { GatewayError, isGatewayError } from '../errors.js';
import { adminError, cookieName, serverOf, type AdminEnv, type AdminOptions } from './context.js';

/** The browser admin session cookie (`__Host-xaa-admin` outside loopback http). */
export const ADMIN_SESSION_COOKIE = 'xaa-admin';
export const CSRF_HEADER = 'X-CSRF-Token';
export const CSRF_FIELD = '_csrf';
/** Admin tokens shorter than this are refused at start: they must not be guessable. */
export const MIN_ADMIN_TOKEN_LENGTH = 32;

const CHALLENGE = { 'WWW-Authenticate': 'Bearer realm="xaa-gateway-admin"' };
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export const sha256Hex = (v: string) => createHash('sha256').update(v, 'utf8').digest('hex');

/**
 * A browser admin session's CSRF token, derived from its cookie (HMAC-SHA256 keyed by the cookie value):
 * the console renders it into every form without it being stored anywhere. The store keeps only its
 * SHA-256 (`csrf`), as it keeps only the cookie's: a copy of the database yields neither.
 */
export const adminCsrfOf = (cookieValue: string) => createHmac('sha256', cookieValue).update('xaa-gateway admin csrf v1').digest('base64url');

export interface RequireAdminOptions {
  /** Console pages: a browser without a session is sent to /admin/login (GET only) instead of a 401. */
  redirectToLogin?: boolean;
}

export interface AdminAuth {
  /** Hono middleware: only admins pass; sets the actor (getAdminActor) and, for browsers, the CSRF token. */
  requireAdmin(options?: RequireAdminOptions): MiddlewareHandler<AdminEnv>;
  /** SHA-256 digests of the configured admin tokens (resolved once per config version). */
  tokenDigests(): Buffer[];
}

/**
 * Who may administer: (a) a bearer token from `admin.tokens` (automation, the CLI), compared in
 * constant time over SHA-256 digests so neither the value nor its length leaks through timing;
 * (b) a browser admin session (cookie) made by /admin/login for a member of `admin.group`, with a
 * CSRF token required on every unsafe request (double submit: header or form field) and, when the
 * browser sends Origin, the gateway's own origin.
 */
export function createAdminAuth(opts: AdminOptions): AdminAuth {
  let cache: { hash: string; digests: Buffer[] } | undefined;
  const tokenDigests = (): Buffer[] => {
    const rt = opts.config.current;
    if (cache?.hash === rt.hash) return cache.digests;
    const digests = rt.config.admin.tokens.map((ref, i) => {
      const where = `admin.tokens[${i}]`;
      const value = readSecret(ref, where, { baseDir: rt.dir, env: process.env });
      if (value.length < MIN_ADMIN_TOKEN_LENGTH) {
        throw new GatewayError(
          'config_secret',
          `${where}: an admin token must be at least ${MIN_ADMIN_TOKEN_LENGTH} characters; make one with \`openssl rand -base64 32\``,
        );
      }
      return secretDigest(value);
    });
    cache = { hash: rt.hash, digests };
    return digests;
  };
  tokenDigests(); // a missing or weak admin token fails at start, not at the first request

  const isAdminToken = (presented: string): boolean => {
    let digests: Buffer[];
    try {
      digests = tokenDigests();
    } catch (e) {
      opts.logger.error('admin tokens unreadable after a config change; token sign-in refused', { error: isGatewayError(e) ? e.message : String(e) });
      return false;
    }
    return matchesAnyDigest(presented, digests);
  };

  const requireAdmin =
    (ro: RequireAdminOptions = {}): MiddlewareHandler<AdminEnv> =>
    async (c, next) => {
      const authorization = c.req.header('authorization');
      if (authorization !== undefined) {
        const m = /^Bearer +([\x21-\x7E]+)$/i.exec(authorization);
        if (!m) return adminError('admin_unauthorized', 'Authorization must be "Bearer <admin token>"', 401, {}, CHALLENGE);
        const presented = m[1]!;
        if (isAdminToken(presented)) {
          c.set('adminActor', { kind: 'admin', via: 'token' });
          return next();
        }
        if (opts.tokens && presented.split('.').length === 3) {
          const user = await opts.tokens.verify(presented).catch(() => undefined);
          if (user) {
            return adminError(
              'admin_forbidden',
              'this is an MCP access token of a user, not an admin credential: use an admin token (admin.tokens) or sign in at /admin/login as a member of admin.group',
            );
          }
        }
        return adminError(
          'admin_unauthorized',
          'the admin token is not valid: send one of the tokens configured in admin.tokens (the CLI reads XAA_ADMIN_TOKEN)',
          401,
          {},
          CHALLENGE,
        );
      }

      const cookie = getCookie(c, cookieName(opts.config, ADMIN_SESSION_COOKIE));
      if (cookie) {
        const session = await opts.store.getAdminSession(sha256Hex(cookie), opts.deps.now());
        const csrf = adminCsrfOf(cookie);
        // A session made before CSRF tokens were stored hashed (a clear token in `csrf`) ends here.
        if (!session || !safeEqual(sha256Hex(csrf), session.csrf)) {
          return unauthenticated(c, ro, 'your admin session has ended (signed out, expired or revoked); sign in again at /admin/login');
        }
        if (!SAFE_METHODS.has(c.req.method)) {
          const origin = c.req.header('origin');
          if (origin !== undefined && origin !== new URL(serverOf(opts.config).publicUrl).origin) {
            return adminError('admin_forbidden', `requests from origin ${origin} are refused; use the console at ${serverOf(opts.config).publicUrl}`);
          }
          const sent = c.req.header(CSRF_HEADER) ?? (await formField(c, CSRF_FIELD));
          if (!sent || !safeEqual(sent, csrf)) {
            return adminError(
              'admin_forbidden',
              `CSRF token missing or wrong: browser requests that change something must send the session's CSRF token (${CSRF_HEADER} header or ${CSRF_FIELD} form field)`,
            );
          }
        }
        c.set('adminActor', { kind: 'admin', via: 'session', iss: session.iss, sub: session.sub, ...(session.email ? { email: session.email } : {}) });
        c.set('adminCsrf', csrf);
        return next();
      }
      return unauthenticated(
        c,
        ro,
        'admin credentials required: send "Authorization: Bearer <admin token>" (admin.tokens; the CLI reads XAA_ADMIN_TOKEN) or sign in at /admin/login',
      );
    };

  return { requireAdmin, tokenDigests };
}

function unauthenticated(c: Context, ro: RequireAdminOptions, message: string): Response {
  if (ro.redirectToLogin && c.req.method === 'GET') {
    const url = new URL(c.req.url);
    return new Response(null, {
      status: 302,
      headers: { Location: `/admin/login?return_to=${encodeURIComponent(url.pathname + url.search)}`, 'Cache-Control': 'no-store' },
    });
  }
  return adminError('admin_unauthorized', message, 401, {}, CHALLENGE);
}

async function formField(c: Context, name: string): Promise<string | undefined> {
  const type = c.req.header('content-type') ?? '';
  if (!type.startsWith('application/x-www-form-urlencoded') && !type.startsWith('multipart/form-data')) return undefined;
  try {
    const body = await c.req.parseBody();
    const v = body[name];
    return typeof v === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
}
