import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_TOOL_NAMES, startEnv, text, type Env } from '../../../tools/testkit/env.js';
import {
  CLIENT_INFO,
  connectWithOAuth,
  DanceProvider,
  jwtClaims,
  LoopbackRedirect,
  mcpWithToken,
  recordingFetch,
  refreshWith,
  revokeToken,
  startCimdHost,
  tamperSignature,
  type CimdHost,
} from './oauth-client.js';
import { createTestDatabase, ENGINES, freePort, startServedGateway, writeServeConfig, type ServedGateway, type TestDatabase } from './served-gateway.js';

/**
 * The MCP authorization spec's whole dance with the SDK's own client, against `xaa-gateway serve`
 * given nothing but `<origin>/mcp`: 401 -> RFC 9728 -> RFC 8414 -> registration (Client ID Metadata
 * Document, or RFC 7591) -> /authorize -> the IdP's login form -> the gateway's consent page -> code
 * at the loopback redirect URI -> token -> tools/list, tools/call -> refresh on 401 -> RFC 7009.
 * On the embedded store and on PostgreSQL.
 */

const ALICE = { username: 'alice', password: 'alice-demo-pass', sub: 'u-alice', email: 'alice@acme.example' };
const CALLS = [
  { name: 'calendar_free_slots', arguments: { date: '2026-12-01' }, outcome: { ok: true, status: 200 } },
  { name: 'crm_get_customer', arguments: { customerId: 'cus_1001' }, outcome: { ok: true, status: 200 } },
  // A tool of the CRM's own MCP server, federated under its prefix (an MCP result has no HTTP status).
  { name: 'crmmcp_lookup_customer', arguments: { customerId: 'cus_1001' }, outcome: { ok: true } },
];

const REGISTRATIONS = [
  { how: 'Client ID Metadata Document', clientName: 'Dance Agent (CIMD)', cimd: true },
  { how: 'RFC 7591 dynamic registration', clientName: 'Dance Agent (DCR)', cimd: false },
];

function actingFor(result: CallToolResult): unknown {
  expect(result.isError ?? false, text(result)).toBe(false);
  return (JSON.parse(text(result)) as { actingFor?: unknown }).actingFor;
}

for (const engine of ENGINES) {
  describe.skipIf(engine.skip)(`an SDK MCP client signs in from nothing but the URL (${engine.name})`, () => {
    let env: Env;
    let db: TestDatabase | undefined;
    let gw: ServedGateway;
    let redirect: LoopbackRedirect;
    let cimd: CimdHost;

    beforeAll(async () => {
      env = await startEnv();
      if (engine.kind === 'postgres') db = await createTestDatabase();
      const port = await freePort();
      writeServeConfig(env, port);
      redirect = await LoopbackRedirect.start();
      cimd = await startCimdHost((clientId) => ({
        client_id: clientId,
        client_name: 'Dance Agent (CIMD)',
        redirect_uris: [redirect.url],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        token_endpoint_auth_method: 'none',
      }));
      gw = await startServedGateway(env, { port, ...(db ? { databaseUrl: db.url } : {}) });
    });

    afterAll(async () => {
      const exit = await gw?.stop();
      await cimd?.close();
      await redirect?.close();
      await db?.drop();
      await env?.close();
      if (gw) expect(exit, gw.stderr()).toBe(0);
    });

    it.each(REGISTRATIONS)(
      '$how: discovery, registration, IdP sign-in, consent, token, tool calls, refresh, revoke',
      async ({ clientName, cimd: byDocument }) => {
        const provider = new DanceProvider({
          redirect,
          clientName,
          username: ALICE.username,
          password: ALICE.password,
          ...(byDocument ? { clientMetadataUrl: cimd.clientId } : {}),
        });
        const { fetch, log } = recordingFetch();
        const { client, transport, signedIn } = await connectWithOAuth(gw.mcpUrl, provider, fetch);
        try {
          expect(signedIn).toBe(true);
          // From the URL alone: the 401's resource_metadata, the AS metadata, registration, the code for tokens.
          expect(log.slice(0, byDocument ? 4 : 5)).toEqual([
            { method: 'POST', path: '/mcp', status: 401 },
            { method: 'GET', path: '/.well-known/oauth-protected-resource/mcp', status: 200 },
            { method: 'GET', path: '/.well-known/oauth-authorization-server', status: 200 },
            ...(byDocument ? [] : [{ method: 'POST', path: '/register', status: 201 }]),
            { method: 'POST', path: '/token', status: 200, grantType: 'authorization_code' },
          ]);
          expect(log).toContainEqual({ method: 'POST', path: '/mcp', status: 200 });
          expect(provider.metadata).toMatchObject({
            issuer: gw.origin,
            client_id_metadata_document_supported: true,
            registration_endpoint: `${gw.origin}/register`,
            revocation_endpoint: `${gw.origin}/revoke`,
          });

          const clientId = String(provider.clientInformation()!.client_id);
          if (byDocument) {
            expect(clientId).toBe(cimd.clientId);
            // The gateway fetched the document once (then it is cached in the store).
            expect(cimd.requests).toEqual(['/agents/dance/client.json']);
          } else {
            expect(clientId).toMatch(/^dyn_[A-Za-z0-9_-]+$/);
          }

          // The person's view: the IdP's login form, then the gateway's consent page naming the agent.
          expect(provider.signIns.map((s) => s.pages)).toEqual([['idp-login', 'consent']]);
          expect(provider.signIns[0]!.cookiesLeft).toEqual([]); // the request-binding cookie is cleared once the code is issued
          const consent = provider.signIns[0]!.consentText!;
          expect(consent).toContain(`Allow ${clientName} to use your organization's tools as you?`);
          expect(consent).toContain(`Client ID ${clientId}`);
          expect(consent).toContain(`Signed in as ${ALICE.email} (Alice Anders)`);
          expect(consent).toContain(`Returns to an app on this computer (${new URL(redirect.url).host})`);
          expect(consent).toContain(byDocument ? `it describes itself at ${new URL(cimd.clientId).host}` : 'it registered itself');

          const first = provider.tokens()!;
          expect(first.token_type.toLowerCase()).toBe('bearer');
          expect(first.refresh_token).toMatch(/^[A-Za-z0-9_-]{43}$/);
          const claims = jwtClaims(first.access_token);
          expect(claims).toMatchObject({ iss: gw.origin, aud: gw.mcpUrl, sub: ALICE.sub, idp_iss: env.demo.urls.idp, client_id: clientId, scope: 'mcp:tools' });
          expect(claims.exp - claims.iat).toBe(600);

          // tools/list and tools/call: each downstream API acts for alice.
          const listed = (await client.listTools()).tools.map((t) => t.name);
          expect(listed).toEqual(expect.arrayContaining([...DEMO_TOOL_NAMES]));
          expect(listed).not.toContain('crmmcp_delete_customer'); // the upstream's deny list
          for (const { name, arguments: args } of CALLS) {
            expect(actingFor((await client.callTool({ name, arguments: args })) as CallToolResult)).toEqual({ sub: ALICE.sub, email: ALICE.email });
          }

          // Every record of this agent's calls names alice and the agent (its client id and registered name).
          const who = { user: { iss: env.demo.urls.idp, sub: ALICE.sub, email: ALICE.email }, agent: { clientId, name: clientName } };
          const mine = async () => (await gw!.audit()).filter((r) => r.agent?.clientId === clientId);
          await expect.poll(async () => (await mine()).length, { timeout: 5_000 }).toBe(2 * CALLS.length);
          const records = await mine();
          for (const r of records) expect(r).toMatchObject(who);
          expect(records.map((r) => `${r.phase}:${r.tool}`)).toEqual(CALLS.flatMap((c) => [`decision:${c.name}`, `outcome:${c.name}`]));
          expect(records.filter((r) => r.phase === 'outcome').map((r) => r.outcome)).toEqual(CALLS.map((c) => c.outcome));
          expect(JSON.stringify(records)).not.toContain(first.access_token);
          expect(JSON.stringify(records)).not.toContain(first.refresh_token);
          // The agent is the OAuth client holding the token, not the name the client gives itself in initialize.
          expect(JSON.stringify(records)).not.toContain(CLIENT_INFO.name);

          // Refresh: the held access token stops verifying; the SDK's 401 handling refreshes and retries.
          provider.setAccessToken(tamperSignature(first.access_token));
          const sessionId = transport.sessionId;
          const mark = log.length;
          expect(actingFor((await client.callTool({ name: CALLS[0]!.name, arguments: CALLS[0]!.arguments })) as CallToolResult)).toEqual({
            sub: ALICE.sub,
            email: ALICE.email,
          });
          expect(log.slice(mark).slice(0, 2)).toEqual([
            { method: 'POST', path: '/mcp', status: 401 },
            { method: 'POST', path: '/token', status: 200, grantType: 'refresh_token' },
          ]);
          const second = provider.tokens()!;
          expect(transport.sessionId).toBe(sessionId); // the MCP session is bound to the sign-in and agent, which a refresh keeps
          expect(second.access_token).not.toBe(first.access_token);
          expect(second.refresh_token).toMatch(/^[A-Za-z0-9_-]{43}$/);
          expect(second.refresh_token).not.toBe(first.refresh_token); // rotated
          expect(jwtClaims(second.access_token)).toMatchObject({ sub: ALICE.sub, client_id: clientId, sid: claims.sid });
          expect(jwtClaims(second.access_token).jti).not.toBe(claims.jti);
          await expect.poll(async () => (await mine()).length, { timeout: 5_000 }).toBe(2 * CALLS.length + 2);

          // RFC 7009 at the advertised revocation_endpoint. An access token: refused at /mcp from then on,
          // while the grant lives on (its refresh token still refreshes).
          const challenge = (description: string) =>
            `Bearer error="invalid_token", error_description="${description}", resource_metadata="${gw.origin}/.well-known/oauth-protected-resource/mcp", scope="mcp:tools"`;
          expect(await mcpWithToken(gw.mcpUrl, second.access_token)).toMatchObject({ status: 200 });
          expect(await revokeToken(provider, second.access_token, 'access_token')).toBe(200);
          expect(await mcpWithToken(gw.mcpUrl, second.access_token)).toEqual({ status: 401, wwwAuthenticate: challenge('token revoked') });
          const third = await refreshWith(provider, second.refresh_token!);
          expect(third.status, JSON.stringify(third.body)).toBe(200);
          expect(await mcpWithToken(gw.mcpUrl, third.body.access_token)).toMatchObject({ status: 200 });
          // A refresh token: the grant ends (RFC 7009 §2.1): no more refreshes, and its access tokens are refused too.
          expect(await revokeToken(provider, third.body.refresh_token, 'refresh_token')).toBe(200);
          const dead = await refreshWith(provider, third.body.refresh_token);
          expect([dead.status, dead.body.error]).toEqual([400, 'invalid_grant']);
          expect(await mcpWithToken(gw.mcpUrl, third.body.access_token)).toEqual({ status: 401, wwwAuthenticate: challenge('session signed out') });
          // The refused tokens reached no tool: no record was added.
          expect((await mine()).length).toBe(2 * CALLS.length + 2);
        } finally {
          await client.close();
        }
      },
      60_000,
    );
  });
}
