import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { cors } from 'hono/cors';
import { payloadTooLarge } from '../../../errors.js';
import { isLoopbackHttp } from '../../../security.js';
import { authorize, CONSENT_PATH, IDP_CALLBACK_PATH, idpCallback } from './authorize.js';
import { ClientRegistry } from './clients.js';
import { consentGet, consentPost } from './consent.js';
import { createContext, type AsContext, type AuthorizationServerOptions } from './context.js';
import { jsonResponse, NO_STORE, oauthErrorResponse } from './http.js';
import { authorizationServerMetadata } from './metadata.js';
import { errorPage } from './pages.js';
import { RateLimits } from './rate-limit.js';
import { register } from './register.js';
import { revoke } from './revoke.js';
import { token } from './token.js';

export type { AuthorizationServerOptions } from './context.js';
export { GATEWAY_SCOPE, SUPPORTED_SCOPES } from './scopes.js';
export { IDP_CALLBACK_PATH, CONSENT_PATH } from './authorize.js';
export { REQUEST_COOKIE_BASE, requestCookieName } from './cookies.js';
export { CODE_TTL_MS, REQUEST_TTL_MS } from './grant.js';
export { CIMD_MAX_BYTES, CIMD_TIMEOUT_MS } from './cimd.js';

/** OAuth requests are small forms: a fixed limit, not server.maxBodyBytes. */
const FORM_MAX_BYTES = 16 * 1024;
const FORM_LIMIT = bodyLimit({ maxSize: FORM_MAX_BYTES, onError: () => oauthErrorResponse(payloadTooLarge(FORM_MAX_BYTES, undefined)) });

/**
 * The gateway's OAuth 2.1 authorization server for MCP clients (MCP authorization 2025-06-18 /
 * 2025-11-25): RFC 8414 metadata, JWKS, client registration (config, Client ID Metadata Documents,
 * RFC 7591), /authorize with sign-in at the enterprise IdP and per-agent consent, /token, /revoke.
 * Mounted at the root of the gateway's hono app.
 */
export function createAuthorizationServer(opts: AuthorizationServerOptions): Hono {
  const devLoopback = () => {
    const s = opts.config.current.config.server;
    return s ? isLoopbackHttp(new URL(s.publicUrl)) : false;
  };
  const clients = new ClientRegistry({ store: opts.store, logger: opts.logger, now: opts.deps.now, runtime: () => opts.config.current, devLoopback });
  const limits = new RateLimits(() => {
    const s = opts.config.current.config.server;
    if (!s) throw new Error('server section missing');
    return s.rateLimits;
  }, opts.sharedLimits);
  let synced: Promise<void> | undefined;
  const ready = () => {
    synced ??= clients.syncConfigClients(opts.config.current).catch((e) => {
      synced = undefined;
      throw e;
    });
    return synced;
  };
  opts.config.subscribe({
    onChange: (next, previous) => {
      synced = clients.syncConfigClients(next, previous).catch((e) => {
        opts.logger.error('pre-registered clients could not be updated', { error: e });
        synced = undefined;
      });
    },
  });
  const ctx = createContext(opts, { clients, limits, ready });
  if (!opts.config.current.config.server) throw new Error('createAuthorizationServer: the config has no "server" section');
  if (devLoopback()) opts.logger.warn('publicUrl is http on loopback: cookies are not Secure and loopback client metadata URLs are fetched (development only)');

  const app = new Hono();
  const run = (handler: (ctx: AsContext, c: Context) => Promise<Response>) => async (c: Context) => {
    await ctx.ready();
    return handler(ctx, c);
  };
  // Public, credential-free endpoints may be called from browser-based MCP clients.
  const open = cors({
    origin: '*',
    allowMethods: ['GET', 'POST', 'OPTIONS'],
    allowHeaders: ['Authorization', 'Content-Type', 'MCP-Protocol-Version', 'DPoP'],
    // RFC 9449 §8: a browser-based client must read the nonce /token hands out.
    exposeHeaders: ['DPoP-Nonce'],
    maxAge: 600,
  });
  for (const path of ['/.well-known/oauth-authorization-server', '/jwks', '/token', '/register', '/revoke']) app.use(path, open);

  // Cacheable for a few minutes: a key rotation keeps the old key verifying far longer (tokens.ts).
  app.get('/.well-known/oauth-authorization-server', (c) => c.json(authorizationServerMetadata(ctx), 200, { 'Cache-Control': 'public, max-age=300' }));
  app.get('/jwks', async (c) =>
    c.body(JSON.stringify(await ctx.tokens.jwks()), 200, { 'Cache-Control': 'public, max-age=300', 'Content-Type': 'application/jwk-set+json' }),
  );
  app.post('/register', FORM_LIMIT, run(register));
  app.get('/authorize', run(authorize));
  app.get(IDP_CALLBACK_PATH, run(idpCallback));
  app.get(CONSENT_PATH, run(consentGet));
  app.post(CONSENT_PATH, FORM_LIMIT, run(consentPost));
  app.post('/token', FORM_LIMIT, run(token));
  app.post('/revoke', FORM_LIMIT, run(revoke));

  app.onError(async (e, c) => {
    opts.logger.error('authorization server error', { path: c.req.path, error: e });
    const html = c.req.method === 'GET' && (c.req.path === '/authorize' || c.req.path.startsWith('/oauth/'));
    if (html) return errorPage(500, 'Something went wrong', 'The gateway could not complete this step. Try again in a moment.');
    return jsonResponse({ error: 'server_error', error_description: 'the authorization server failed; try again' }, 500, NO_STORE);
  });
  return app;
}
