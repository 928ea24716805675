import { createIdpApp } from './idp/app.js';
import { createIdpContext } from './idp/context.js';
import { createGatewayRoutes } from './idp/gateway-routes.js';
import { trustGateway } from './idp/gateways.js';
import { DemoScimClient } from './idp/scim-client.js';
import { DemoTransmitter } from './idp/ssf.js';
import { createSsfRoutes } from './idp/ssf-routes.js';
import { listen, type Listener } from './listen.js';
import { JtiCache } from './oauth.js';
import { createSaasApp } from './saas/app.js';
import { createSaasContext } from './saas/context.js';
import { APP_DEFINITIONS, SEED_USERS } from './seed.js';
import { DemoState } from './state.js';
import { DEMO_APP_NAMES, type DemoEnterprise, type DemoPorts, type DemoUrls } from './types.js';

/**
 * The demo enterprise: one IdP and five SaaS apps, each on its own loopback origin, in one process.
 * This file is the public surface other parts of the project (gateway tests, `npm start`) use.
 */

export type { DemoAppName, DemoControl, DemoDpopPolicy, DemoEnterprise, DemoGateway, DemoPorts, DemoStats, DemoUrls } from './types.js';
export type { DemoSecurityEventOptions, DemoSsf, DemoSsfDelivery, DemoSsfStream } from './types.js';
export type { DemoScim, DemoScimDelivery, DemoScimTarget } from './types.js';
export { DEMO_EVENT_TYPES } from './idp/ssf.js';
export { DEMO_APP_NAMES } from './types.js';
export { DEFAULT_GATEWAY_PORT, demoConfig } from './config.js';
export { enterpriseAgentIdJag, enterpriseAgentIdToken } from './enterprise-agent.js';
export { completeDemoLogin } from './login.js';
export { DEMO_SECRETS_DIR } from './secrets.js';
export { ENTERPRISE_AGENT_CLIENT_ID, GATEWAY_CLIENT_ID } from './seed.js';

export const DEFAULT_DEMO_PORTS: DemoPorts = { idp: 4400, calendar: 4401, expenses: 4402, crm: 4403, chat: 4404, payroll: 4405 };

export const DEMO_USERS: ReadonlyArray<{ username: string; password: string; email: string; name: string; note: string }> = SEED_USERS.map(
  ({ username, password, email, name, note }) => ({ username, password, email, name, note }),
);

export async function startDemoEnterprise(opts: { ports?: Partial<DemoPorts> | 'random'; host?: '127.0.0.1' } = {}): Promise<DemoEnterprise> {
  const host = opts.host ?? '127.0.0.1';
  const ports: DemoPorts =
    opts.ports === 'random' ? { idp: 0, calendar: 0, expenses: 0, crm: 0, chat: 0, payroll: 0 } : { ...DEFAULT_DEMO_PORTS, ...(opts.ports ?? {}) };

  const listeners: Listener[] = [];
  const stop = async () => {
    await Promise.all(listeners.map((l) => l.close()));
  };
  try {
    // Bind every socket first: each app's issuer is its origin, and the IdP must know them all.
    const idp = await listen(host, ports.idp);
    listeners.push(idp);
    const apps = {} as Record<(typeof DEMO_APP_NAMES)[number], Listener>;
    for (const name of DEMO_APP_NAMES) {
      apps[name] = await listen(host, ports[name]);
      listeners.push(apps[name]);
    }
    const urls: DemoUrls = {
      idp: idp.origin,
      calendar: apps.calendar.origin,
      expenses: apps.expenses.origin,
      crm: apps.crm.origin,
      chat: apps.chat.origin,
      payroll: apps.payroll.origin,
    };

    const state = new DemoState();
    const idpContext = await createIdpContext(urls, state, new JtiCache());
    const idpApp = createIdpApp(idpContext);
    // The IdP's Shared Signals transmitter (after the IdP's routes, behind its "IdP down" gate).
    const ssf = new DemoTransmitter(idpContext);
    // ... and its SCIM client, provisioning the apps an admin connects (the gateway's /scim/v2).
    const scim = new DemoScimClient(idpContext);
    idpApp.route('/', createSsfRoutes(idpContext, ssf, scim));
    idpApp.route('/', createGatewayRoutes(idpContext));
    idp.setHandler((req) => idpApp.fetch(req));
    for (const name of DEMO_APP_NAMES) {
      const app = createSaasApp(await createSaasContext(APP_DEFINITIONS[name], urls[name], urls.idp, state));
      apps[name].setHandler((req) => app.fetch(req));
    }
    return {
      urls,
      control: state.control,
      stats: state.stats,
      ssf,
      scim,
      trustResourceServer: ({ issuer, resources, scopes, policyOf }) => {
        idpContext.apps.push({ name: policyOf, issuer, resources: [...resources], scopes: [...scopes] });
      },
      trustGateway: (gateway) => {
        trustGateway(idpContext, gateway);
      },
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
