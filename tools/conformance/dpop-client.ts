/**
 * Client for the `@modelcontextprotocol/conformance` scenarios `auth/dpop` and `auth/dpop-nonce`
 * (SEP-1932, RFC 9449). The suite's authorization server issues tokens by authorization code only,
 * which the gateway never uses outbound (it gets its tokens by ID-JAG); so the authorization code
 * dance here (dynamic registration, PKCE, the redirect read from the `Location`) is this harness's,
 * and everything DPoP is the gateway's own code:
 * - the proof at the token request and the retry with the AS's nonce: src/xaa/dpop-request.ts, as
 *   the jwt-bearer request uses it;
 * - the MCP requests: src/catalog/upstream.ts `UpstreamConnections`, the gateway's connection to an
 *   upstream MCP server, with a DPoP-bound token: `Authorization: DPoP`, a fresh proof on every
 *   request, the retry with the resource server's nonce;
 * - the key and the proofs: src/dpop.
 */
import * as oauth from 'oauth4webapi';
import type { BrokeredToken } from '../../src/broker/index.js';
import { UpstreamConnections } from '../../src/catalog/upstream.js';
import { UpstreamConfig } from '../../src/config/schema.js';
import type { Deps } from '../../src/deps.js';
import { DpopClient, generateDpopKey } from '../../src/dpop/index.js';
import { GatewayError } from '../../src/errors.js';
import { tokenFingerprint } from '../../src/security.js';
import { discoverMcpResource } from '../../src/xaa/index.js';
import { tokenRequestWithProof } from '../../src/xaa/dpop-request.js';

const REDIRECT_URI = 'http://127.0.0.1:1/callback';

export async function runDpopScenario(serverUrl: string, deps: Deps, log: (m: string) => void): Promise<void> {
  const upstream = await discoverMcpResource(serverUrl, deps);
  const as = upstream.authorizationServer as oauth.AuthorizationServer;
  const algs = as.dpop_signing_alg_values_supported ?? [];
  log(`resource ${upstream.resource}; AS ${as.issuer}; DPoP algs [${algs.join(' ')}]`);
  const insecure = { [oauth.allowInsecureRequests]: true };

  // Dynamic client registration (RFC 7591), a public client.
  const reg = await oauth.dynamicClientRegistrationRequest(
    as,
    { redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: 'none', grant_types: ['authorization_code'], client_name: 'xaa-gateway conformance (DPoP)' },
    insecure,
  );
  // Read leniently: the suite's AS answers a client_secret without client_secret_expires_at (RFC 7591
  // §3.2.1 wants both), which oauth4webapi refuses; the client is public here anyway.
  if (reg.status !== 201) throw new Error(`dynamic registration answered ${reg.status}`);
  const client: oauth.Client = { client_id: String(((await reg.json()) as { client_id?: unknown }).client_id ?? '') };
  if (!client.client_id) throw new Error('dynamic registration returned no client_id');

  // Authorization code with PKCE; the suite's AS redirects at once.
  const verifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const authorize = new URL(as.authorization_endpoint!);
  authorize.search = new URLSearchParams({
    response_type: 'code',
    client_id: client.client_id,
    redirect_uri: REDIRECT_URI,
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    resource: upstream.resource,
    ...(upstream.scopesSupported?.length ? { scope: upstream.scopesSupported.join(' ') } : {}),
  }).toString();
  const redirect = await deps.fetch(authorize, { redirect: 'manual' });
  const location = redirect.headers.get('location');
  if (!location) throw new Error(`the authorization endpoint answered ${redirect.status} without a redirect`);
  const params = oauth.validateAuthResponse(as, client, new URL(location), state);

  // The token request with a DPoP proof, and the AS's nonce when it asks (RFC 9449 §5, §8).
  const dpop = new DpopClient(await generateDpopKey(), deps.now);
  const tokenUrl = new URL(as.token_endpoint!);
  const response = await tokenRequestWithProof(dpop, tokenUrl, (headers) =>
    oauth.authorizationCodeGrantRequest(as, client, oauth.None(), params, REDIRECT_URI, verifier, {
      ...insecure,
      headers,
      additionalParameters: { resource: upstream.resource },
    }),
  );
  const tokens = await oauth.processAuthorizationCodeResponse(as, client, response);
  if (tokens.token_type !== 'dpop') {
    throw new GatewayError('invalid_token_response', `asked for a DPoP-bound token, got "${tokens.token_type}": refused rather than used as a bearer token`);
  }
  log(`DPoP-bound access token (key ${dpop.key.jkt})`);

  // The MCP requests, over the gateway's own upstream connection code.
  const token: BrokeredToken = {
    accessToken: tokens.access_token,
    tokenType: 'DPoP',
    expiresAt: deps.now() + (tokens.expires_in ?? 300) * 1000,
    scopesGranted: tokens.scope?.split(' ') ?? [],
    idJagJti: 'none (authorization code)',
    fingerprint: tokenFingerprint(tokens.access_token),
    fromCache: false,
  };
  // The connection reads the upstream's name, URL and timeout; its client (for minting) is not used here.
  const config = UpstreamConfig.parse({
    name: 'conformance',
    url: serverUrl,
    prefix: '',
    client: { clientId: client.client_id, auth: { method: 'client_secret_basic', clientSecret: { env: 'UNUSED_BY_THE_CONNECTION' } } },
  });
  const connections = new UpstreamConnections(deps, { dpop: async () => dpop });
  try {
    await connections.run(
      config,
      {
        token,
        remint: () => Promise.reject(new GatewayError('downstream_unauthorized', 'the MCP server refused the DPoP-bound token')),
      },
      async (mcp) => {
        const { tools } = await mcp.listTools();
        log(`tools: ${tools.map((t) => t.name).join(', ')}`);
        const first = tools[0];
        if (first) log(`called ${first.name}: ${(await mcp.callTool({ name: first.name, arguments: {} })).isError ? 'error' : 'ok'}`);
      },
    );
  } finally {
    await connections.closeAll();
  }
}
