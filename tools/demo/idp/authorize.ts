import { randomToken, redirectUriAllowed, type IdpContext } from './context.js';
import { renderErrorPage, renderLoginPage } from './login-page.js';
import { safeEqual, splitScope } from '../oauth.js';

/**
 * The authorization endpoint: authorization code flow with PKCE S256 required (RFC 6749 §4.1,
 * RFC 7636, OAuth 2.1). GET shows the login form; POST checks the password and redirects with a code.
 */

const html = (body: string, status: number) =>
  new Response(body, { status, headers: { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' } });

type Checked = { ok: true; clientId: string; redirectUri: string } | { ok: false; response: Response };

function checkRequest(ctx: IdpContext, p: URLSearchParams): Checked {
  const clientId = p.get('client_id') ?? '';
  const client = ctx.clients.get(clientId);
  const redirectUri = p.get('redirect_uri') ?? '';
  // RFC 6749 §4.1.2.1: with a bad client or redirect URI, tell the user, never redirect.
  if (!client) return { ok: false, response: html(renderErrorPage(`unknown client_id "${clientId}"`), 400) };
  if (!redirectUriAllowed(client, redirectUri)) {
    return { ok: false, response: html(renderErrorPage('redirect_uri is not registered for this client'), 400) };
  }
  const fail = (error: string, description: string) => ({
    ok: false as const,
    response: redirectWith(ctx, redirectUri, { error, error_description: description, state: p.get('state') }),
  });
  if (p.get('response_type') !== 'code') return fail('unsupported_response_type', 'only response_type=code is supported');
  if (!p.get('code_challenge') || p.get('code_challenge_method') !== 'S256') {
    return fail('invalid_request', 'PKCE with code_challenge_method=S256 is required');
  }
  if (!/^[A-Za-z0-9_-]{43}$/.test(p.get('code_challenge')!)) return fail('invalid_request', 'malformed code_challenge');
  return { ok: true, clientId, redirectUri };
}

/** Adds `iss` to the authorization response (RFC 9207) so clients can detect mix-up attacks. */
function redirectWith(ctx: IdpContext, redirectUri: string, params: Record<string, string | null>): Response {
  const u = new URL(redirectUri);
  for (const [k, v] of Object.entries(params)) if (v != null) u.searchParams.set(k, v);
  u.searchParams.set('iss', ctx.issuer);
  return new Response(null, { status: 302, headers: { Location: u.toString(), 'Cache-Control': 'no-store' } });
}

export function authorizeGet(ctx: IdpContext, req: Request): Response {
  const params = new URL(req.url).searchParams;
  const checked = checkRequest(ctx, params);
  if (!checked.ok) return checked.response;
  return html(renderLoginPage({ request: params, clientId: checked.clientId }), 200);
}

export async function authorizePost(ctx: IdpContext, req: Request): Promise<Response> {
  const form = new URLSearchParams(await req.text());
  const checked = checkRequest(ctx, form);
  if (!checked.ok) return checked.response;
  const username = form.get('username') ?? '';
  const user = ctx.state.users.get(username);
  const again = (error: string) => html(renderLoginPage({ request: form, clientId: checked.clientId, error, username }), 401);
  if (!user || !safeEqual(form.get('password') ?? '', user.password)) return again('Wrong username or password.');
  if (!user.active) return again('This account is deactivated. Contact your administrator.');

  const code = randomToken();
  const sid = randomToken(12);
  ctx.state.newSession(username, sid);
  const nonce = form.get('nonce');
  ctx.codes.set(code, {
    clientId: checked.clientId,
    redirectUri: checked.redirectUri,
    codeChallenge: form.get('code_challenge')!,
    scope: splitScope(form.get('scope')),
    ...(nonce ? { nonce } : {}),
    username,
    sid,
    authTime: Math.floor(Date.now() / 1000),
    // Codes are short-lived and single use (RFC 6749 §4.1.2).
    expiresAt: Date.now() + 60_000,
  });
  return redirectWith(ctx, checked.redirectUri, { code, state: form.get('state') });
}
