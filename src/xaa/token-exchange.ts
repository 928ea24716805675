import * as oauth from 'oauth4webapi';
import type { Deps } from '../deps.js';
import { clientAuthentication, type TokenEndpointClient } from './client-auth.js';
import { DEFAULT_TIMEOUT_MS, GRANT_TYPE_TOKEN_EXCHANGE, TOKEN_TYPE_ID_JAG, TOKEN_TYPE_ID_TOKEN, type SubjectTokenType } from './constants.js';
import { oauthHttpOptions, parseUrl } from './http.js';
import { inspectIdJag } from './id-jag.js';
import { formatScope, parseScope } from './scopes.js';
import { tokenRequestFailure, tokenResponseFailure, type TokenEndpointPeer } from './token-endpoint-errors.js';
import { GatewayError } from '../errors.js';
import type { AuthorizationServerMetadata, IdJagResult } from './types.js';

export interface IdJagRequest {
  /** The enterprise IdP (its metadata: issuer and token_endpoint). */
  idp: AuthorizationServerMetadata;
  /** The gateway's client at the IdP. */
  client: TokenEndpointClient;
  /** The user's ID token (or refresh token) issued to the gateway's IdP client. Secret. */
  subjectToken: string;
  /** Default `...:token-type:id_token`; IdPs may also take `...:token-type:refresh_token`. */
  subjectTokenType?: SubjectTokenType | (string & {});
  /** Issuer of the resource's authorization server. */
  audience: string;
  /** The resource URI (for an MCP upstream: the `resource` of its RFC 9728 metadata). */
  resource?: string;
  scopes: readonly string[];
  /** The gateway's client id at the resource AS; when given, the ID-JAG's `client_id` must equal it. */
  expectedClientId?: string;
  timeoutMs?: number;
}

/** Form parameters of step a (RFC 8693 §2.1, draft-ietf-oauth-identity-assertion-authz-grant §4.3). */
export function buildTokenExchangeParams(req: IdJagRequest): URLSearchParams {
  const params = new URLSearchParams({
    grant_type: GRANT_TYPE_TOKEN_EXCHANGE,
    requested_token_type: TOKEN_TYPE_ID_JAG,
    audience: req.audience,
  });
  if (req.resource !== undefined) params.set('resource', req.resource);
  const scope = formatScope(req.scopes);
  if (scope !== undefined) params.set('scope', scope);
  params.set('subject_token', req.subjectToken);
  params.set('subject_token_type', req.subjectTokenType ?? TOKEN_TYPE_ID_TOKEN);
  return params;
}

export interface TokenExchangeResponseContext {
  idp: AuthorizationServerMetadata;
  clientId: string;
  audience: string;
  expectedClientId?: string;
  /** Never to appear in error messages (the subject token, the client secret). */
  secrets?: readonly (string | undefined)[];
}

/**
 * Process the IdP's answer (RFC 8693 §2.2). `token_type` is `N_A` for an ID-JAG (it is not an access
 * token, RFC 8693 §2.2.1), which oauth4webapi accepts through its documented `recognizedTokenTypes`
 * option; `expires_in` is optional and the ID-JAG's `exp` then gives the lifetime.
 */
export async function processTokenExchangeResponse(response: Response, ctx: TokenExchangeResponseContext, deps: Pick<Deps, 'now'>): Promise<IdJagResult> {
  const peer: TokenEndpointPeer = { role: 'idp', issuer: ctx.idp.issuer, secrets: ctx.secrets ?? [] };
  let body: oauth.TokenEndpointResponse;
  try {
    body = await oauth.processGenericTokenEndpointResponse(ctx.idp as oauth.AuthorizationServer, { client_id: ctx.clientId }, response, {
      recognizedTokenTypes: { n_a: () => {} },
    });
  } catch (e) {
    throw await tokenResponseFailure(peer, response, e);
  }
  if (body.issued_token_type !== TOKEN_TYPE_ID_JAG) {
    throw new GatewayError(
      'invalid_token_response',
      `The IdP ${ctx.idp.issuer} issued "${String(body.issued_token_type)}" instead of an ID-JAG: issued_token_type must be ${TOKEN_TYPE_ID_JAG}`,
      { details: { claim: 'issued_token_type' } },
    );
  }
  const now = deps.now();
  const claims = inspectIdJag(body.access_token, {
    issuer: ctx.idp.issuer,
    audience: ctx.audience,
    expectedClientId: ctx.expectedClientId,
    now,
  });
  const expFromJwt = claims.exp * 1000;
  const expiresAt = body.expires_in === undefined ? expFromJwt : Math.min(now + body.expires_in * 1000, expFromJwt);
  const scopes = parseScope(typeof body.scope === 'string' ? body.scope : claims.scope);
  return { idJag: body.access_token, jti: claims.jti, expiresAt, ...(scopes ? { scopes } : {}) };
}

/** Step a: RFC 8693 token exchange at the IdP, the user's ID token for an ID-JAG. */
export async function requestIdJag(req: IdJagRequest, deps: Deps): Promise<IdJagResult> {
  const secrets = [req.subjectToken, 'clientSecret' in req.client.auth ? req.client.auth.clientSecret : undefined];
  const peer: TokenEndpointPeer = { role: 'idp', issuer: req.idp.issuer, secrets, timeoutMs: req.timeoutMs ?? DEFAULT_TIMEOUT_MS };
  let response: Response;
  try {
    const url = parseUrl(String(req.idp.token_endpoint));
    if (!url) throw new Error('the IdP metadata has no valid token_endpoint');
    const auth = await clientAuthentication(req.client, deps);
    response = await oauth.genericTokenEndpointRequest(
      req.idp as oauth.AuthorizationServer,
      { client_id: req.client.clientId },
      auth,
      GRANT_TYPE_TOKEN_EXCHANGE,
      buildTokenExchangeParams(req),
      oauthHttpOptions(url, deps, req.timeoutMs),
    );
  } catch (e) {
    throw tokenRequestFailure(peer, e);
  }
  return processTokenExchangeResponse(
    response,
    { idp: req.idp, clientId: req.client.clientId, audience: req.audience, expectedClientId: req.expectedClientId, secrets },
    deps,
  );
}
