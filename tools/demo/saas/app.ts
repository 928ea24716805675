import { Hono } from 'hono';
import { chatApi } from './apps/chat.js';
import { calendarApi } from './apps/calendar.js';
import { crmApi } from './apps/crm.js';
import { expensesApi } from './apps/expenses.js';
import { payrollApi } from './apps/payroll.js';
import type { ApiApp, ApiEnv } from './api-env.js';
import { verifyBearer } from './bearer.js';
import type { SaasContext } from './context.js';
import { DPOP_ALGS, dpopPolicy } from './dpop.js';
import { handleMcp, MCP_PATH } from './crm-mcp.js';
import { JWT_BEARER, jwtBearerToken } from './token.js';
import { handleOAuth } from '../oauth.js';
import type { DemoAppName } from '../types.js';
import { noFraming } from '../idp/app.js';

/** One SaaS app: its authorization server, its API under /api and (CRM) its MCP server. */

const API_ROUTES: Record<DemoAppName, (api: ApiApp) => void> = {
  calendar: calendarApi,
  expenses: expensesApi,
  crm: crmApi,
  chat: chatApi,
  payroll: payrollApi,
};

export function asMetadata(ctx: SaasContext) {
  const method = ctx.def.clientAuth.method;
  const dpop = dpopPolicy(ctx).dpop;
  return {
    issuer: ctx.origin,
    token_endpoint: `${ctx.origin}/token`,
    jwks_uri: `${ctx.origin}/jwks`,
    grant_types_supported: [JWT_BEARER],
    response_types_supported: [],
    token_endpoint_auth_methods_supported: [method],
    ...(method === 'private_key_jwt' ? { token_endpoint_auth_signing_alg_values_supported: ['ES256'] } : {}),
    scopes_supported: ctx.def.scopes,
    // RFC 9449 §5.1: what a client learns DPoP is supported here from (built per request: the policy can change).
    ...(dpop !== 'none' ? { dpop_signing_alg_values_supported: [...DPOP_ALGS] } : {}),
  };
}

/** RFC 9728 §2 metadata of one of the app's protected resources. */
function resourceMetadata(ctx: SaasContext, path: string) {
  const dpop = dpopPolicy(ctx).dpop;
  return {
    resource: ctx.origin + path,
    authorization_servers: [ctx.origin],
    scopes_supported: ctx.def.scopes,
    bearer_methods_supported: ['header'],
    resource_name: `${ctx.def.title} ${path === MCP_PATH ? 'MCP server' : 'API'}`,
    ...(dpop !== 'none' ? { dpop_signing_alg_values_supported: [...DPOP_ALGS] } : {}),
    ...(dpop === 'required' ? { dpop_bound_access_tokens_required: true } : {}),
  };
}

export function createSaasApp(ctx: SaasContext): Hono {
  const app = new Hono();
  app.use('*', noFraming);
  app.get('/.well-known/oauth-authorization-server', (c) => c.json(asMetadata(ctx)));
  app.get('/jwks', (c) => c.json({ keys: [ctx.publicJwk] }));
  app.post('/token', (c) => handleOAuth(() => jwtBearerToken(ctx, c.req.raw)));

  // RFC 9728 §3.1: metadata at the well-known path + the resource's path. The app has several
  // resources, so the bare /.well-known/oauth-protected-resource would be ambiguous and is absent.
  for (const path of ctx.def.resourcePaths) {
    app.get(`/.well-known/oauth-protected-resource${path}`, (c) => c.json(resourceMetadata(ctx, path)));
  }

  const api = new Hono<ApiEnv>();
  api.use('*', async (c, next) => {
    ctx.state.stats.apiCalls[ctx.def.name] += 1;
    const verified = await verifyBearer(ctx, c.req.raw, '/api');
    if (!verified.ok) return verified.response;
    c.set('auth', verified.auth);
    await next();
  });
  API_ROUTES[ctx.def.name](api);
  api.notFound((c) => c.json({ error: 'not_found', message: `no route ${c.req.method} ${new URL(c.req.url).pathname}` }, 404));
  app.route('/api', api);

  if (ctx.def.resourcePaths.includes(MCP_PATH)) app.all(MCP_PATH, (c) => handleMcp(ctx, c.req.raw));
  return app;
}
