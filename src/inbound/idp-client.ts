import * as client from 'openid-client';
import type { Deps } from '../deps.js';
import { GatewayError } from '../errors.js';
import { clientAuthentication } from '../xaa/client-auth.js';
import { DEFAULT_TIMEOUT_MS } from '../xaa/constants.js';
import { isLoopbackHttp } from '../security.js';
import type { ClientCredentials } from '../xaa/types.js';

/**
 * openid-client configuration for the gateway's client at the IdP (OIDC discovery from the issuer),
 * used for sign-in, ID token renewal and revocation. Client authentication is the same as for the
 * token exchange (src/xaa); plain http only for loopback issuers.
 */
export async function idpConfiguration(issuer: string, creds: ClientCredentials, deps: Deps, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<client.Configuration> {
  try {
    return await client.discovery(new URL(issuer), creds.clientId, undefined, await clientAuthentication(creds, deps), {
      [client.customFetch]: deps.fetch as client.CustomFetch,
      execute: isLoopbackHttp(new URL(issuer)) ? [client.allowInsecureRequests] : [],
      // Seconds, for discovery and every later request of this configuration (ID token renewal on a
      // tool call's path, revocation): idp.timeoutMs, as for the token exchange.
      timeout: Math.max(1, Math.ceil(timeoutMs / 1000)),
    });
  } catch (e) {
    throw new GatewayError('idp_unreachable', `cannot discover the IdP at ${issuer}: ${(e as Error).message}`, { cause: e });
  }
}
