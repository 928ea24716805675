import * as oauth from 'oauth4webapi';
import { decodeJwt } from 'jose';
import type { Deps } from '../deps.js';
import type { DpopClient } from '../dpop/index.js';
import { tokenRequestWithProof } from './dpop-request.js';
import { clientAuthentication, type TokenEndpointClient } from './client-auth.js';
import { DEFAULT_TIMEOUT_MS, GRANT_TYPE_JWT_BEARER } from './constants.js';
import { oauthHttpOptions, parseUrl } from './http.js';
import { formatScope, parseScope } from './scopes.js';
import { tokenRequestFailure, tokenResponseFailure, type TokenEndpointPeer } from './token-endpoint-errors.js';
import type { AccessTokenResult, AuthorizationServerMetadata } from './types.js';

export interface JwtBearerRequest {
  /** The resource's authorization server (the ID-JAG's audience). */
  as: AuthorizationServerMetadata;
  /** The gateway's client at that AS. */
  client: TokenEndpointClient;
  /** Secret. */
  idJag: string;
  scopes: readonly string[];
  timeoutMs?: number;
  /** Asks for a DPoP-bound token (RFC 9449 §5): a proof with the request, one retry with the AS's nonce (§8). */
  dpop?: DpopClient;
}

/**
 * Form parameters of step b (RFC 7523 §2.1). `scope` is sent whenever there is one: some servers grant
 * only what is asked. (An empty scope is not a valid value, RFC 6749 §3.3, so none is sent then.)
 */
export function buildJwtBearerParams(req: Pick<JwtBearerRequest, 'idJag' | 'scopes'>): URLSearchParams {
  const params = new URLSearchParams({ grant_type: GRANT_TYPE_JWT_BEARER, assertion: req.idJag });
  const scope = formatScope(req.scopes);
  if (scope !== undefined) params.set('scope', scope);
  return params;
}

export interface JwtBearerResponseContext {
  as: AuthorizationServerMetadata;
  clientId: string;
  /** The scopes asked for: granted when the response omits `scope` (RFC 6749 §5.1). */
  requestedScopes: readonly string[];
  secrets?: readonly (string | undefined)[];
}

/** Process the AS's answer (RFC 6749 §5.1): a Bearer or DPoP (RFC 9449 §5) access token. */
export async function processJwtBearerResponse(response: Response, ctx: JwtBearerResponseContext, deps: Pick<Deps, 'now'>): Promise<AccessTokenResult> {
  const peer: TokenEndpointPeer = { role: 'as', issuer: ctx.as.issuer, secrets: ctx.secrets ?? [] };
  let body: oauth.TokenEndpointResponse;
  try {
    body = await oauth.processGenericTokenEndpointResponse(ctx.as as oauth.AuthorizationServer, { client_id: ctx.clientId }, response);
  } catch (e) {
    throw await tokenResponseFailure(peer, response, e);
  }
  const now = deps.now();
  let expiresAt: number | undefined;
  if (body.expires_in !== undefined) {
    expiresAt = now + body.expires_in * 1000;
  } else {
    expiresAt = jwtExpiry(body.access_token);
  }
  return {
    accessToken: body.access_token,
    tokenType: body.token_type === 'dpop' ? 'DPoP' : 'Bearer',
    ...(expiresAt !== undefined ? { expiresAt } : {}),
    scopes: parseScope(body.scope) ?? [...ctx.requestedScopes],
  };
}

/** An access token may be a JWT (RFC 9068); its `exp` is then the lifetime when `expires_in` is absent. */
function jwtExpiry(token: string): number | undefined {
  try {
    const { exp } = decodeJwt(token);
    return typeof exp === 'number' ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/** Step b: RFC 7523 jwt-bearer grant at the resource AS, the ID-JAG for an access token. */
export async function redeemIdJag(req: JwtBearerRequest, deps: Deps): Promise<AccessTokenResult> {
  const secrets = [req.idJag, 'clientSecret' in req.client.auth ? req.client.auth.clientSecret : undefined];
  const peer: TokenEndpointPeer = { role: 'as', issuer: req.as.issuer, secrets, timeoutMs: req.timeoutMs ?? DEFAULT_TIMEOUT_MS };
  let response: Response;
  try {
    const url = parseUrl(String(req.as.token_endpoint));
    if (!url) throw new Error('the authorization server metadata has no valid token_endpoint');
    const send = async (headers?: Record<string, string>) =>
      oauth.genericTokenEndpointRequest(
        req.as as oauth.AuthorizationServer,
        { client_id: req.client.clientId },
        // A private_key_jwt assertion is single use: made again for a retry, like the DPoP proof.
        await clientAuthentication(req.client, deps),
        GRANT_TYPE_JWT_BEARER,
        buildJwtBearerParams(req),
        { ...oauthHttpOptions(url, deps, req.timeoutMs), ...(headers ? { headers } : {}) },
      );
    response = req.dpop ? await tokenRequestWithProof(req.dpop, url, send) : await send();
  } catch (e) {
    throw tokenRequestFailure(peer, e);
  }
  return processJwtBearerResponse(response, { as: req.as, clientId: req.client.clientId, requestedScopes: req.scopes, secrets }, deps);
}
