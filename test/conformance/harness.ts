import { auth } from '@modelcontextprotocol/sdk/client/auth.js';
import { startAuthProxy, type AuthProxy } from '../../tools/conformance/auth-proxy.js';
import {
  GATEWAY_CLIENT_ID,
  startConformanceUpstream,
  UPSTREAM_CLIENT_SECRET_FILE,
  UPSTREAM_SCOPE,
  type ConformanceUpstream,
} from '../../tools/conformance/upstream-server.js';
import { startEnv, type Env } from '../../tools/testkit/env.js';
import { DanceProvider, LoopbackRedirect } from '../server/http/oauth-client.js';
import { freePort, startServedGateway, writeServeConfig } from '../server/http/served-gateway.js';

/**
 * The gateway as the conformance suite meets it: the demo enterprise, the conformance upstream
 * (tools/conformance/upstream-server.ts) configured as the gateway's only source of tools with an
 * empty prefix, `xaa-gateway serve` as a child process on the embedded store, a demo user (alice)
 * signed in through the gateway's own authorization server as any MCP client would (RFC 9728 ->
 * RFC 8414 -> RFC 7591 -> IdP login -> consent -> code + PKCE -> token), and the auth-adding proxy
 * in front of /mcp holding that token.
 */

export interface ServedGateway {
  origin: string;
  mcpUrl: string;
  stderr(): string;
  /** SIGTERM and wait for the exit code. */
  stop(): Promise<number | null>;
}

/** `xaa-gateway serve` on the config, ready once it prints its "MCP endpoint" line. */
function serve(env: Env, port: number): Promise<ServedGateway> {
  return startServedGateway(env, { port });
}

export interface ConformanceGateway {
  env: Env;
  upstream: ConformanceUpstream;
  gateway: ServedGateway;
  proxy: AuthProxy;
  /** The URL the suite is given: the proxy's /mcp. */
  mcpUrl: string;
  close(): Promise<number | null>;
}

export async function startConformanceGateway(): Promise<ConformanceGateway> {
  const env = await startEnv();
  const cleanup: Array<() => Promise<unknown>> = [() => env.close()];
  const closeAll = async () => {
    for (const c of cleanup.reverse()) await c().catch(() => {});
  };
  try {
    const upstream = await startConformanceUpstream(env.demo);
    cleanup.push(() => upstream.close());
    const port = await freePort();
    writeServeConfig(env, port);
    env.writeConfig((c) => {
      c.server = { ...c.server!, port, publicUrl: `http://127.0.0.1:${port}` };
      c.tools = [];
      c.upstreams = [
        {
          name: 'conformance',
          url: upstream.url,
          prefix: '',
          scopes: [UPSTREAM_SCOPE],
          client: { clientId: GATEWAY_CLIENT_ID, auth: { method: 'client_secret_basic', clientSecret: { file: UPSTREAM_CLIENT_SECRET_FILE } } },
        },
      ];
    });
    const gateway = await serve(env, port);
    cleanup.push(() => gateway.stop());

    const redirect = await LoopbackRedirect.start();
    cleanup.push(() => redirect.close());
    const provider = new DanceProvider({ redirect, clientName: 'Conformance suite (via auth proxy)', username: 'alice', password: 'alice-demo-pass' });
    const first = await auth(provider, { serverUrl: gateway.mcpUrl });
    if (first !== 'REDIRECT') throw new Error(`expected a sign-in, got ${first}`);
    const second = await auth(provider, { serverUrl: gateway.mcpUrl, authorizationCode: provider.lastCode() });
    if (second !== 'AUTHORIZED') throw new Error(`the code was not exchanged: ${second}`);
    const token = provider.tokens()?.access_token;
    if (!token) throw new Error('no gateway access token');

    const proxy = await startAuthProxy(gateway.origin, () => token);
    cleanup.push(() => proxy.close());
    return {
      env,
      upstream,
      gateway,
      proxy,
      mcpUrl: `${proxy.origin}/mcp`,
      async close() {
        await proxy.close();
        await redirect.close();
        const exit = await gateway.stop();
        await upstream.close();
        await env.close();
        return exit;
      },
    };
  } catch (e) {
    await closeAll();
    throw e;
  }
}
