import * as client from 'openid-client';
import type { Deps } from '../deps.js';
import { GatewayError } from '../errors.js';
import { clientAuthentication } from '../xaa/client-auth.js';
import { isLoopbackHttp } from '../xaa/http.js';
import type { ClientCredentials } from '../xaa/types.js';

/**
 * openid-client configuration for the gateway's client at the IdP (OIDC discovery from the issuer),
 * used for sign-in, ID token renewal and revocation. Client authentication is the same as for the
 * token exchange (src/xaa); plain http only for loopback issuers.
 */
export async function idpConfiguration(issuer: string, creds: ClientCredentials, deps: Deps): Promise<client.Configuration> {
  try {
    return await client.discovery(new URL(issuer), creds.clientId, undefined, await clientAuthentication(creds, deps), {
      [client.customFetch]: deps.fetch as client.CustomFetch,
      execute: isLoopbackHttp(new URL(issuer)) ? [client.allowInsecureRequests] : [],
    });
  } catch (e) {
    throw new GatewayError('idp_unreachable', `cannot discover the IdP at ${issuer}: ${(e as Error).message}`, { cause: e });
  }
}
