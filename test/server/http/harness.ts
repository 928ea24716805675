import { randomBytes } from 'node:crypto';
import { request as httpRequest, type Server } from 'node:http';
import { Readable } from 'node:stream';
import type { AddressInfo } from 'node:net';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createAdaptorServer } from '@hono/node-server';
import type { Hono } from 'hono';
import type { AuditEvent, AuditRecord, AuditSink } from '../../../src/audit/types.js';
import { ConfigStore, loadConfigFile, type GatewayConfigInput } from '../../../src/config/index.js';
import { defaultDeps, type Deps } from '../../../src/deps.js';
import { GatewayError } from '../../../src/errors.js';
import { createAuthorizationServer } from '../../../src/inbound/http/as/index.js';
import { HttpIdentity } from '../../../src/inbound/http/identity.js';
import { AccessTokenService } from '../../../src/inbound/http/tokens.js';
import { readCredentials } from '../../../src/inbound/credentials.js';
import { silentLogger } from '../../../src/log.js';
import { Gateway } from '../../../src/gateway/index.js';
import { createHttpApp, type HttpApp, type HttpAppOptions } from '../../../src/server/http.js';
import { openStore, type Store, type UserSession } from '../../../src/store/index.js';
import { startEnv, type Env } from '../../../tools/testkit/env.js';

/**
 * Harness of the remote gateway's HTTP surface: the demo enterprise (tools/testkit), a real PGlite
 * store in the env's temp dir, the gateway with HttpIdentity, the authorization server mounted at
 * the root, and the app served by @hono/node-server on a loopback port (publicUrl = that origin).
 */

export const ENCRYPTION_KEY = randomBytes(32).toString('base64');
export const ALLOWED_ORIGIN = 'https://inspector.example';
export const MAX_BODY = 64 * 1024;

/** Records what the gateway appends; `failing` makes appends reject (fail-closed paths). */
export class MemorySink implements AuditSink {
  records: AuditEvent[] = [];
  closed = false;
  async append(event: AuditEvent): Promise<AuditRecord> {
    if (this.closed) throw new GatewayError('audit_unavailable', 'audit sink closed');
    this.records.push(event);
    return { ...event, time: '', id: '', seq: this.records.length, prevHash: '', hash: '' };
  }
  async close() {
    this.closed = true;
  }
}

/** Loopback listener whose handler is set once the origin (and so publicUrl) is known. */
export async function listenLoopback(): Promise<{ origin: string; server: Server; setApp(app: Hono): void; close(): Promise<void> }> {
  let app: Hono | undefined;
  const server = createAdaptorServer({
    fetch: (req: Request, env: unknown) => (app ? app.fetch(req, env) : new Response('starting', { status: 503 })),
  }) as Server;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    server,
    setApp: (a) => (app = a),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A demo user signs in at the IdP (password form), and the gateway keeps that sign-in as a user session. */
export async function signInSession(env: Env, store: Store, user: string): Promise<UserSession> {
  const creds = (await readCredentials(await env.signIn(user, `${user}-demo-pass`)))!;
  return store.createUserSession({
    iss: creds.issuer,
    sub: creds.sub,
    ...(creds.email ? { email: creds.email } : {}),
    ...(creds.name ? { name: creds.name } : {}),
    idToken: creds.idToken,
    idTokenExpiresAt: creds.idTokenExpiresAt,
    ...(creds.refreshToken ? { idpRefreshToken: creds.refreshToken } : {}),
  });
}

/** The store key as a secret file next to the config (secrets are references, never literals). */
export function keyFile(dir: string): string {
  const path = join(dir, 'encryption.key');
  writeFileSync(path, ENCRYPTION_KEY);
  return path;
}

export function serverSection(publicUrl: string, dir: string): NonNullable<GatewayConfigInput['server']> {
  return {
    publicUrl,
    encryptionKey: { file: keyFile(dir) },
    dataDir: join(dir, 'store'),
    allowedOrigins: [ALLOWED_ORIGIN],
    maxBodyBytes: MAX_BODY,
  };
}

export interface Agent {
  clientId: string;
  clientName: string;
}
export const AGENT_A: Agent = { clientId: 'agent-a', clientName: 'Agent A (test)' };
export const AGENT_B: Agent = { clientId: 'agent-b', clientName: 'Agent B (test)' };

export interface Harness {
  env: Env;
  origin: string;
  mcpUrl: string;
  resourceMetadataUrl: string;
  config: ConfigStore;
  store: Store;
  tokens: AccessTokenService;
  sink: MemorySink;
  gateway: Gateway;
  http: HttpApp;
  deps: Deps;
  /** A demo user's real IdP sign-in, held as a gateway UserSession. */
  signIn(user: string): Promise<UserSession>;
  token(session: UserSession, agent?: Agent, scope?: string): Promise<string>;
  /** Another app over the same store and gateway (for readiness / idle tests), driven with app.fetch. */
  extraApp(patch: Partial<HttpAppOptions>): HttpApp;
  close(): Promise<void>;
}

export async function startHarness(
  opts: { deps?: Deps; server?: (origin: string, dir: string) => Partial<NonNullable<GatewayConfigInput['server']>> } = {},
): Promise<Harness> {
  const env = await startEnv();
  const listener = await listenLoopback();
  const deps = opts.deps ?? defaultDeps;
  env.writeConfig((c) => (c.server = { ...serverSection(listener.origin, env.dir), ...opts.server?.(listener.origin, env.dir) }));
  const config = new ConfigStore(loadConfigFile(env.configPath));
  const store = await openStore({ dataDir: join(env.dir, 'store'), encryptionKey: ENCRYPTION_KEY });
  const tokens = new AccessTokenService({ store, deps, issuer: listener.origin, resource: `${listener.origin}/mcp`, ttlSeconds: () => 600 });
  const sink = new MemorySink();
  mkdirSync(config.current.auditDir, { recursive: true }); // as openAuditLog would
  const gateway = new Gateway({ config, identity: new HttpIdentity({ store, config, deps }), audit: sink, deps, logger: silentLogger });
  const authorizationServer = createAuthorizationServer({ config, store, tokens, deps, logger: silentLogger });
  const base: HttpAppOptions = { config, gateway, store, tokens, deps, logger: silentLogger, authorizationServer };
  const http = createHttpApp(base);
  listener.setApp(http.app);
  const extras: HttpApp[] = [];
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
  return {
    env,
    origin: listener.origin,
    mcpUrl: `${listener.origin}/mcp`,
    resourceMetadataUrl: `${listener.origin}/.well-known/oauth-protected-resource/mcp`,
    config,
    store,
    tokens,
    sink,
    gateway,
    http,
    deps,
    signIn: (user) => signInSession(env, store, user),
    async token(session, agent = AGENT_A, scope = 'mcp:tools') {
      return (await tokens.issue({ sub: session.sub, idp_iss: session.iss, client_id: agent.clientId, sid: session.id, scope })).token;
    },
    extraApp(patch) {
      const app = createHttpApp({ ...base, authorizationServer: undefined, ...patch });
      extras.push(app);
      return app;
    },
    async close() {
      for (const e of extras) await e.close();
      await http.close();
      await listener.close();
      config.close();
      await store.close().catch(() => {});
      await env.close();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Raw Streamable HTTP (what the SDK client does, spelled out so each header is under test).

export const ACCEPT = 'application/json, text/event-stream';

export function initializeBody(protocolVersion = '2025-11-25', id = 1) {
  return { jsonrpc: '2.0', id, method: 'initialize', params: { protocolVersion, capabilities: {}, clientInfo: { name: 'raw-test-client', version: '0.0.1' } } };
}

export async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: ACCEPT, ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** The first JSON-RPC message of a response, whether sent as JSON or as an SSE stream. */
export async function rpcMessage(res: Response): Promise<any> {
  const text = await res.text();
  if ((res.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
    const data = text
      .split('\n')
      .filter((l) => l.startsWith('data:'))
      .map((l) => l.slice(5).trim())
      .find((d) => d.length > 0);
    return data === undefined ? undefined : JSON.parse(data);
  }
  return text ? JSON.parse(text) : undefined;
}

/** initialize + notifications/initialized; returns the session id and the negotiated version. */
export async function openSession(
  mcpUrl: string,
  token: string,
  protocolVersion = '2025-11-25',
): Promise<{ sessionId: string; result: any; headers: Record<string, string> }> {
  const res = await post(mcpUrl, initializeBody(protocolVersion), { Authorization: `Bearer ${token}` });
  if (res.status !== 200) throw new Error(`initialize: ${res.status} ${await res.text()}`);
  const sessionId = res.headers.get('mcp-session-id')!;
  const msg = await rpcMessage(res);
  const headers = { Authorization: `Bearer ${token}`, 'Mcp-Session-Id': sessionId, 'MCP-Protocol-Version': msg.result.protocolVersion };
  const ack = await post(mcpUrl, { jsonrpc: '2.0', method: 'notifications/initialized' }, headers);
  if (ack.status !== 202) throw new Error(`initialized: ${ack.status}`);
  return { sessionId, result: msg.result, headers };
}

/**
 * fetch as a reverse proxy forwards a request: to the listen address, with the public `Host` (the
 * gateway checks Host at /mcp). fetch itself cannot set Host (a forbidden header), so node:http does.
 */
export function fetchAsHost(host: string): typeof fetch {
  return (input, init) =>
    new Promise<Response>((resolve, reject) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      const headers: Record<string, string> = {};
      new Headers(init?.headers).forEach((v, k) => (headers[k] = v));
      headers.host = host;
      const req = httpRequest(url, { method: init?.method ?? 'GET', headers, ...(init?.signal ? { signal: init.signal } : {}) }, (res) => {
        const out = new Headers();
        for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) out.set(k, Array.isArray(v) ? v.join(', ') : v);
        const status = res.statusCode ?? 500;
        const empty = [101, 204, 205, 304].includes(status);
        resolve(new Response(empty ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>), { status, headers: out }));
      });
      req.on('error', reject);
      req.end(typeof init?.body === 'string' ? init.body : undefined);
    });
}
