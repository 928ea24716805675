import type { Context } from 'hono';
import type { AsContext } from './context.js';
import { loadBoundRequest } from './authorize.js';
import { decideFor, failRequest, issueCode } from './grant.js';
import { safeEqual } from '../../../security.js';
import { consentPage, errorPage } from './pages.js';

const ENTERPRISE = 'your organization';

/** GET /oauth/consent?request=: the consent page, for the browser that signed in. */
export async function consentGet(ctx: AsContext, c: Context): Promise<Response> {
  const loaded = await loadBoundRequest(ctx, c, c.req.query('request'));
  if (loaded instanceof Response) return loaded;
  const req = loaded;
  const session = req.sessionId ? await ctx.store.getUserSession(req.sessionId) : undefined;
  if (!session || session.revokedAt) return errorPage(400, 'Not signed in', 'Sign in first: start again from your agent.');
  const decided = await decideFor(ctx, req, session);
  if (decided instanceof Response) return decided;
  return consentPage({
    client: decided.client,
    redirectUri: req.redirectUri,
    user: { sub: session.sub, ...(session.email ? { email: session.email } : {}), ...(session.name ? { name: session.name } : {}) },
    enterprise: ENTERPRISE,
    requestId: req.id,
    csrf: req.csrf,
    scopes: decided.decision.toConsent,
    alreadyAllowed: decided.decision.alreadyAllowed,
  });
}

/**
 * POST /oauth/consent: Allow or Deny. The form's CSRF token must equal the one bound to the request
 * and held in this browser's cookie; a foreign Origin is refused outright.
 */
export async function consentPost(ctx: AsContext, c: Context): Promise<Response> {
  const forbidden = () =>
    errorPage(403, 'This form could not be verified', "The consent form was not submitted from this browser's sign-in page. Start again from your agent.");
  const origin = c.req.header('origin');
  // Browsers send "null" with Referrer-Policy no-referrer; the CSRF token is the real check.
  if (origin && origin !== 'null' && origin !== new URL(ctx.issuer()).origin) return forbidden();
  if (!/^application\/x-www-form-urlencoded\b/i.test(c.req.header('content-type') ?? '')) return errorPage(400, 'Bad request', 'Expected a form submission.');
  const form = new URLSearchParams(await c.req.text());
  const loaded = await loadBoundRequest(ctx, c, form.get('request_id'));
  if (loaded instanceof Response) return loaded.status === 403 ? forbidden() : loaded;
  const req = loaded;
  const csrf = form.get('csrf') ?? '';
  if (!safeEqual(csrf, req.csrf)) return forbidden();
  const session = req.sessionId ? await ctx.store.getUserSession(req.sessionId) : undefined;
  if (!session || session.revokedAt) return errorPage(400, 'Not signed in', 'Sign in first: start again from your agent.');
  switch (form.get('decision')) {
    case 'deny':
      ctx.logger.info('consent denied', { clientId: req.clientId, sub: session.sub });
      return failRequest(ctx, req, 'access_denied', 'the user denied access', 303);
    case 'allow': {
      const decided = await decideFor(ctx, req, session, 303);
      if (decided instanceof Response) return decided;
      const { decision } = decided;
      await ctx.store.saveConsent({ iss: session.iss, sub: session.sub, clientId: req.clientId, scopes: decision.consentAfter, grantedAt: ctx.deps.now() });
      ctx.logger.info('consent granted', { clientId: req.clientId, sub: session.sub, scopes: decision.toConsent });
      return issueCode(ctx, { ...req, scopes: decision.granted }, session, 303);
    }
    default:
      return errorPage(400, 'Bad request', 'Choose Allow or Deny.');
  }
}
