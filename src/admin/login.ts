import type { Hono } from 'hono';
import { generateCookie, getCookie } from 'hono/cookie';
import * as oidc from 'openid-client';
import { randomBytes } from 'node:crypto';
import { recordAdminAction } from '../control/service.js';
import { GatewayError, isGatewayError } from '../errors.js';
import { idpConfiguration } from '../inbound/idp-client.js';
import { ADMIN_SESSION_COOKIE, adminCsrfOf, sha256Hex, type AdminAuth } from './auth.js';
import { adminCsrfToken, cookieName, getAdminActor, issuerOf, secureCookies, type AdminEnv, type AdminOptions } from './context.js';

/** Pending sign-in (state, nonce, PKCE verifier, where to go after), bound to the browser that started it. */
export const ADMIN_LOGIN_COOKIE = 'xaa-admin-login';
export const ADMIN_LOGIN_PATH = '/admin/login';
export const ADMIN_CALLBACK_PATH = '/admin/callback';
export const ADMIN_LOGOUT_PATH = '/admin/logout';
/** The console's "You are signed out" page, where a browser's sign-out lands. */
export const ADMIN_SIGNED_OUT_PATH = '/admin/signed-out';
const LOGIN_TTL_S = 600;

interface PendingLogin {
  state: string;
  nonce: string;
  verifier: string;
  returnTo: string;
}

/**
 * Admin sign-in through the enterprise IdP (OIDC authorization code + PKCE + nonce, the same
 * client as the users' sign-in). Only members of `admin.group` (read from `admin.groupsClaim` of
 * the ID token, else of UserInfo) get an admin session: a random cookie value whose SHA-256 is
 * kept in the store with a CSRF token, so any instance can check it and an admin can be signed out.
 */
export function mountAdminLogin(app: Hono<AdminEnv>, opts: AdminOptions, auth: AdminAuth): void {
  let idp: { hash: string; config: Promise<oidc.Configuration> } | undefined;
  const idpConfig = () => {
    const rt = opts.config.current;
    if (!idp || idp.hash !== rt.hash) {
      const entry = { hash: rt.hash, config: idpConfiguration(rt.config.idp.issuer, rt.idpClient, opts.deps, rt.config.idp.timeoutMs) };
      idp = entry;
      entry.config.catch(() => {
        if (idp === entry) idp = undefined;
      });
    }
    return idp.config;
  };
  const cookie = (base: string, value: string, maxAge: number) =>
    generateCookie(cookieName(opts.config, base), value, { path: '/', httpOnly: true, secure: secureCookies(opts.config), sameSite: 'Lax', maxAge });

  app.get('/login', async (c) => {
    const admin = opts.config.current.config.admin;
    if (!admin.group) return page(404, 'Admin sign-in is off', 'Browser sign-in is not configured: set admin.group to the IdP group of the gateway admins.');
    let config: oidc.Configuration;
    try {
      config = await idpConfig();
    } catch (e) {
      opts.logger.warn('admin sign-in: IdP discovery failed', { error: isGatewayError(e) ? e.message : String(e) });
      return page(503, 'Identity provider unreachable', 'The identity provider cannot be reached; try again shortly.');
    }
    const pending: PendingLogin = {
      state: oidc.randomState(),
      nonce: oidc.randomNonce(),
      verifier: oidc.randomPKCECodeVerifier(),
      returnTo: safeReturnTo(c.req.query('return_to')),
    };
    const scopes = new Set(['openid', ...opts.config.current.config.idp.loginScopes.filter((s) => s !== 'offline_access'), 'profile', 'email']);
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: `${issuerOf(opts.config)}${ADMIN_CALLBACK_PATH}`,
      scope: [...scopes].join(' '),
      code_challenge: await oidc.calculatePKCECodeChallenge(pending.verifier),
      code_challenge_method: 'S256',
      state: pending.state,
      nonce: pending.nonce,
    });
    const res = new Response(null, { status: 302, headers: { Location: url.href, 'Cache-Control': 'no-store' } });
    res.headers.append('Set-Cookie', cookie(ADMIN_LOGIN_COOKIE, Buffer.from(JSON.stringify(pending)).toString('base64url'), LOGIN_TTL_S));
    return res;
  });

  app.get('/callback', async (c) => {
    const pending = readPending(getCookie(c, cookieName(opts.config, ADMIN_LOGIN_COOKIE)));
    const done = (res: Response) => {
      res.headers.append('Set-Cookie', cookie(ADMIN_LOGIN_COOKIE, '', 0));
      return res;
    };
    if (!pending) return done(page(400, 'This sign-in has expired', 'This sign-in expired or was started in another browser. Start again at /admin/login.'));
    const params = new URL(c.req.url).searchParams;
    if (params.get('error')) return done(page(403, 'Sign-in refused', `The identity provider refused the sign-in (${params.get('error')}).`));
    const currentUrl = new URL(`${issuerOf(opts.config)}${ADMIN_CALLBACK_PATH}`);
    currentUrl.search = params.toString();
    let claims: oidc.IDToken;
    let userinfo: Record<string, unknown> | undefined;
    try {
      const config = await idpConfig();
      const tokens = await oidc.authorizationCodeGrant(config, currentUrl, {
        pkceCodeVerifier: pending.verifier,
        expectedState: pending.state,
        expectedNonce: pending.nonce,
        idTokenExpected: true,
      });
      claims = tokens.claims()!;
      const groupsClaim = opts.config.current.config.admin.groupsClaim;
      if (claims[groupsClaim] === undefined && config.serverMetadata().userinfo_endpoint) {
        userinfo = (await oidc.fetchUserInfo(config, tokens.access_token, claims.sub)) as Record<string, unknown>;
      }
    } catch (e) {
      opts.logger.warn('admin sign-in could not be completed', { error: e instanceof Error ? e.message : String(e) });
      return done(page(400, 'Sign-in failed', 'The sign-in at the identity provider could not be completed. Start again at /admin/login.'));
    }
    const admin = opts.config.current.config.admin;
    const groups = groupList(claims[admin.groupsClaim] ?? userinfo?.[admin.groupsClaim]);
    const who = typeof claims.email === 'string' ? claims.email : claims.sub;
    if (!admin.group || !groups.includes(admin.group)) {
      opts.logger.warn('admin sign-in refused: not a member of the admin group', { sub: claims.sub, group: admin.group });
      return done(
        page(
          403,
          'Not an administrator',
          `You are signed in as ${who}, who is not a member of the admin group "${admin.group ?? ''}". Ask your IdP admin for access.`,
        ),
      );
    }
    const value = randomBytes(32).toString('base64url');
    const now = opts.deps.now();
    const session = {
      idHash: sha256Hex(value),
      iss: claims.iss,
      sub: claims.sub,
      ...(typeof claims.email === 'string' ? { email: claims.email } : {}),
      ...(typeof claims.name === 'string' ? { name: claims.name } : {}),
      csrf: sha256Hex(adminCsrfOf(value)),
      createdAt: now,
      expiresAt: now + admin.sessionTtlSeconds * 1000,
    };
    // Granting admin access is audited first: no record, no session.
    try {
      await recordAdminAction(opts.audit, {
        actor: { kind: 'admin', via: 'session', iss: session.iss, sub: session.sub, ...(session.email ? { email: session.email } : {}) },
        action: 'admin.sign_in',
        target: { group: admin.group },
      });
    } catch (e) {
      return done(page(503, 'Audit log unavailable', isGatewayError(e) ? e.message : 'The audit log cannot record the sign-in.'));
    }
    await opts.store.createAdminSession(session);
    const res = done(new Response(null, { status: 303, headers: { Location: pending.returnTo, 'Cache-Control': 'no-store' } }));
    res.headers.append('Set-Cookie', cookie(ADMIN_SESSION_COOKIE, value, admin.sessionTtlSeconds));
    return res;
  });

  app.post('/logout', auth.requireAdmin(), async (c) => {
    const actor = getAdminActor(c);
    const value = getCookie(c, cookieName(opts.config, ADMIN_SESSION_COOKIE));
    if (actor.via !== 'session' || !value || !adminCsrfToken(c)) {
      throw new GatewayError('admin_invalid', 'only a browser admin session can sign out; admin tokens are removed from admin.tokens');
    }
    await opts.store.revokeAdminSession(sha256Hex(value), opts.deps.now());
    await recordAdminAction(opts.audit, { actor, action: 'admin.sign_out', target: {} }, opts.logger);
    const form = (c.req.header('content-type') ?? '').startsWith('application/x-www-form-urlencoded');
    const res = form
      ? new Response(null, { status: 303, headers: { Location: ADMIN_SIGNED_OUT_PATH, 'Cache-Control': 'no-store' } })
      : Response.json({ signedOut: true }, { headers: { 'Cache-Control': 'no-store' } });
    res.headers.append('Set-Cookie', cookie(ADMIN_SESSION_COOKIE, '', 0));
    return res;
  });
}

/** Only paths under /admin: never an open redirect (RFC 9700 §4.11). */
export function safeReturnTo(value: string | undefined): string {
  if (!value || !/^\/admin(?:[/?#]|$)/.test(value) || value.includes('\\') || value.includes('//')) return '/admin';
  return value;
}

function readPending(raw: string | undefined): PendingLogin | undefined {
  if (!raw) return undefined;
  try {
    const v = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as Partial<PendingLogin>;
    if (typeof v.state === 'string' && typeof v.nonce === 'string' && typeof v.verifier === 'string' && typeof v.returnTo === 'string') {
      return { state: v.state, nonce: v.nonce, verifier: v.verifier, returnTo: safeReturnTo(v.returnTo) };
    }
  } catch {
    // a malformed cookie is the same as none
  }
  return undefined;
}

/** A groups claim is an array of names (Okta, Entra ID) or, for some IdPs, one space-separated string. */
function groupList(v: unknown): string[] {
  if (Array.isArray(v)) return v.filter((g): g is string => typeof g === 'string');
  if (typeof v === 'string') return v.split(/\s+/).filter(Boolean);
  return [];
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);

function page(status: number, title: string, message: string): Response {
  const body = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head><body><h1>${escapeHtml(title)}</h1><p>${escapeHtml(message)}</p></body></html>`;
  return new Response(body, {
    status,
    headers: { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store', 'Content-Security-Policy': "default-src 'none'" },
  });
}
