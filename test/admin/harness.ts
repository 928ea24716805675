import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { createAdminRouter, type AdminRouter } from '../../src/admin/index.js';
import { openAuditLog, type FileAuditLog } from '../../src/audit/index.js';
import { ConfigStore, loadConfigFile, type GatewayConfigInput } from '../../src/config/index.js';
import { ControlService, SwitchSnapshot } from '../../src/control/index.js';
import { defaultDeps } from '../../src/deps.js';
import { createAuthorizationServer } from '../../src/inbound/http/as/index.js';
import { HttpIdentity } from '../../src/inbound/http/identity.js';
import { AccessTokenService } from '../../src/inbound/http/tokens.js';
import { silentLogger } from '../../src/log.js';
import { Gateway } from '../../src/gateway/index.js';
import { createScimReceiver, type ScimReceiver } from '../../src/scim/index.js';
import { createHttpApp, type HttpApp } from '../../src/server/http.js';
import { lookupUsersInStore } from '../../src/ssf/index.js';
import { openStore, type Store, type UserSession } from '../../src/store/index.js';
import { completeDemoLogin } from '../../tools/demo/index.js';
import { startEnv, type Env } from '../../tools/testkit/env.js';
import {
  AGENT_A,
  AGENT_B,
  ENCRYPTION_KEY,
  listenLoopback,
  openSession,
  post,
  rpcMessage,
  serverSection,
  signInSession,
  type Agent,
} from '../server/http/harness.js';

/**
 * The remote gateway as `serve` wires it (src/server/serve.ts), on loopback against the demo
 * enterprise, with what the admin surface adds: the kill-switch snapshot in the gateway's policy,
 * ControlService, the admin router at /admin, and a real hash-chained audit log on disk (so
 * `audit verify` can be run on what admin actions wrote). Reuses test/server/http/harness.ts.
 */

export const ADMIN_TOKEN_ENV = 'XAA_TEST_ADMIN_TOKEN';
export const ADMIN_TOKEN = randomBytes(32).toString('base64url');

export interface AdminHarness {
  env: Env;
  origin: string;
  mcpUrl: string;
  config: ConfigStore;
  store: Store;
  audit: FileAuditLog;
  gateway: Gateway;
  control: ControlService;
  admin: AdminRouter;
  /** The SCIM receiver at /scim/v2 (404 until the config has a `scim` section). */
  scim: ScimReceiver;
  http: HttpApp;
  signIn(user: string): Promise<UserSession>;
  token(session: UserSession, agent?: Agent): Promise<string>;
  /** The admin API with the admin token (or `token: null` for none, or another bearer). */
  api(method: string, path: string, opts?: { body?: unknown; ifMatch?: string; token?: string | null; headers?: Record<string, string> }): Promise<Response>;
  /** One tools/call over a fresh MCP session; the raw HTTP response when it is not 200. */
  call(token: string, name: string, args?: Record<string, unknown>): Promise<{ status: number; isError?: boolean; text: string }>;
  /** Browser admin sign-in (/admin/login -> IdP -> /admin/callback): the callback's response and the session cookie. */
  browserSignIn(user: string): Promise<{ callback: Response; cookie?: string }>;
  close(): Promise<void>;
}

export async function startAdminHarness(mutate?: (c: GatewayConfigInput) => void): Promise<AdminHarness> {
  process.env[ADMIN_TOKEN_ENV] = ADMIN_TOKEN;
  const deps = defaultDeps;
  const env = await startEnv();
  const listener = await listenLoopback();
  env.writeConfig((c) => {
    // "$schema" first, as in the committed config, so tests can check the API keeps it where it was.
    const rest = { ...c };
    for (const k of Object.keys(c)) delete (c as Record<string, unknown>)[k];
    Object.assign(c, { $schema: './mcp.config.schema.json', ...rest });
    c.server = serverSection(listener.origin, env.dir);
    c.admin = { tokens: [{ env: ADMIN_TOKEN_ENV }], group: 'gateway-admins' };
    mutate?.(c);
  });
  const config = new ConfigStore(loadConfigFile(env.configPath));
  config.watch(30);
  const store = await openStore({ dataDir: join(env.dir, 'store'), encryptionKey: ENCRYPTION_KEY });
  const tokens = new AccessTokenService({ store, deps, issuer: listener.origin, resource: `${listener.origin}/mcp`, ttlSeconds: () => 600 });
  const audit = await openAuditLog(config.current.auditDir, deps);
  const switches = new SwitchSnapshot();
  const gateway = new Gateway({ config, identity: new HttpIdentity({ store, config, deps }), audit, deps, logger: silentLogger, switches });
  const control = new ControlService({ store, snapshot: switches, broker: gateway.broker, config, audit, deps, logger: silentLogger });
  const admin = createAdminRouter({ config, store, control, audit, deps, logger: silentLogger, tokens });
  await control.start();
  const authorizationServer = createAuthorizationServer({ config, store, tokens, deps, logger: silentLogger });
  const scim = createScimReceiver({ config, store, control, audit, logger: silentLogger, now: deps.now, lookupUserByEmail: lookupUsersInStore(store) });
  const http = createHttpApp({ config, gateway, store, tokens, deps, logger: silentLogger, authorizationServer, admin: admin.app, scim });
  control.onSessionsRevoked(async (ids) => {
    for (const sid of ids) await http.sessions.closeWhere({ sid });
  });
  listener.setApp(http.app);
  for (const a of [AGENT_A, AGENT_B]) {
    await store.upsertClient({
      clientId: a.clientId,
      source: 'dynamic',
      clientName: a.clientName,
      redirectUris: ['http://127.0.0.1:1/callback'],
      tokenEndpointAuthMethod: 'none',
      metadata: {},
      createdAt: Date.now(),
    });
  }
  const origin = listener.origin;
  return {
    env,
    origin,
    mcpUrl: `${origin}/mcp`,
    config,
    store,
    audit,
    gateway,
    control,
    admin,
    scim,
    http,
    signIn: (user) => signInSession(env, store, user),
    async token(session, agent = AGENT_A) {
      return (await tokens.issue({ sub: session.sub, idp_iss: session.iss, client_id: agent.clientId, sid: session.id, scope: 'mcp:tools' })).token;
    },
    api(method, path, o = {}) {
      const bearer = o.token === undefined ? ADMIN_TOKEN : o.token;
      return fetch(`${origin}/admin/api${path}`, {
        method,
        headers: {
          ...(bearer !== null ? { Authorization: `Bearer ${bearer}` } : {}),
          ...(o.body !== undefined ? { 'Content-Type': 'application/json' } : {}),
          ...(o.ifMatch ? { 'If-Match': o.ifMatch } : {}),
          ...o.headers,
        },
        ...(o.body !== undefined ? { body: typeof o.body === 'string' ? o.body : JSON.stringify(o.body) } : {}),
      });
    },
    async call(token, name, args = {}) {
      let session;
      try {
        session = await openSession(`${origin}/mcp`, token);
      } catch (e) {
        const m = /initialize: (\d+)/.exec((e as Error).message);
        if (m) return { status: Number(m[1]), text: (e as Error).message };
        throw e;
      }
      const res = await post(`${origin}/mcp`, { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name, arguments: args } }, session.headers);
      if (res.status !== 200) return { status: res.status, text: await res.text() };
      const msg = await rpcMessage(res);
      await fetch(`${origin}/mcp`, { method: 'DELETE', headers: session.headers }).catch(() => {});
      const text = (msg.result?.content ?? []).map((c: { text?: string }) => c.text ?? '').join('\n') || JSON.stringify(msg.error ?? msg.result);
      return { status: 200, isError: Boolean(msg.result?.isError), text };
    },
    async browserSignIn(user) {
      const start = await fetch(`${origin}/admin/login?return_to=/admin/tools`, { redirect: 'manual' });
      const loginCookie = (start.headers.get('set-cookie') ?? '').split(';')[0]!;
      const callbackUrl = await completeDemoLogin(start.headers.get('location')!, user, `${user}-demo-pass`);
      const callback = await fetch(callbackUrl, { redirect: 'manual', headers: { Cookie: loginCookie } });
      const session = callback.headers.getSetCookie().find((c) => c.startsWith('xaa-admin=') && !c.includes('Max-Age=0'));
      return { callback, ...(session ? { cookie: session.split(';')[0]! } : {}) };
    },
    async close() {
      control.close();
      await control.idle();
      await http.close();
      await listener.close();
      config.close();
      await gateway.flush();
      await audit.close();
      await store.close().catch(() => {});
      await env.close();
    },
  };
}

export { AGENT_A, AGENT_B };
