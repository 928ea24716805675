import { Client, CrossAppAccessProvider, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { decodeJwt } from 'jose';
import { DEFAULT_GATEWAY_PORT } from './config.js';
import { enterpriseAgentIdJag } from './enterprise-agent.js';
import { DEFAULT_DEMO_PORTS } from './index.js';
import { ENTERPRISE_AGENT_CLIENT_ID } from './seed.js';
import { readDemoSecret } from './secrets.js';

/**
 * `npm run demo:agent -- [user] [tool] [arguments-json]`: an enterprise MCP client against the running
 * demo (`npm start`), signing in without a browser (MCP Enterprise-Managed Authorization, SEP-990).
 * It signs the user in at the demo IdP as `enterprise-agent` (the client's own SSO, headless here),
 * gets an ID-JAG for the gateway by RFC 8693 token exchange, and lets the SDK's CrossAppAccessProvider
 * redeem it at the gateway's /token (jwt-bearer) and call a tool. Each step is printed.
 */

export interface AgentRun {
  gatewayUrl: string;
  idpUrl: string;
  user: string;
  tool: string;
  args: Record<string, unknown>;
  log: (line: string) => void;
}

export async function runEnterpriseAgent(run: AgentRun): Promise<{ isError: boolean; text: string }> {
  const mcpUrl = new URL('/mcp', run.gatewayUrl);
  const provider = new CrossAppAccessProvider({
    assertion: async (ctx) => {
      run.log(`1. ${run.user} signs in at the IdP (${run.idpUrl}) as ${ENTERPRISE_AGENT_CLIENT_ID}; the client exchanges the ID token for an ID-JAG`);
      const { idJag } = await enterpriseAgentIdJag(
        { urls: { idp: run.idpUrl } },
        { username: run.user, audience: ctx.authorizationServerUrl, resource: ctx.resourceUrl, ...(ctx.scope ? { scope: ctx.scope } : {}) },
      );
      const claims = decodeJwt(idJag);
      run.log(
        `   ID-JAG: aud ${String(claims.aud)}, sub ${claims.sub}, client_id ${String(claims.client_id)}, expires in ${claims.exp! - Math.floor(Date.now() / 1000)} s`,
      );
      run.log(`2. The client redeems it at ${ctx.authorizationServerUrl}/token (jwt-bearer grant), no browser`);
      return idJag;
    },
    clientId: ENTERPRISE_AGENT_CLIENT_ID,
    clientSecret: readDemoSecret('enterprise-agent-gateway-secret'),
    expectedIssuer: run.gatewayUrl.replace(/\/+$/, ''),
  });
  const client = new Client({ name: 'demo-enterprise-agent', version: '1.0.0' }, { versionNegotiation: { mode: 'auto' } });
  await client.connect(new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider }));
  try {
    const tokens = provider.tokens();
    run.log(
      `   Gateway access token: ${tokens?.token_type}, expires in ${tokens?.expires_in} s (never after the ID-JAG), refresh token: ${tokens?.refresh_token ? 'yes' : 'none'}`,
    );
    const tools = (await client.listTools()).tools.map((t) => t.name);
    run.log(`3. ${tools.length} tools; calling ${run.tool} ${JSON.stringify(run.args)}: the gateway gets a downstream ID-JAG by the chained exchange`);
    const result = await client.callTool({ name: run.tool, arguments: run.args });
    const text = (result.content as Array<{ type: string; text?: string }>).map((c) => (c.type === 'text' ? c.text : `[${c.type}]`)).join('\n');
    run.log(result.isError ? `   refused: ${text}` : `   result: ${text}`);
    return { isError: result.isError === true, text };
  } finally {
    await client.close();
  }
}

if (process.argv[1] && import.meta.url === new URL(process.argv[1], 'file://').href) {
  const [user = 'alice', tool = 'calendar_free_slots', json] = process.argv.slice(2);
  const args = json ? (JSON.parse(json) as Record<string, unknown>) : tool === 'calendar_free_slots' ? { date: new Date().toISOString().slice(0, 10) } : {};
  runEnterpriseAgent({
    gatewayUrl: process.env.XAA_GATEWAY_URL ?? `http://127.0.0.1:${DEFAULT_GATEWAY_PORT}`,
    idpUrl: process.env.XAA_DEMO_IDP_URL ?? `http://127.0.0.1:${DEFAULT_DEMO_PORTS.idp}`,
    user,
    tool,
    args,
    log: (l) => console.log(l),
  }).then(
    (r) => process.exit(r.isError ? 1 : 0),
    (e: unknown) => {
      console.error(`demo agent failed: ${(e as Error).message}\n(is \`npm start\` running?)`);
      process.exit(1);
    },
  );
}
