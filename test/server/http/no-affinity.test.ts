import { randomBytes } from 'node:crypto';
import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from '@modelcontextprotocol/client';
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as TransportV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ToolListChangedNotificationSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigStore, loadConfigFile } from '../../../src/config/index.js';
import { defaultDeps } from '../../../src/deps.js';
import { HttpIdentity } from '../../../src/inbound/http/identity.js';
import { AccessTokenService } from '../../../src/inbound/http/tokens.js';
import { silentLogger } from '../../../src/log.js';
import { Gateway } from '../../../src/gateway/index.js';
import { createHttpApp, type HttpApp } from '../../../src/server/http.js';
import { openStore, type Store, type UserSession } from '../../../src/store/index.js';
import { startEnv, text, type Env } from '../../../tools/testkit/env.js';
import { AGENT_A, AGENT_B, ENCRYPTION_KEY, listenLoopback, MemorySink, post, serverSection, signInSession } from './harness.js';

/**
 * Two gateway instances on one PostgreSQL (a schema of this file's own), each on its own loopback
 * port, reached in plain round robin: a 2025 session opened on A is served by B, and carries on
 * after A is gone, without a new sign-in and without a 404; a 2026-07-28 client needs nothing shared.
 */

const databaseUrl = process.env.XAA_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const skip = process.env.XAA_SKIP_POSTGRES === '1';
const schema = `mcp_sessions_${randomBytes(6).toString('hex')}`;

interface Instance {
  name: string;
  origin: string;
  config: ConfigStore;
  store: Store;
  tokens: AccessTokenService;
  sink: MemorySink;
  gateway: Gateway;
  http: HttpApp;
  close(): Promise<void>;
}

let env: Env;
let a: Instance;
let b: Instance;
let alice: UserSession;
let bob: UserSession;
/** The instances the "balancer" sends to, in turn. */
let alive: Instance[];

async function startInstance(name: string, listener: Awaited<ReturnType<typeof listenLoopback>>): Promise<Instance> {
  const config = new ConfigStore(loadConfigFile(env.configPath));
  const publicUrl = config.current.config.server!.publicUrl;
  const store = await openStore({ databaseUrl, schema, dataDir: '/nonexistent-unused', encryptionKey: ENCRYPTION_KEY });
  const tokens = new AccessTokenService({ store, deps: defaultDeps, issuer: publicUrl, resource: `${publicUrl}/mcp`, ttlSeconds: () => 600 });
  const sink = new MemorySink();
  const gateway = new Gateway({
    config,
    identity: new HttpIdentity({ store, config, deps: defaultDeps }),
    audit: sink,
    deps: defaultDeps,
    logger: silentLogger,
  });
  const http = createHttpApp({ config, gateway, store, tokens, deps: defaultDeps, logger: silentLogger });
  listener.setApp(http.app);
  let closed = false;
  return {
    name,
    origin: listener.origin,
    config,
    store,
    tokens,
    sink,
    gateway,
    http,
    async close() {
      if (closed) return;
      closed = true;
      await http.close();
      await listener.close();
      config.close();
      await store.close();
    },
  };
}

/** Round robin over the live instances: each request goes to the next one (no affinity at all). */
let turn = 0;
const roundRobin: typeof fetch = (input, init) => {
  const url = new URL(input instanceof Request ? input.url : String(input));
  const target = alive[turn++ % alive.length]!;
  url.host = new URL(target.origin).host;
  return fetch(url, init);
};

beforeAll(async () => {
  if (skip) return;
  env = await startEnv();
  const [la, lb] = [await listenLoopback(), await listenLoopback()];
  // One publicUrl for the fleet (the balancer's address in production); both instances answer to its host.
  env.writeConfig((c) => (c.server = serverSection(la.origin, env.dir)));
  a = await startInstance('A', la);
  b = await startInstance('B', lb);
  alive = [a, b];
  for (const agent of [AGENT_A, AGENT_B]) {
    await a.store.upsertClient({
      clientId: agent.clientId,
      source: 'dynamic',
      clientName: agent.clientName,
      redirectUris: ['http://127.0.0.1:1/callback'],
      tokenEndpointAuthMethod: 'none',
      metadata: {},
      createdAt: Date.now(),
    });
  }
  alice = await signInSession(env, a.store, 'alice');
  bob = await signInSession(env, a.store, 'bob');
});

afterAll(async () => {
  if (skip) return;
  await a?.close();
  await b?.close();
  await env?.close();
  const c = new pg.Client({ connectionString: databaseUrl });
  await c.connect();
  await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await c.end();
});

const token = async (session: UserSession, agent = AGENT_A) =>
  (await a.tokens.issue({ sub: session.sub, idp_iss: session.iss, client_id: agent.clientId, sid: session.id, scope: 'mcp:tools' })).token;

describe.skipIf(skip)('2025 sessions need no affinity (PostgreSQL)', () => {
  it('a v1 SDK client in round robin: initialized on A, served by both, carries on on B after A is gone, notified on B', async () => {
    turn = 0;
    alive = [a, b];
    const transport = new TransportV1(new URL(`${a.origin}/mcp`), {
      fetch: roundRobin,
      requestInit: { headers: { Authorization: `Bearer ${await token(alice)}` } },
    });
    const client = new ClientV1({ name: 'round-robin-agent', version: '1.0.0' });
    let notified = 0;
    client.setNotificationHandler(ToolListChangedNotificationSchema, async () => void notified++);
    await client.connect(transport);
    try {
      const sessionId = transport.sessionId!;
      expect(sessionId).toMatch(/^[0-9a-f-]{36}$/);
      const call = async (i: number) => {
        const result = (await client.callTool({
          name: 'calendar_free_slots',
          arguments: { date: `2026-12-${String(10 + i).padStart(2, '0')}` },
        })) as CallToolResult;
        expect(result.isError ?? false, text(result)).toBe(false);
      };
      for (let i = 0; i < 6; i++) await call(i);
      await Promise.all([a.gateway.flush(), b.gateway.flush()]);
      // Calls went through both instances, each audited where it ran, under the session's user and agent.
      const decisions = (s: MemorySink) => s.records.filter((r) => r.phase === 'decision' && r.decision === 'allow');
      expect(decisions(a.sink).length).toBeGreaterThan(0);
      expect(decisions(b.sink).length).toBeGreaterThan(0);
      expect(decisions(a.sink).length + decisions(b.sink).length).toBe(6);
      for (const r of [...decisions(a.sink), ...decisions(b.sink)])
        expect(r).toMatchObject({ user: { sub: 'u-alice' }, agent: { clientId: AGENT_A.clientId, name: AGENT_A.clientName } });
      // Both instances know the session (B read it from the store once).
      expect(a.http.sessions.list().map((s) => s.id)).toContain(sessionId);
      expect(b.http.sessions.list().map((s) => s.id)).toContain(sessionId);

      // A dies. The client goes on with the same session and token: no 404, no new sign-in.
      alive = [b];
      await a.close();
      for (let i = 6; i < 9; i++) await call(i);
      expect(transport.sessionId).toBe(sessionId);
      expect((await client.listTools()).tools.map((t) => t.name)).toContain('calendar_free_slots');

      // Its GET stream is (re)opened on B, where a config change now reaches it.
      await expect.poll(() => b.http.sessions.list().find((s) => s.id === sessionId)?.streams, { timeout: 15_000 }).toBe(1);
      env.writeConfig((c) => {
        c.server = b.config.current.config.server as never;
        c.tools![0]!.description = 'changed on B';
      });
      b.config.reload();
      await expect.poll(() => notified, { timeout: 10_000 }).toBeGreaterThan(0);
    } finally {
      await client.close();
    }
  });

  it("a session id first seen by B with another user's token -> 404; its owner -> 200; DELETE on B ends it", async () => {
    const init = await post(
      `${b.origin}/mcp`,
      { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } },
      { Authorization: `Bearer ${await token(alice)}` },
    );
    expect(init.status).toBe(200);
    await init.text();
    const id = init.headers.get('mcp-session-id')!;
    // A fresh instance C on the same store has never seen it.
    const lc = await listenLoopback();
    const c = await startInstance('C', lc);
    try {
      const list = { jsonrpc: '2.0', id: 2, method: 'tools/list' };
      const as = async (session: UserSession, agent = AGENT_A) => ({
        'Mcp-Session-Id': id,
        'MCP-Protocol-Version': '2025-11-25',
        Authorization: `Bearer ${await token(session, agent)}`,
      });
      expect((await post(`${c.origin}/mcp`, list, await as(bob))).status).toBe(404);
      expect((await post(`${c.origin}/mcp`, list, await as(alice, AGENT_B))).status).toBe(404);
      expect((await post(`${c.origin}/mcp`, list, await as(alice))).status).toBe(200);
      const del = await fetch(`${c.origin}/mcp`, { method: 'DELETE', headers: await as(alice) });
      expect(del.status).toBe(200);
      expect((await post(`${c.origin}/mcp`, list, await as(alice))).status).toBe(404);
      // B learns it ended at its next sweep (it had the record cached); its owner is told why.
      await b.http.sessions.sweep();
      const onB = await post(`${b.origin}/mcp`, list, await as(alice));
      expect(onB.status).toBe(404);
      expect(await onB.json()).toEqual({
        jsonrpc: '2.0',
        id: null,
        error: { code: -32001, message: 'Session not found: deleted by the client (HTTP DELETE)' },
      });
      // Anyone else still learns nothing.
      const other = await post(`${b.origin}/mcp`, list, await as(bob));
      expect(await other.json()).toEqual({ jsonrpc: '2.0', id: null, error: { code: -32001, message: 'Session not found' } });
    } finally {
      await c.close();
    }
  });

  it('a 2026-07-28 v2 SDK client in round robin needs nothing shared', async () => {
    turn = 0;
    alive = [b];
    const lc = await listenLoopback();
    const c = await startInstance('C', lc);
    alive = [b, c];
    const client = new ClientV2({ name: 'modern-round-robin', version: '2.0.0' }, { versionNegotiation: { mode: 'auto' } });
    await client.connect(
      new TransportV2(new URL(`${b.origin}/mcp`), { fetch: roundRobin, requestInit: { headers: { Authorization: `Bearer ${await token(bob, AGENT_B)}` } } }),
    );
    try {
      expect(client.getProtocolEra()).toBe('modern');
      for (let i = 0; i < 4; i++) {
        const result = (await client.callTool({ name: 'calendar_free_slots', arguments: { date: '2026-12-20' } })) as CallToolResult;
        expect(result.isError ?? false, text(result)).toBe(false);
      }
      await Promise.all([b.gateway.flush(), c.gateway.flush()]);
      const served = (i: Instance) => i.sink.records.filter((r) => r.phase === 'decision' && r.user?.sub === 'u-bob').length;
      expect(served(b)).toBeGreaterThan(0);
      expect(served(c)).toBeGreaterThan(0);
    } finally {
      await client.close();
      await c.close();
    }
  });
});
