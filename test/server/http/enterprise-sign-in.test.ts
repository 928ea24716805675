import { join } from 'node:path';
import { Client, CrossAppAccessProvider, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_SECRETS_DIR, ENTERPRISE_AGENT_CLIENT_ID } from '../../../tools/demo/index.js';
import { readDemoSecret } from '../../../tools/demo/secrets.js';
import { runEnterpriseAgent } from '../../../tools/demo/agent.js';
import { enterpriseAgentIdJag } from '../../../tools/demo/enterprise-agent.js';
import { openSession, post, rpcMessage, startHarness, type Harness } from './harness.js';

/**
 * Enterprise-managed sign-in end to end (issue 11, point 3): an enterprise MCP client brings an
 * ID-JAG for the gateway from the demo IdP and redeems it at the gateway's /token (jwt-bearer), with
 * no browser anywhere; the user's tool calls then get downstream ID-JAGs from the IdP by the chained
 * exchange (draft-parecki-oauth-identity-assertion-gateways §3), which carry `act` naming the gateway.
 * Browser-signed users keep working beside them on the same gateway.
 */

/** The demo's secret of enterprise-agent at the gateway (tools/demo/secrets), which `npm run demo:agent` uses too. */
const AGENT_SECRET = readDemoSecret('enterprise-agent-gateway-secret');
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({
    server: () => {
      const secretFile = join(DEMO_SECRETS_DIR, 'enterprise-agent-gateway-secret');
      return {
        enterpriseManaged: { enabled: true },
        clients: [
          {
            clientId: ENTERPRISE_AGENT_CLIENT_ID,
            clientName: 'Enterprise Agent (managed)',
            redirectUris: ['http://127.0.0.1/callback'],
            clientSecret: { file: secretFile },
          },
        ],
      };
    },
  });
  // The IdP admin connects the gateway: its AS is operated by the gateway's IdP client (xaa-gateway).
  h.env.demo.trustGateway({ issuer: h.origin, resource: h.mcpUrl, scopes: ['mcp:tools'] });
});
afterAll(() => h?.close());

const basic = `Basic ${Buffer.from(`${ENTERPRISE_AGENT_CLIENT_ID}:${AGENT_SECRET}`).toString('base64')}`;

async function redeem(idJag: string): Promise<{ status: number; body: Record<string, any> }> {
  const res = await fetch(`${h.origin}/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: basic },
    body: new URLSearchParams({ grant_type: JWT_BEARER, assertion: idJag }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

describe('an enterprise MCP client signs in without a browser', () => {
  it("the SDK's CrossAppAccessProvider: discovers the gateway's AS, redeems an ID-JAG, lists and calls tools as the user", async () => {
    const chainedBefore = h.env.demo.stats.chainedExchanges;
    const provider = new CrossAppAccessProvider({
      // The client's own SSO at the IdP (headless here) and its RFC 8693 exchange for the gateway.
      assertion: async (ctx) =>
        (
          await enterpriseAgentIdJag(h.env.demo, {
            username: 'alice',
            audience: ctx.authorizationServerUrl,
            resource: ctx.resourceUrl,
            ...(ctx.scope ? { scope: ctx.scope } : {}),
          })
        ).idJag,
      clientId: ENTERPRISE_AGENT_CLIENT_ID,
      clientSecret: AGENT_SECRET,
      expectedIssuer: h.origin,
    });
    const client = new Client({ name: 'managed-agent', version: '1.0.0' }, { versionNegotiation: { mode: 'auto' } });
    await client.connect(new StreamableHTTPClientTransport(new URL(h.mcpUrl), { authProvider: provider }));
    try {
      expect((await client.listTools()).tools.map((t) => t.name)).toContain('calendar_free_slots');
      const result = (await client.callTool({ name: 'calendar_free_slots', arguments: { date: '2026-12-08' } })) as CallToolResult;
      expect(result.isError ?? false).toBe(false);
    } finally {
      await client.close();
    }
    // The call went out for alice, by the enterprise agent, with a downstream ID-JAG from the chained exchange.
    expect(h.env.demo.stats.chainedExchanges).toBeGreaterThan(chainedBefore);
    const record = h.sink.records.findLast((r) => r.tool === 'calendar_free_slots' && r.decision !== undefined);
    expect(record).toMatchObject({ decision: 'allow', user: { iss: h.env.demo.urls.idp, sub: 'u-alice' }, agent: { clientId: ENTERPRISE_AGENT_CLIENT_ID } });
    // The token it used never outlives the ID-JAG it redeemed, and came with no refresh token.
    const tokens = provider.tokens();
    expect(tokens?.refresh_token).toBeUndefined();
    expect(tokens?.expires_in).toBeLessThanOrEqual(300);
  });

  it('a raw-HTTP client, beside a browser-signed user on the same gateway: each call is made for its own user', async () => {
    const { idJag } = await enterpriseAgentIdJag(h.env.demo, { username: 'alice', audience: h.origin, resource: h.mcpUrl, scope: 'mcp:tools' });
    const idJagClaims = decodeJwt(idJag);
    expect(idJagClaims).toMatchObject({ aud: h.origin, sub: 'u-alice', client_id: ENTERPRISE_AGENT_CLIENT_ID });
    const granted = await redeem(idJag);
    expect(granted.status).toBe(200);
    expect(granted.body).toMatchObject({ token_type: 'Bearer', scope: 'mcp:tools' });
    expect(granted.body.refresh_token).toBeUndefined();
    expect(decodeJwt(granted.body.access_token).exp).toBeLessThanOrEqual(idJagClaims.exp!);
    // Re-redemption refused (draft-parecki-oauth-identity-assertion-gateways §4).
    expect((await redeem(idJag)).body.error).toBe('invalid_grant');

    const bob = await h.signIn('bob');
    const bobToken = await h.token(bob);
    const [managed, browser] = await Promise.all([openSession(h.mcpUrl, granted.body.access_token), openSession(h.mcpUrl, bobToken)]);
    const call = (s: typeof managed, id: number) =>
      post(h.mcpUrl, { jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'calendar_free_slots', arguments: { date: '2026-12-09' } } }, s.headers);
    const before = h.sink.records.length;
    const [r1, r2] = await Promise.all([call(managed, 11), call(browser, 12)]);
    expect([r1.status, r2.status]).toEqual([200, 200]);
    expect((await rpcMessage(r1)).result.isError ?? false).toBe(false);
    expect((await rpcMessage(r2)).result.isError ?? false).toBe(false);
    const users = h.sink.records
      .slice(before)
      .filter((r) => r.tool === 'calendar_free_slots' && r.decision === 'allow')
      .map((r) => `${r.user?.sub}:${r.agent?.clientId}`)
      .sort();
    expect(users).toEqual([`u-alice:${ENTERPRISE_AGENT_CLIENT_ID}`, 'u-bob:agent-a']);
  });

  it("the IdP's policy governs the chained exchange: with the agent's gateway connection disabled, a new downstream token is refused", async () => {
    const { idJag } = await enterpriseAgentIdJag(h.env.demo, { username: 'alice', audience: h.origin, resource: h.mcpUrl });
    const granted = await redeem(idJag);
    expect(granted.status).toBe(200);
    const session = await openSession(h.mcpUrl, granted.body.access_token);
    h.env.demo.control.setGatewayConnection(ENTERPRISE_AGENT_CLIENT_ID, false);
    try {
      const res = await post(
        h.mcpUrl,
        { jsonrpc: '2.0', id: 21, method: 'tools/call', params: { name: 'expenses_pending_approvals', arguments: {} } },
        session.headers,
      );
      const result = (await rpcMessage(res)).result as CallToolResult;
      expect(result.isError).toBe(true);
      expect(JSON.stringify(result.content)).toMatch(/IdP/);
    } finally {
      h.env.demo.control.setGatewayConnection(ENTERPRISE_AGENT_CLIENT_ID, true);
    }
  });

  it('`npm run demo:agent` (tools/demo/agent.ts) prints each step and the result; a user the IdP does not assign is refused with its reason', async () => {
    const run = async (user: string, tool: string, args: Record<string, unknown>) => {
      const lines: string[] = [];
      const result = await runEnterpriseAgent({ gatewayUrl: h.origin, idpUrl: h.env.demo.urls.idp, user, tool, args, log: (l) => lines.push(l) });
      return { ...result, lines };
    };
    const ok = await run('alice', 'calendar_free_slots', { date: '2026-12-10' });
    expect(ok.isError).toBe(false);
    expect(ok.lines[0]).toBe(
      `1. alice signs in at the IdP (${h.env.demo.urls.idp}) as ${ENTERPRISE_AGENT_CLIENT_ID}; the client exchanges the ID token for an ID-JAG`,
    );
    expect(ok.lines).toContain(`2. The client redeems it at ${h.origin}/token (jwt-bearer grant), no browser`);
    expect(ok.lines.find((l) => l.includes('Gateway access token'))).toMatch(
      /^ {3}Gateway access token: Bearer, expires in \d+ s \(never after the ID-JAG\), refresh token: none$/,
    );
    expect(JSON.parse(ok.text)).toMatchObject({ date: '2026-12-10', actingFor: { sub: 'u-alice' } });
    // bob is not assigned to CRM at the IdP: the chained exchange is refused and the agent is told why.
    const refused = await run('bob', 'crm_search_customers', { query: 'acme' });
    expect(refused.isError).toBe(true);
    expect(refused.text).toContain('access_denied (user is not assigned to crm)');
  });
});
