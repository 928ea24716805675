import type { Context } from 'hono';
import * as oidc from 'openid-client';
import { GatewayError, isGatewayError } from '../../../errors.js';
import type { AuthorizationRequest } from '../../../store/types.js';
import type { AsContext } from './context.js';
import { getRequestCookie, requestCookie, withCookie } from './cookies.js';
import { decideFor, failRequest, issueCode, REQUEST_TTL_MS } from './grant.js';
import { NO_STORE, randomToken, redirectToClient } from './http.js';
import { safeEqual } from '../../../security.js';
import { errorPage } from './pages.js';
import { redirectUriMatches } from './redirect-uri.js';
import { requestedScopes } from './scopes.js';

export const IDP_CALLBACK_PATH = '/oauth/idp/callback';
export const CONSENT_PATH = '/oauth/consent';

/** Rate-limit refusal on an HTML endpoint. */
export function tooManyPage(e: GatewayError): Promise<Response> {
  const retry = String(e.details?.retryAfterSeconds ?? 60);
  return errorPage(429, 'Too many requests', `Too many sign-in attempts. Try again in ${retry} seconds.`, { 'Retry-After': retry });
}

/**
 * GET /authorize (OAuth 2.1 §4.1.1). The client and its exact redirect URI are checked first: if
 * either is wrong the user gets an error page and is never redirected (RFC 6749 §4.1.2.1, no open
 * redirect). Later errors go back to the client with `error`, `state` and `iss`.
 */
export async function authorize(ctx: AsContext, c: Context): Promise<Response> {
  const params = new URL(c.req.url).searchParams;
  const clientId = params.get('client_id') ?? '';
  try {
    await ctx.limits.consume('authorize', { address: ctx.address(c), clientId: clientId || undefined });
  } catch (e) {
    if (isGatewayError(e, 'rate_limited')) return tooManyPage(e);
    throw e;
  }
  const bad = (message: string) => errorPage(400, 'This sign-in request is not valid', message);
  if (!clientId) return bad('The request names no client (client_id is missing).');
  if (params.getAll('client_id').length > 1 || params.getAll('redirect_uri').length > 1) return bad('client_id or redirect_uri is repeated.');
  let client;
  try {
    client = await ctx.clients.find(clientId);
  } catch (e) {
    if (isGatewayError(e, 'oauth_request')) return bad(`The agent could not be identified: ${e.message}.`);
    throw e;
  }
  if (!client) return bad(`The agent "${clientId}" is not registered with this gateway.`);
  const redirectUri = params.get('redirect_uri');
  if (!redirectUri) return bad('The request has no redirect_uri.');
  if (!redirectUriMatches(client.redirectUris, redirectUri)) return bad('The redirect_uri is not one this agent registered.');

  const state = params.get('state') ?? undefined;
  const fail = (error: string, description: string) => redirectToClient(redirectUri, ctx.issuer(), { error, error_description: description, state });
  const repeated = [...new Set([...params.keys()].filter((k, i, all) => all.indexOf(k) !== i))].filter((k) => k !== 'resource');
  if (repeated.length) return fail('invalid_request', `parameter "${repeated[0]}" is repeated`);
  if (params.get('response_type') !== 'code') return fail('unsupported_response_type', 'only response_type=code is supported');
  const challenge = params.get('code_challenge');
  if (!challenge) return fail('invalid_request', 'code_challenge is required (PKCE, RFC 7636)');
  if (params.get('code_challenge_method') !== 'S256') return fail('invalid_request', 'code_challenge_method must be S256; plain is not accepted');
  if (!/^[A-Za-z0-9_-]{43}$/.test(challenge)) return fail('invalid_request', 'code_challenge must be a base64url SHA-256 (43 characters)');
  if (state && state.length > 2048) return fail('invalid_request', 'state is longer than 2048 characters');
  const resources = params.getAll('resource');
  if (resources.length > 1) return fail('invalid_target', `this gateway is one resource: ${ctx.resource()}`);
  if (resources.length === 1 && canonical(resources[0]!) !== canonical(ctx.resource())) {
    return fail('invalid_target', `resource must be ${ctx.resource()}`);
  }
  const scopes = requestedScopes(params.get('scope'));

  let idp: oidc.Configuration;
  try {
    idp = await ctx.idp();
  } catch (e) {
    ctx.logger.warn('IdP discovery failed', { error: e });
    return fail('temporarily_unavailable', 'the identity provider cannot be reached; try again later');
  }
  const now = ctx.deps.now();
  const id = randomToken();
  const request: AuthorizationRequest = {
    id,
    clientId,
    redirectUri,
    ...(state !== undefined ? { state } : {}),
    codeChallenge: challenge,
    scopes,
    resource: ctx.resource(),
    // The IdP's `state` is the request id: the callback finds the request by it, and the cookie proves the browser.
    idpState: id,
    idpNonce: oidc.randomNonce(),
    idpCodeVerifier: oidc.randomPKCECodeVerifier(),
    csrf: randomToken(),
    createdAt: now,
    expiresAt: now + REQUEST_TTL_MS,
  };
  await ctx.store.saveAuthorizationRequest(request);
  const loginScopes = new Set(['openid', ...ctx.runtime().config.idp.loginScopes, 'offline_access']);
  const url = oidc.buildAuthorizationUrl(idp, {
    redirect_uri: `${ctx.issuer()}${IDP_CALLBACK_PATH}`,
    scope: [...loginScopes].join(' '),
    code_challenge: await oidc.calculatePKCECodeChallenge(request.idpCodeVerifier),
    code_challenge_method: 'S256',
    state: request.idpState,
    nonce: request.idpNonce,
  });
  const res = new Response(null, { status: 302, headers: { Location: url.href, ...NO_STORE } });
  return withCookie(res, requestCookie(ctx.server().publicUrl, id, request.csrf, REQUEST_TTL_MS / 1000));
}

function canonical(uri: string): string {
  return URL.canParse(uri) ? new URL(uri).href.replace(/\/$/, '') : uri;
}

/** IdP errors the client may learn about; anything else becomes server_error. */
const PASSED_IDP_ERRORS = new Set(['access_denied', 'temporarily_unavailable']);

/**
 * GET /oauth/idp/callback: completes the gateway's OIDC sign-in (code + PKCE + nonce), keeps the
 * user's IdP session, then either issues the code (consent already given for this agent) or sends
 * the browser to the consent page (a GET of its own, so the IdP's code leaves the address bar).
 */
export async function idpCallback(ctx: AsContext, c: Context): Promise<Response> {
  const params = new URL(c.req.url).searchParams;
  const loaded = await loadBoundRequest(ctx, c, params.get('state'));
  if (loaded instanceof Response) return loaded;
  const req = loaded;
  if (req.sessionId) return errorPage(400, 'Already signed in', 'This sign-in was already completed. Go back to the app you came from.');
  const idpError = params.get('error');
  if (idpError) {
    const error = PASSED_IDP_ERRORS.has(idpError)
      ? idpError
      : idpError === 'login_required' || idpError === 'consent_required'
        ? 'access_denied'
        : 'server_error';
    return failRequest(ctx, req, error, `sign-in at the identity provider failed: ${idpError}`);
  }
  const currentUrl = new URL(`${ctx.issuer()}${IDP_CALLBACK_PATH}`);
  currentUrl.search = params.toString();
  let tokens: Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>;
  try {
    tokens = await oidc.authorizationCodeGrant(await ctx.idp(), currentUrl, {
      pkceCodeVerifier: req.idpCodeVerifier,
      expectedState: req.idpState,
      expectedNonce: req.idpNonce,
      idTokenExpected: true,
    });
  } catch (e) {
    ctx.logger.warn('IdP sign-in could not be completed', { clientId: req.clientId, error: e });
    return failRequest(ctx, req, 'server_error', 'sign-in at the identity provider could not be completed');
  }
  const claims = tokens.claims();
  if (!claims || !tokens.id_token) return failRequest(ctx, req, 'server_error', 'the identity provider returned no ID token');
  if (!tokens.refresh_token) ctx.logger.warn('the IdP issued no refresh token (offline_access): the session ends with the ID token', { sub: claims.sub });
  const session = await ctx.store.createUserSession({
    iss: claims.iss,
    sub: claims.sub,
    ...(typeof claims.email === 'string' ? { email: claims.email } : {}),
    ...(typeof claims.name === 'string' ? { name: claims.name } : {}),
    idToken: tokens.id_token,
    idTokenExpiresAt: claims.exp * 1000,
    ...(tokens.refresh_token ? { idpRefreshToken: tokens.refresh_token } : {}),
  });
  await ctx.store.updateAuthorizationRequest(req.id, { sessionId: session.id });
  ctx.logger.info('user signed in at the IdP', { sub: session.sub, sid: session.id, clientId: req.clientId });

  // Consent is per user and agent (MCP security best practices, confused deputy): asked once, and
  // again only for what a step-up adds.
  const decided = await decideFor(ctx, req, session);
  if (decided instanceof Response) return decided;
  if (!decided.decision.toConsent.length) return issueCode(ctx, { ...req, scopes: decided.decision.granted, sessionId: session.id }, session);
  return new Response(null, {
    status: 303,
    headers: { Location: `${CONSENT_PATH}?request=${encodeURIComponent(req.id)}`, ...NO_STORE, 'Referrer-Policy': 'no-referrer' },
  });
}

/**
 * The pending request named by `id`, provided this browser holds its cookie; otherwise the error
 * page to show (expired request: 400; another browser's request: 403).
 */
export async function loadBoundRequest(ctx: AsContext, c: Context, id: string | null | undefined): Promise<AuthorizationRequest | Response> {
  if (!id || id.length > 100) return errorPage(400, 'This sign-in request is not valid', 'The request is missing its identifier. Start again from your agent.');
  const req = await ctx.store.getAuthorizationRequest(id);
  if (!req || req.expiresAt <= ctx.deps.now()) {
    return errorPage(400, 'This sign-in has expired', 'This sign-in expired or was already used. Start again from your agent.');
  }
  const cookie = getRequestCookie(c, ctx.server().publicUrl, req.id);
  if (!cookie || !safeEqual(cookie, req.csrf)) {
    return errorPage(
      403,
      'This sign-in belongs to another browser',
      'This sign-in was not started in this browser, so it cannot be completed here. Start again from your agent.',
    );
  }
  return req;
}
