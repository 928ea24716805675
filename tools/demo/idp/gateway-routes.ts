import { Hono } from 'hono';
import { safeEqual } from '../oauth.js';
import { readDemoSecret } from '../secrets.js';
import type { IdpContext } from './context.js';
import { trustGateway } from './gateways.js';

/**
 * The IdP admin's gateway registry, for a gateway started in another process
 * (draft-parecki-oauth-identity-assertion-gateways): the authorization servers the IdP issues
 * ID-JAGs for and takes them back from in the chained exchange. Admin bearer token
 * (tools/demo/secrets/idp-admin-token), as the other /control routes.
 * - POST /control/gateways  {issuer, resource, scopes, operatedBy?}: trust one (the same issuer replaces it)
 * - GET  /control/gateways  the gateways trusted now
 */
export function createGatewayRoutes(ctx: IdpContext): Hono {
  const app = new Hono();
  const adminToken = readDemoSecret('idp-admin-token');

  app.use('/control/gateways', async (c, next) => {
    const m = /^Bearer\s+(\S+)$/i.exec(c.req.header('authorization') ?? '');
    if (m && safeEqual(m[1]!, adminToken)) return next();
    return c.json({ error: 'invalid_token' }, 401, { 'WWW-Authenticate': 'Bearer error="invalid_token"' });
  });
  app.post('/control/gateways', async (c) => {
    const body: unknown = await c.req.json().catch(() => undefined);
    try {
      return c.json({ gateway: trustGateway(ctx, body) }, 201);
    } catch (e) {
      return c.json({ error: 'invalid_request', error_description: (e as Error).message }, 400);
    }
  });
  app.get('/control/gateways', (c) => c.json({ gateways: [...ctx.gateways.values()] }));
  return app;
}
