import { join } from 'node:path';
import { auth } from '@modelcontextprotocol/sdk/client/auth.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyAuditDir } from '../../../src/audit/index.js';
import { openStore } from '../../../src/store/index.js';
import { startEnv, text, type Env } from '../../../tools/testkit/env.js';
import { ENCRYPTION_KEY } from './harness.js';
import { connect, connectWithOAuth, DanceProvider, jwtClaims, LoopbackRedirect, recordingFetch } from './oauth-client.js';
import { createTestDatabase, ENGINES, freePort, startServedGateway, writeServeConfig, type ServedGateway, type TestDatabase } from './served-gateway.js';

/**
 * A restart of `xaa-gateway serve` keeps everyone signed in: the process stops completely and a new
 * one starts on the same config, data and port (publicUrl, the tokens' issuer, is unchanged). The
 * access token issued before still verifies (signing key in the store), the refresh token still
 * refreshes, the client registration and the user's consent are still there, and the user's IdP
 * session (refresh token encrypted at rest) still lets tool calls mint downstream tokens.
 */

const ALICE = { username: 'alice', password: 'alice-demo-pass', sub: 'u-alice', email: 'alice@acme.example' };
const CALL = { name: 'calendar_free_slots', arguments: { date: '2026-12-02' } };
const AGENT_NAME = 'Restart Agent (DCR)';

async function callActingFor(client: Awaited<ReturnType<typeof connect>>['client']): Promise<unknown> {
  const result = (await client.callTool(CALL)) as CallToolResult;
  expect(result.isError ?? false, text(result)).toBe(false);
  return (JSON.parse(text(result)) as { actingFor?: unknown }).actingFor;
}

for (const engine of ENGINES) {
  describe.skipIf(engine.skip)(`restart on the ${engine.name} store`, () => {
    let env: Env;
    let db: TestDatabase | undefined;
    let redirect: LoopbackRedirect;
    let gw: ServedGateway | undefined;
    let port: number;
    const openTestStore = () => openStore({ dataDir: join(env.dir, 'store'), encryptionKey: ENCRYPTION_KEY, ...(db ? { databaseUrl: db.url } : {}) });

    beforeAll(async () => {
      env = await startEnv();
      if (engine.kind === 'postgres') db = await createTestDatabase();
      port = await freePort();
      writeServeConfig(env, port);
      redirect = await LoopbackRedirect.start();
    });

    afterAll(async () => {
      await gw?.stop();
      await redirect?.close();
      await db?.drop();
      await env?.close();
    });

    it('the old access token, the refresh token, the registration, the consent and the IdP session survive', async () => {
      const alice = { sub: ALICE.sub, email: ALICE.email };
      gw = await startServedGateway(env, { port, ...(db ? { databaseUrl: db.url } : {}) });
      const origin = gw.origin;
      const provider = new DanceProvider({ redirect, clientName: AGENT_NAME, username: ALICE.username, password: ALICE.password });
      const { fetch, log } = recordingFetch();
      const first = await connectWithOAuth(gw.mcpUrl, provider, fetch);
      expect(first.signedIn).toBe(true);
      expect(await callActingFor(first.client)).toEqual(alice);
      await first.client.close();
      const issued = provider.tokens()!;
      const clientId = String(provider.clientInformation()!.client_id);
      const sid = jwtClaims(issued.access_token).sid as string;

      // Stop the gateway completely: the process exits.
      expect(await gw.stop()).toBe(0);
      gw = undefined;
      expect((await globalThis.fetch(`${origin}/healthz`).catch((e: Error) => e)) instanceof Error).toBe(true);

      // What the store now holds; and the held ID token is made to look expired, so the next call
      // must renew it with the IdP refresh token the store keeps (encrypted at rest).
      let store = await openTestStore();
      try {
        const session = (await store.getUserSession(sid))!;
        expect(session).toMatchObject({ iss: env.demo.urls.idp, sub: ALICE.sub, email: ALICE.email });
        expect(session.idpRefreshToken).toBeTruthy();
        expect(await store.getClient(clientId)).toMatchObject({ source: 'dynamic', clientName: AGENT_NAME, redirectUris: [redirect.url] });
        // The client registered the refresh_token grant, so the user also allowed lasting access (offline_access).
        expect(await store.getConsent(session.iss, ALICE.sub, clientId)).toMatchObject({ scopes: ['mcp:tools', 'offline_access'] });
        await store.updateUserSessionTokens(sid, { idToken: session.idToken, idTokenExpiresAt: Date.now() - 1000 });
      } finally {
        await store.close();
      }

      gw = await startServedGateway(env, { port, ...(db ? { databaseUrl: db.url } : {}) });
      expect(gw.origin).toBe(origin);

      // 1. The access token issued before the restart still works (no 401, no refresh), and the tool
      //    call mints a new downstream token (the token cache was memory) from alice's IdP session.
      const exchanges = env.demo.stats.tokenExchanges;
      let mark = log.length;
      const second = await connect(gw.mcpUrl, provider, fetch);
      expect(await callActingFor(second.client)).toEqual(alice);
      await second.client.close();
      expect(provider.tokens()!.access_token).toBe(issued.access_token);
      expect(log.slice(mark).filter((e) => e.status === 401 || e.path !== '/mcp')).toEqual([]);
      expect(env.demo.stats.tokenExchanges).toBe(exchanges + 1);

      // 2. The refresh token still refreshes (auth() with a held refresh token refreshes), rotated.
      mark = log.length;
      expect(await auth(provider, { serverUrl: gw.mcpUrl, fetchFn: fetch })).toBe('AUTHORIZED');
      expect(log.slice(mark)).toEqual([{ method: 'POST', path: '/token', status: 200, grantType: 'refresh_token' }]);
      const refreshed = provider.tokens()!;
      expect(refreshed.access_token).not.toBe(issued.access_token);
      expect(refreshed.refresh_token).not.toBe(issued.refresh_token);
      expect(jwtClaims(refreshed.access_token)).toMatchObject({ sub: ALICE.sub, client_id: clientId, sid });

      // 3. Registration and consent persisted: a new authorization of the same client for alice goes
      //    through the IdP's login page and straight back with a code, without asking consent again.
      provider.invalidateCredentials('tokens');
      expect(await auth(provider, { serverUrl: gw.mcpUrl, fetchFn: fetch })).toBe('REDIRECT');
      expect(provider.signIns.map((s) => s.pages)).toEqual([['idp-login', 'consent'], ['idp-login']]);
      expect(await auth(provider, { serverUrl: gw.mcpUrl, authorizationCode: provider.lastCode(), fetchFn: fetch })).toBe('AUTHORIZED');
      expect(log.filter((e) => e.path === '/register')).toEqual([{ method: 'POST', path: '/register', status: 201 }]);
      const third = await connect(gw.mcpUrl, provider, fetch);
      expect(await callActingFor(third.client)).toEqual(alice);
      await third.client.close();

      // The audit log continued one chain across the restart; every call names alice and the agent.
      const calls = async () => (await gw!.audit()).filter((r) => r.type === 'tool_call');
      await expect.poll(async () => (await calls()).length, { timeout: 5_000 }).toBe(6);
      const records = await calls();
      for (const r of records)
        expect(r).toMatchObject({ user: { sub: ALICE.sub, email: ALICE.email }, agent: { clientId, name: AGENT_NAME }, tool: CALL.name });
      const source = gw.auditSource();
      try {
        expect(await verifyAuditDir(source, { keys: await env.auditKeys() })).toMatchObject({ ok: true, chains: [{ count: expect.any(Number) }] });
      } finally {
        await source.close?.();
      }

      expect(await gw.stop()).toBe(0);
      gw = undefined;
      // The ID token was renewed with the persisted IdP refresh token during call 1.
      store = await openTestStore();
      try {
        expect((await store.getUserSession(sid))!.idTokenExpiresAt).toBeGreaterThan(Date.now());
      } finally {
        await store.close();
      }
    });
  });
}
