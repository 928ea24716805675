import type { RuntimeConfig } from '../../src/config/index.js';
import { resolveScimClients, SCIM_BASE_PATH } from '../../src/scim/index.js';
import type { DemoEnterprise } from './types.js';

/** The SCIM client of the demo config (the one `npm start` connects the demo IdP to). */
export const DEMO_SCIM_CLIENT = 'demo-idp';

/**
 * `npm start`: when the gateway's config has the demo IdP's SCIM client, the demo IdP provisions the
 * demo users to the gateway's receiver (what an IdP admin would configure as the app's SCIM
 * connection) and pushes every deactivation after. Returns lines for the banner.
 */
export async function connectProvisioning(demo: DemoEnterprise, runtime: RuntimeConfig, gatewayListenUrl: string): Promise<string[]> {
  const client = resolveScimClients(runtime)?.find((c) => c.name === DEMO_SCIM_CLIENT);
  if (!client) return [];
  await demo.scim.connect({ baseUrl: `${gatewayListenUrl}${SCIM_BASE_PATH}`, token: client.token, groups: client.accessGroups });
  const failed = demo.scim.deliveries.filter((d) => d.status === undefined || d.status >= 400);
  return [
    `Provisioning (SCIM 2.0): the demo IdP provisioned its users to ${gatewayListenUrl}${SCIM_BASE_PATH}${failed.length ? ` (${failed.length} request(s) failed: ${failed[0]!.error ?? failed[0]!.status})` : ''};`,
    '  deactivating a user at the IdP (the curl above) is also pushed as SCIM PATCH active=false, which disables them at the gateway.',
  ];
}
