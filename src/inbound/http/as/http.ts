import { createHash, randomBytes } from 'node:crypto';
import type { Context } from 'hono';
import { ERROR_TABLE, GatewayError, retryAfterOf, toGatewayError } from '../../../errors.js';

/** 32 random bytes, base64url: codes, refresh tokens, client secrets, request ids, CSRF tokens. */
export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/** SHA-256, base64url: how codes, refresh tokens and client secrets are stored (never in clear). */
export function sha256(value: string): string {
  return createHash('sha256').update(value).digest('base64url');
}

/** An OAuth protocol error (RFC 6749 §5.2, RFC 7591 §3.2.2, RFC 7009 §2.2.1). */
export function oauthError(error: string, description: string, status = 400): GatewayError {
  return new GatewayError('oauth_request', description, { oauthError: error, oauthErrorDescription: description, status });
}

/** RFC 6749 §5.1: token responses (and their errors) are never cached. */
export const NO_STORE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' } as const;

export function jsonResponse(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json', ...NO_STORE, ...headers },
  });
}

/**
 * The OAuth error body (RFC 6749 §5.2) of a GatewayError, by the error table: `oauth_request` with
 * its own error and status, the other codes on the OAuth surface with the table's (and Retry-After);
 * anything else is a server_error that tells nothing.
 */
export function oauthErrorResponse(e: unknown, extraHeaders: Record<string, string> = {}): Response {
  const err = toGatewayError(e);
  if (err.code === 'oauth_request' && err.oauthError) {
    return jsonResponse({ error: err.oauthError, error_description: err.oauthErrorDescription ?? err.message }, err.status ?? 400, extraHeaders);
  }
  const spec = ERROR_TABLE[err.code];
  if (!spec.surfaces.includes('oauth') || err.code === 'internal' || !spec.oauth) {
    return jsonResponse({ error: 'server_error', error_description: 'the authorization server failed; try again' }, 500, extraHeaders);
  }
  const retry = retryAfterOf(err);
  return jsonResponse({ error: spec.oauth, error_description: spec.shown ?? err.message }, spec.status, {
    ...(retry === undefined ? {} : { 'Retry-After': String(retry) }),
    ...extraHeaders,
  });
}

/**
 * The authorization response and its errors go to the client's (already validated) redirect URI with
 * `iss` (RFC 9207: mix-up defence) and the client's `state`.
 */
export function redirectToClient(redirectUri: string, issuer: string, params: Record<string, string | undefined>, status: 302 | 303 = 302): Response {
  const u = new URL(redirectUri);
  for (const [k, v] of Object.entries(params)) if (v !== undefined) u.searchParams.set(k, v);
  u.searchParams.set('iss', issuer);
  return new Response(null, { status, headers: { Location: u.href, ...NO_STORE, 'Referrer-Policy': 'no-referrer' } });
}

/** Reads an application/x-www-form-urlencoded body; repeated parameters are refused (RFC 6749 §3.1, §3.2). */
export async function readForm(c: Context): Promise<URLSearchParams> {
  const type = c.req.header('content-type') ?? '';
  if (!/^application\/x-www-form-urlencoded\b/i.test(type)) {
    throw oauthError('invalid_request', 'send the parameters as application/x-www-form-urlencoded');
  }
  const form = new URLSearchParams(await c.req.text());
  assertNoRepeats(form);
  return form;
}

export function assertNoRepeats(params: URLSearchParams): void {
  const seen = new Set<string>();
  for (const key of params.keys()) {
    if (seen.has(key)) throw oauthError('invalid_request', `parameter "${key}" is repeated`);
    seen.add(key);
  }
}
