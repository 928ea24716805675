import type { RuntimeConfig } from '../../src/config/index.js';
import { GATEWAY_SCOPE } from '../../src/inbound/http/as/scopes.js';
import type { DemoEnterprise } from './types.js';

/**
 * `npm start`: when the gateway accepts enterprise-managed sign-in (server.enterpriseManaged), the demo
 * IdP trusts its authorization server (what an IdP admin does when adding the gateway as an app):
 * ID-JAGs for it go to enterprise-agent, and the gateway may chain them to the SaaS apps. Returns
 * lines for the banner.
 */
export function connectEnterpriseManaged(demo: DemoEnterprise, runtime: RuntimeConfig): string[] {
  const server = runtime.config.server;
  if (!server?.enterpriseManaged.enabled) return [];
  const issuer = server.publicUrl.replace(/\/+$/, '');
  demo.trustGateway({ issuer, resource: `${issuer}/mcp`, scopes: [GATEWAY_SCOPE] });
  return [
    'Enterprise-managed sign-in (no browser): the demo IdP issues ID-JAGs for this gateway to its enterprise-agent client;',
    '  try it (signs alice in headlessly, redeems the ID-JAG at /token, calls a tool):  npm run demo:agent -- alice calendar_free_slots',
  ];
}
