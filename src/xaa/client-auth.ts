import * as oauth from 'oauth4webapi';
import { importJWK, importPKCS8, type JWK } from 'jose';
import type { Deps } from '../deps.js';
import { GatewayError } from '../errors.js';
import type { ClientCredentials } from './types.js';

/**
 * A client without credentials (`token_endpoint_auth_method=none`). The product config never yields one;
 * it exists for IdPs that issue no secret to the caller, such as the conformance suite's IdP.
 */
export interface PublicClient {
  clientId: string;
  auth: { method: 'none' };
}

export type TokenEndpointClient = ClientCredentials | PublicClient;

/** Lifetime of a private_key_jwt client assertion (RFC 7523 §3: short-lived). */
const ASSERTION_LIFETIME_S = 60;

/**
 * The oauth4webapi client authentication for these credentials (RFC 6749 §2.3.1, RFC 7523 §2.2).
 * Assertion times come from deps.now, not the global clock.
 */
export async function clientAuthentication(client: TokenEndpointClient, deps: Pick<Deps, 'now'>): Promise<oauth.ClientAuth> {
  const auth = client.auth;
  switch (auth.method) {
    case 'client_secret_basic':
      return oauth.ClientSecretBasic(auth.clientSecret);
    case 'client_secret_post':
      return oauth.ClientSecretPost(auth.clientSecret);
    case 'none':
      return oauth.None();
    case 'private_key_jwt': {
      const key = await importPrivateKey(client.clientId, auth.privateKey, auth.alg);
      const kid = auth.kid ?? (typeof auth.privateKey === 'object' ? auth.privateKey.kid : undefined);
      return oauth.PrivateKeyJwt(
        { key, kid },
        {
          [oauth.modifyAssertion]: (_header, payload) => {
            const now = Math.floor(deps.now() / 1000);
            payload.iat = now;
            payload.nbf = now;
            payload.exp = now + ASSERTION_LIFETIME_S;
          },
        },
      );
    }
  }
}

async function importPrivateKey(clientId: string, material: JWK | string, alg: string): Promise<CryptoKey> {
  try {
    const key = typeof material === 'string' ? await importPKCS8(material, alg) : await importJWK(material, alg);
    if (!(key instanceof CryptoKey) || key.type !== 'private') throw new Error('not an asymmetric private key');
    return key;
  } catch (cause) {
    // The message names the client and alg only: never the key material.
    throw new GatewayError('config_secret', `The private key of client "${clientId}" could not be imported for ${alg}`, {
      cause: cause instanceof Error ? new Error(cause.message) : undefined,
    });
  }
}
