import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { auth } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_SECRETS_DIR, ENTERPRISE_AGENT_CLIENT_ID } from '../../tools/demo/index.js';
import { enterpriseAgentIdJag } from '../../tools/demo/enterprise-agent.js';
import { readDemoSecret } from '../../tools/demo/secrets.js';
import { CLIENT_INFO, DanceProvider, LoopbackRedirect } from '../server/http/oauth-client.js';
import { resultText } from './clients.js';
import { ADMIN_TOKEN_FILE, dialFetch, startFleet, type Fleet, type Instance } from './fleet.js';
import { FLEET_UNAVAILABLE } from './haproxy.js';

/**
 * Enterprise-managed sign-in (SEP-990) on a fleet: three `serve` instances on one PostgreSQL behind
 * HAProxy, with server.enterpriseManaged on and the enterprise-agent client pre-registered. alice's
 * enterprise MCP client brings an ID-JAG from the demo IdP and redeems it at the balancer's /token
 * (jwt-bearer, no browser); bob signs in through the browser dance. Both then call a tool on every
 * instance directly: each call is made for its own user, alice's downstream tokens come from the
 * chained exchange at the IdP, and the ID-JAG cannot be redeemed a second time on any instance.
 * Only correctness is asserted; a refusal is waited for with a hang guard, never a fixed sleep.
 */

const AGENT_SECRET = readDemoSecret('enterprise-agent-gateway-secret');
const ADMIN_TOKEN = readFileSync(ADMIN_TOKEN_FILE, 'utf8').trim();
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const TOOL = 'calendar_free_slots';
const BASIC = `Basic ${Buffer.from(`${ENTERPRISE_AGENT_CLIENT_ID}:${AGENT_SECRET}`).toString('base64')}`;
/** A hang guard, not a speed budget: the revocation reaches every instance within a poll (docs/fleet.md). */
const REFUSAL_TIMEOUT_MS = 120_000;

describe.skipIf(FLEET_UNAVAILABLE)('a mixed fleet of browser-signed and enterprise-managed users works', () => {
  let fleet: Fleet;
  let redirect: LoopbackRedirect;
  const clients: Client[] = [];
  let idJag: string;
  let aliceToken: string;
  let bobToken: string;
  let bobClientId: string;
  let chainedBefore: number;

  beforeAll(async () => {
    fleet = await startFleet({
      server: {
        enterpriseManaged: { enabled: true },
        clients: [
          {
            clientId: ENTERPRISE_AGENT_CLIENT_ID,
            clientName: 'Enterprise Agent (managed)',
            redirectUris: ['http://127.0.0.1/callback'],
            // Absolute: each instance runs from its own directory.
            clientSecret: { file: join(DEMO_SECRETS_DIR, 'enterprise-agent-gateway-secret') },
          },
        ],
      },
    });
    // The IdP admin connects the fleet's authorization server (the balancer's origin is its issuer).
    fleet.demo.trustGateway({ issuer: fleet.publicUrl, resource: fleet.mcpUrl, scopes: ['mcp:tools'] });
    redirect = await LoopbackRedirect.start();
  });

  afterAll(async () => {
    for (const c of clients) await c.close().catch(() => {});
    await redirect?.close();
    await fleet?.close();
  });

  async function redeem(fetchFn: typeof fetch, assertion: string): Promise<{ status: number; body: Record<string, any> }> {
    const res = await fetchFn(`${fleet.publicUrl}/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: BASIC },
      body: new URLSearchParams({ grant_type: JWT_BEARER, assertion }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  }

  /** An SDK (2025-11-25) MCP client on `inst` directly (Host stays publicUrl's), with a static Bearer header. */
  async function mcpClient(inst: Instance, token: string): Promise<Client> {
    const client = new Client(CLIENT_INFO, { capabilities: {} });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(fleet.mcpUrl), {
        fetch: dialFetch(inst.origin),
        requestInit: { headers: { Authorization: `Bearer ${token}` } },
      }),
    );
    clients.push(client);
    return client;
  }

  /** One tools/call of TOOL on `inst`: the SaaS's answer (its actingFor.sub is the user it served). */
  async function callOn(inst: Instance, token: string, date: string): Promise<{ actingFor?: { sub?: string } }> {
    const client = await mcpClient(inst, token);
    const r = (await client.callTool({ name: TOOL, arguments: { date } })) as CallToolResult;
    expect(r.isError ?? false, `${inst.name}: ${resultText(r)}`).toBe(false);
    return JSON.parse(resultText(r)) as { actingFor?: { sub?: string } };
  }

  it('alice signs in enterprise-managed: an ID-JAG from the IdP, redeemed at the balancer, no browser', async () => {
    chainedBefore = fleet.demo.stats.chainedExchanges;
    ({ idJag } = await enterpriseAgentIdJag(fleet.demo, { username: 'alice', audience: fleet.publicUrl, resource: fleet.mcpUrl, scope: 'mcp:tools' }));
    const claims = decodeJwt(idJag);
    expect(claims).toMatchObject({ aud: fleet.publicUrl, sub: 'u-alice', client_id: ENTERPRISE_AGENT_CLIENT_ID });
    const granted = await redeem(fetch, idJag);
    expect(granted.status, JSON.stringify(granted.body)).toBe(200);
    expect(granted.body).toMatchObject({ token_type: 'Bearer' });
    expect(granted.body.refresh_token).toBeUndefined();
    aliceToken = granted.body.access_token as string;
    expect(decodeJwt(aliceToken)).toMatchObject({ iss: fleet.publicUrl, sub: 'u-alice' });
    expect(decodeJwt(aliceToken).exp).toBeLessThanOrEqual(claims.exp!);
  });

  it('the same ID-JAG redeemed again, at each instance directly, is refused (fleet-wide replay check)', async () => {
    expect(idJag).toBeDefined();
    for (const inst of fleet.instances) {
      const again = await redeem(dialFetch(inst.origin), idJag);
      expect({ instance: inst.name, status: again.status, error: again.body.error }).toEqual({ instance: inst.name, status: 400, error: 'invalid_grant' });
      expect(again.body.error_description, inst.name).toMatch(/already redeemed/);
    }
  });

  it('bob signs in through the browser dance at the balancer', async () => {
    const provider = new DanceProvider({ redirect, clientName: 'Fleet Browser Agent', username: 'bob', password: 'bob-demo-pass' });
    expect(await auth(provider, { serverUrl: fleet.mcpUrl })).toBe('REDIRECT');
    expect(await auth(provider, { serverUrl: fleet.mcpUrl, authorizationCode: provider.lastCode() })).toBe('AUTHORIZED');
    expect(provider.signIns.map((s) => s.pages)).toEqual([['idp-login', 'consent']]);
    bobToken = provider.tokens()!.access_token;
    bobClientId = String(provider.clientInformation()!.client_id);
    expect(decodeJwt(bobToken)).toMatchObject({ iss: fleet.publicUrl, sub: 'u-bob' });
  });

  it('both call the tool on every instance directly: each call is made for its own user', async () => {
    expect(aliceToken).toBeDefined();
    expect(bobToken).toBeDefined();
    const before = new Map(await Promise.all(fleet.instances.map(async (i) => [i.name, (await i.audit()).length] as const)));
    for (const [k, inst] of fleet.instances.entries()) {
      const [alice, bob] = await Promise.all([callOn(inst, aliceToken, `2026-12-0${k + 1}`), callOn(inst, bobToken, `2026-12-0${k + 1}`)]);
      expect({ instance: inst.name, alice: alice.actingFor?.sub, bob: bob.actingFor?.sub }).toEqual({ instance: inst.name, alice: 'u-alice', bob: 'u-bob' });
    }
    // Each instance's own audit chain holds one "allow" decision per user, with the agent that signed that user in.
    for (const inst of fleet.instances) {
      const decisions = (await inst.audit())
        .slice(before.get(inst.name))
        .filter((r) => r.type === 'tool_call' && r.phase === 'decision' && r.tool === TOOL)
        .map((r) => `${r.decision}:${r.user?.sub}:${r.agent?.clientId}`)
        .sort();
      expect({ instance: inst.name, decisions }).toEqual({
        instance: inst.name,
        decisions: [`allow:u-alice:${ENTERPRISE_AGENT_CLIENT_ID}`, `allow:u-bob:${bobClientId}`].sort(),
      });
    }
    // alice's downstream tokens came from the chained exchange at the IdP.
    expect(fleet.demo.stats.chainedExchanges).toBeGreaterThan(chainedBefore);
  });

  it("an admin signs alice's session out through instance 1: refused on every instance, bob still served", async () => {
    expect(aliceToken).toBeDefined();
    const sid = String(decodeJwt(aliceToken).sid);
    const res = await dialFetch(fleet.instances[0]!.origin)(`${fleet.publicUrl}/admin/api/sessions/${encodeURIComponent(sid)}`, {
      method: 'DELETE',
      headers: { Authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(res.status, await res.text()).toBe(200);
    const since = performance.now();
    for (const inst of fleet.instances) {
      // A raw initialize with alice's token, until refused (the hang guard is not a speed assertion).
      for (;;) {
        const r = await dialFetch(inst.origin)(fleet.mcpUrl, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', Authorization: `Bearer ${aliceToken}` },
          body: JSON.stringify({
            jsonrpc: '2.0',
            id: 1,
            method: 'initialize',
            params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: CLIENT_INFO },
          }),
        });
        await r.body?.cancel();
        if (r.status === 401) break;
        expect(r.status, `${inst.name}: neither served nor refused`).toBe(200);
        if (performance.now() - since > REFUSAL_TIMEOUT_MS) throw new Error(`${inst.name}: alice still served ${REFUSAL_TIMEOUT_MS} ms after the sign-out`);
      }
      expect((await callOn(inst, bobToken, '2026-12-08')).actingFor?.sub, inst.name).toBe('u-bob');
    }
  });
});
