import type { AuthorizationRequest, RegisteredClient, UserSession } from '../../../store/types.js';
import { allowsRefreshGrant } from './clients.js';
import type { AsContext } from './context.js';
import { clearedRequestCookie, withCookie } from './cookies.js';
import { randomToken, redirectToClient, sha256 } from './http.js';
import { decideGrant, type GrantDecision } from './scopes.js';

/** Authorization codes live one minute (RFC 6749 §4.1.2: short-lived, single use). */
export const CODE_TTL_MS = 60_000;
/** A pending authorization request (IdP sign-in + consent) lives ten minutes. */
export const REQUEST_TTL_MS = 10 * 60_000;

/** Issues the authorization code and sends the browser back to the client (RFC 6749 §4.1.2, RFC 9207 `iss`). */
export async function issueCode(ctx: AsContext, req: AuthorizationRequest, session: UserSession, status: 302 | 303 = 302): Promise<Response> {
  const code = randomToken();
  await ctx.store.saveAuthorizationCode({
    codeHash: sha256(code),
    clientId: req.clientId,
    redirectUri: req.redirectUri,
    codeChallenge: req.codeChallenge,
    sessionId: session.id,
    scopes: req.scopes,
    resource: req.resource,
    expiresAt: ctx.deps.now() + CODE_TTL_MS,
  });
  await ctx.store.deleteAuthorizationRequest(req.id);
  ctx.logger.info('authorization code issued', { clientId: req.clientId, sub: session.sub, sid: session.id });
  return withCookie(redirectToClient(req.redirectUri, ctx.issuer(), { code, state: req.state }, status), clearedRequestCookie(ctx.server().publicUrl, req.id));
}

/** Ends a pending request with an error sent to the client's validated redirect URI. */
export async function failRequest(ctx: AsContext, req: AuthorizationRequest, error: string, description: string, status: 302 | 303 = 302): Promise<Response> {
  await ctx.store.deleteAuthorizationRequest(req.id);
  return withCookie(
    redirectToClient(req.redirectUri, ctx.issuer(), { error, error_description: description, state: req.state }, status),
    clearedRequestCookie(ctx.server().publicUrl, req.id),
  );
}

/**
 * What this request is granted, given what the user already allowed the agent (scopes.ts:
 * decideGrant); the error redirect instead when the client is no longer registered.
 */
export async function decideFor(
  ctx: AsContext,
  req: AuthorizationRequest,
  session: UserSession,
  status: 302 | 303 = 302,
): Promise<{ decision: GrantDecision; client: RegisteredClient } | Response> {
  const client = await ctx.clients.find(req.clientId).catch(() => undefined);
  if (!client) return failRequest(ctx, req, 'unauthorized_client', 'the client is no longer registered', status);
  const consent = await ctx.store.getConsent(session.iss, session.sub, req.clientId);
  return { client, decision: decideGrant({ requested: req.scopes, consented: consent?.scopes ?? [], clientRefreshGrant: allowsRefreshGrant(client) }) };
}
