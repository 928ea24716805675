/**
 * Client for `@modelcontextprotocol/conformance`, scenario `auth/enterprise-managed-authorization` (SEP-990;
 * called `auth/cross-app-access-complete-flow` before 0.2.0-alpha.12).
 * The suite starts an IdP, an authorization server and an MCP server, then runs
 *   npm run -s conformance-client -- <mcp server url>
 * with MCP_CONFORMANCE_CONTEXT = { client_id, client_secret, idp_client_id, idp_id_token, idp_issuer,
 * idp_token_endpoint }. The flow runs on the gateway's own src/xaa functions:
 *   discoverMcpResource -> discoverAuthorizationServer(IdP) -> requestIdJag -> redeemIdJag -> MCP calls.
 * Nothing secret is printed.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { z } from 'zod';
import { defaultDeps } from '../../src/deps.js';
import { isGatewayError } from '../../src/errors.js';
import { discoverAuthorizationServer, discoverMcpResource, redeemIdJag, requestIdJag } from '../../src/xaa/index.js';
import { runDpopScenario } from './dpop-client.js';

const Context = z.object({
  name: z.string().optional(),
  client_id: z.string().min(1),
  client_secret: z.string().min(1),
  idp_client_id: z.string().min(1),
  idp_client_secret: z.string().min(1).optional(),
  idp_id_token: z.string().min(1),
  idp_issuer: z.string().min(1),
  idp_token_endpoint: z.string().min(1).optional(),
});

async function main(): Promise<void> {
  const serverUrl = process.argv.at(-1);
  if (!serverUrl || !/^https?:\/\//.test(serverUrl)) throw new Error('usage: conformance-client <mcp server url>');
  // auth/dpop and auth/dpop-nonce: tools/conformance/dpop-client.ts.
  if (process.env['MCP_CONFORMANCE_SCENARIO']?.startsWith('auth/dpop')) return runDpopScenario(serverUrl, defaultDeps, log);
  const raw = process.env['MCP_CONFORMANCE_CONTEXT'];
  if (!raw) throw new Error('MCP_CONFORMANCE_CONTEXT is not set');
  const ctx = Context.parse(JSON.parse(raw));
  const deps = defaultDeps;

  // SEP-990: 401 challenge -> RFC 9728 metadata (resource === server URL) -> RFC 8414 discovery of its AS.
  const upstream = await discoverMcpResource(serverUrl, deps);
  const idp = await discoverAuthorizationServer(ctx.idp_issuer, deps, { role: 'idp' });
  log(`resource ${upstream.resource}; AS ${upstream.authorizationServer.issuer}; IdP ${idp.issuer}`);

  const scopes = upstream.scopesSupported ?? [];
  // Step a. The suite's IdP issues no secret to its client, so it is a public client there.
  const idJag = await requestIdJag(
    {
      idp,
      client: ctx.idp_client_secret
        ? { clientId: ctx.idp_client_id, auth: { method: 'client_secret_post', clientSecret: ctx.idp_client_secret } }
        : { clientId: ctx.idp_client_id, auth: { method: 'none' } },
      subjectToken: ctx.idp_id_token,
      audience: upstream.authorizationServer.issuer,
      resource: upstream.resource,
      scopes,
      expectedClientId: ctx.client_id,
    },
    deps,
  );
  log(`ID-JAG jti ${idJag.jti}, expires ${new Date(idJag.expiresAt).toISOString()}`);

  // Step b. The AS advertises client_secret_basic only.
  const token = await redeemIdJag(
    {
      as: upstream.authorizationServer,
      client: { clientId: ctx.client_id, auth: { method: 'client_secret_basic', clientSecret: ctx.client_secret } },
      idJag: idJag.idJag,
      scopes,
    },
    deps,
  );
  log(`access token (${token.tokenType}), scopes [${token.scopes.join(' ')}]`);

  const client = new Client({ name: 'xaa-gateway-conformance', version: '0.1.0' });
  const transport = new StreamableHTTPClientTransport(new URL(serverUrl), {
    requestInit: { headers: { Authorization: `${token.tokenType} ${token.accessToken}` } },
  });
  await client.connect(transport);
  try {
    const { tools } = await client.listTools();
    log(`tools: ${tools.map((t) => t.name).join(', ')}`);
    const first = tools[0];
    if (first) {
      const result = await client.callTool({ name: first.name, arguments: {} });
      log(`called ${first.name}: ${result.isError ? 'error' : 'ok'}`);
    }
  } finally {
    await client.close();
  }
}

function log(message: string): void {
  process.stderr.write(`[conformance-client] ${message}\n`);
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    const code = isGatewayError(e) ? ` [${e.code}${e.oauthError ? `:${e.oauthError}` : ''}]` : '';
    process.stderr.write(`[conformance-client] failed${code}: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
