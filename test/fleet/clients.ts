import {
  Client as ClientV2,
  StreamableHTTPClientTransport as TransportV2,
  UnauthorizedError as UnauthorizedV2,
  type OAuthClientProvider as ProviderV2,
} from '@modelcontextprotocol/client';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { connect, connectWithOAuth, DanceProvider, LoopbackRedirect } from '../server/http/oauth-client.js';

/**
 * The two MCP clients of the fleet tests, each signed in once by the real OAuth dance (IdP login
 * form, consent page, loopback redirect) through the balancer:
 * - 2025-11-25: SDK v1 `Client` + StreamableHTTPClientTransport with its OAuthClientProvider;
 * - 2026-07-28: SDK v2 `Client` pinned to 2026-07-28 (no fallback to 2025), same provider shape.
 */

export const ERA_2025 = '2025-11-25';
export const ERA_2026 = '2026-07-28';
export type Era = typeof ERA_2025 | typeof ERA_2026;

export interface FleetClient {
  era: Era;
  provider: DanceProvider;
  /** tools/call; resolves to the result (isError included), rejects on a transport or protocol error. */
  call(name: string, args?: Record<string, unknown>): Promise<CallToolResult>;
  /** A client of the same user and agent that reaches one instance directly (bypassing the balancer). */
  direct(fetchFn: typeof fetch, mcpUrl: string): Promise<Pick<FleetClient, 'call' | 'close'>>;
  close(): Promise<void>;
}

export interface SignInOptions {
  mcpUrl: string;
  redirect: LoopbackRedirect;
  username: string;
  password: string;
  clientName: string;
}

export async function signInV1(o: SignInOptions): Promise<FleetClient> {
  const provider = new DanceProvider({ redirect: o.redirect, clientName: o.clientName, username: o.username, password: o.password });
  const { client } = await connectWithOAuth(o.mcpUrl, provider, fetch);
  return {
    era: ERA_2025,
    provider,
    call: async (name, args = {}) => (await client.callTool({ name, arguments: args })) as CallToolResult,
    async direct(fetchFn, mcpUrl) {
      const c = await connect(mcpUrl, provider, fetchFn);
      return { call: async (name, args = {}) => (await c.client.callTool({ name, arguments: args })) as CallToolResult, close: () => c.client.close() };
    },
    close: () => client.close(),
  };
}

function newV2Client(): ClientV2 {
  return new ClientV2({ name: 'fleet-client-2026', version: '1.0.0' }, { versionNegotiation: { mode: { pin: ERA_2026 } } });
}

export async function signInV2(o: SignInOptions): Promise<FleetClient> {
  const provider = new DanceProvider({ redirect: o.redirect, clientName: o.clientName, username: o.username, password: o.password });
  // The v1 provider class has the v2 interface's shape (v2 adds optional members only).
  const authProvider = provider as unknown as ProviderV2;
  const first = new TransportV2(new URL(o.mcpUrl), { authProvider });
  let client = newV2Client();
  try {
    await client.connect(first);
  } catch (e) {
    if (!(e instanceof UnauthorizedV2)) throw e;
    const r = o.redirect.received.at(-1);
    if (!r?.code) throw new Error('2026 client: no authorization code reached the redirect URI', { cause: e });
    // The whole callback query: the SDK checks `iss` (RFC 9207) itself.
    await first.finishAuth(new URLSearchParams({ code: r.code, ...(r.iss ? { iss: r.iss } : {}), ...(r.state ? { state: r.state } : {}) }));
    await first.close();
    client = newV2Client();
    await client.connect(new TransportV2(new URL(o.mcpUrl), { authProvider }));
  }
  const era = client.getProtocolEra();
  if (era !== 'modern') throw new Error(`2026 client connected on the ${String(era)} era`);
  const callWith =
    (c: ClientV2) =>
    async (name: string, args: Record<string, unknown> = {}) =>
      (await c.callTool({ name, arguments: args })) as CallToolResult;
  return {
    era: ERA_2026,
    provider,
    call: callWith(client),
    async direct(fetchFn, mcpUrl) {
      const c = newV2Client();
      await c.connect(new TransportV2(new URL(mcpUrl), { authProvider, fetch: fetchFn }));
      return { call: callWith(c), close: () => c.close() };
    },
    close: () => client.close(),
  };
}

export function resultText(r: CallToolResult): string {
  return r.content.map((c) => (c.type === 'text' ? c.text : '')).join('\n');
}
