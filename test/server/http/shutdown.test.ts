import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openAuditLog } from '../../../src/audit/index.js';
import { ConfigStore, loadConfigFile } from '../../../src/config/index.js';
import { defaultDeps, type Deps } from '../../../src/deps.js';
import { HttpIdentity } from '../../../src/inbound/http/identity.js';
import { AccessTokenService } from '../../../src/inbound/http/tokens.js';
import { readCredentials } from '../../../src/inbound/credentials.js';
import { silentLogger } from '../../../src/log.js';
import { Gateway } from '../../../src/gateway/index.js';
import { serveHttp } from '../../../src/server/http.js';
import { openStore, type Store } from '../../../src/store/index.js';
import { readAuditRecords } from '../../../tools/testkit/audit-records.js';
import { startEnv, text, type Env } from '../../../tools/testkit/env.js';
import { ACCEPT, AGENT_A, ENCRYPTION_KEY, fetchAsHost, initializeBody, serverSection } from './harness.js';

/**
 * Graceful shutdown of `serveHttp` (SIGTERM path without the signal): new requests get 503 while a
 * slow tools/call finishes, then sessions, listener, audit log and store are closed. The gateway is
 * reached through a reverse proxy's public URL (publicUrl is not the listen address).
 */

const PUBLIC_URL = 'https://mcp.acme.test';
const PUBLIC_HOST = new URL(PUBLIC_URL).host;

/** Holds demo API calls to the calendar's free-slots until released. */
class Gate {
  started!: Promise<void>;
  #markStarted!: () => void;
  #release!: () => void;
  #released!: Promise<void>;
  constructor() {
    this.reset();
  }
  reset() {
    this.started = new Promise((r) => (this.#markStarted = r));
    this.#released = new Promise((r) => (this.#release = r));
  }
  release() {
    this.#release();
  }
  fetch: Deps['fetch'] = async (input, init) => {
    if (String(input instanceof Request ? input.url : input).includes('/api/free-slots')) {
      this.#markStarted();
      await this.#released;
    }
    return defaultDeps.fetch(input, init);
  };
}

let env: Env;
let session: Awaited<ReturnType<Store['createUserSession']>> | undefined;

beforeAll(async () => {
  env = await startEnv();
  env.writeConfig((c) => (c.server = serverSection(PUBLIC_URL, env.dir)));
});
afterAll(() => env?.close());

async function startServer(name: string, drainTimeoutMs: number) {
  const gate = new Gate();
  const deps: Deps = { ...defaultDeps, fetch: gate.fetch };
  const config = new ConfigStore(loadConfigFile(env.configPath));
  const auditDir = join(env.dir, `audit-${name}`);
  const audit = await openAuditLog(auditDir, deps);
  const store = await openStore({ dataDir: join(env.dir, `store-${name}`), encryptionKey: ENCRYPTION_KEY });
  const tokens = new AccessTokenService({ store, deps, issuer: PUBLIC_URL, resource: `${PUBLIC_URL}/mcp`, ttlSeconds: () => 600 });
  const gateway = new Gateway({ config, identity: new HttpIdentity({ store, config, deps }), audit, deps, logger: silentLogger });
  const server = await serveHttp({
    config,
    gateway,
    store,
    tokens,
    deps,
    logger: silentLogger,
    audit,
    host: '127.0.0.1',
    port: 0,
    handleSignals: false,
    drainTimeoutMs,
  });
  await store.upsertClient({
    clientId: AGENT_A.clientId,
    source: 'dynamic',
    clientName: AGENT_A.clientName,
    redirectUris: ['http://127.0.0.1:1/cb'],
    tokenEndpointAuthMethod: 'none',
    metadata: {},
    createdAt: Date.now(),
  });
  if (!session) {
    const creds = (await readCredentials(await env.signIn('alice', 'alice-demo-pass')))!;
    session = {
      iss: creds.issuer,
      sub: creds.sub,
      idToken: creds.idToken,
      idTokenExpiresAt: creds.idTokenExpiresAt,
      idpRefreshToken: creds.refreshToken,
    } as never;
  }
  const s = await store.createUserSession({
    iss: session!.iss,
    sub: session!.sub,
    idToken: session!.idToken,
    idTokenExpiresAt: session!.idTokenExpiresAt,
    ...(session!.idpRefreshToken ? { idpRefreshToken: session!.idpRefreshToken } : {}),
  });
  const token = (await tokens.issue({ sub: s.sub, idp_iss: s.iss, client_id: AGENT_A.clientId, sid: s.id, scope: 'mcp:tools' })).token;
  // As the reverse proxy forwards it: to the listen address, with the public Host (checked at /mcp).
  const transport = new StreamableHTTPClientTransport(new URL(`${server.listenUrl}/mcp`), {
    fetch: fetchAsHost(PUBLIC_HOST),
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
  });
  const client = new Client({ name: 'shutdown-test', version: '1' }, { capabilities: {} });
  await client.connect(transport);
  return { server, gate, client, token, store, auditDir };
}

describe('graceful shutdown', () => {
  let srv: Awaited<ReturnType<typeof startServer>>;
  beforeAll(async () => {
    srv = await startServer('a', 10_000);
  });

  it('an in-flight slow tools/call completes, new requests get 503, then everything closes', async () => {
    const { server, gate, client, token, store, auditDir } = srv;
    expect(server.mcpUrl).toBe(`${PUBLIC_URL}/mcp`);
    const call = client.callTool({ name: 'calendar_free_slots', arguments: { date: '2026-12-05' } }) as Promise<CallToolResult>;
    await gate.started; // the downstream request is out: the call is in flight
    const shutdown = server.shutdown('test');
    expect(server.http.draining).toBe(true);

    const refused = await fetchAsHost(PUBLIC_HOST)(`${server.listenUrl}/mcp`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: ACCEPT, Authorization: `Bearer ${token}` },
      body: JSON.stringify(initializeBody()),
    });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('connection')).toBe('close');
    expect(refused.headers.get('retry-after')).toBe('5');
    expect(await refused.json()).toEqual({
      jsonrpc: '2.0',
      error: { code: -32000, message: 'Service unavailable: the gateway is shutting down; retry shortly' },
      id: null,
    });
    const ready = await fetch(`${server.listenUrl}/readyz`);
    expect(ready.status).toBe(503);
    expect((await ready.json()).failing).toBe('draining');
    expect((await fetch(`${server.listenUrl}/healthz`)).status).toBe(200);

    let settled = false;
    void shutdown.then(() => (settled = true));
    await new Promise((r) => setTimeout(r, 100));
    expect(settled).toBe(false); // waiting for the call

    gate.release();
    const result = await call;
    expect(result.isError ?? false).toBe(false);
    expect(text(result)).not.toMatch(/error/i);
    await shutdown;
    await server.closed;

    await expect(fetch(`${server.listenUrl}/healthz`)).rejects.toThrow();
    await expect(store.isAccessTokenRevoked('x')).rejects.toThrow();
    // The outcome record was flushed before the audit log closed.
    const records = (await readAuditRecords(auditDir)).filter((r) => r.tool === 'calendar_free_slots');
    expect(records.map((r) => r.phase)).toEqual(['decision', 'outcome']);
    expect(records[1]).toMatchObject({ user: { sub: 'u-alice' }, agent: { clientId: AGENT_A.clientId }, outcome: { ok: true, status: 200 } });
    await client.close().catch(() => {});
  });
});

describe('graceful shutdown with a bound', () => {
  it('a call still running after drainTimeoutMs does not hold the shutdown', async () => {
    const { server, gate, client } = await startServer('b', 300);
    const call = (client.callTool({ name: 'calendar_free_slots', arguments: { date: '2026-12-06' } }) as Promise<CallToolResult>).catch((e: Error) => e);
    await gate.started;
    const t0 = Date.now();
    await server.shutdown('test');
    expect(Date.now() - t0).toBeLessThan(5_000);
    // The cut-off call's stream ended without a response; closing the client settles it.
    await client.close().catch(() => {});
    expect(await call).toBeInstanceOf(Error);
    gate.release();
  });
});
