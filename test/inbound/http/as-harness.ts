import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAdaptorServer } from '@hono/node-server';
import type { Hono } from 'hono';
import { buildRuntimeConfig, ConfigStore, type GatewayConfigInput } from '../../../src/config/index.js';
import { defaultDeps, type Deps } from '../../../src/deps.js';
import { silentLogger } from '../../../src/log.js';
import type { SharedLimits } from '../../../src/inbound/http/as/rate-limit.js';
import { createAuthorizationServer } from '../../../src/inbound/http/as/index.js';
import { AccessTokenService } from '../../../src/inbound/http/tokens.js';
import { openStore, type Store } from '../../../src/store/index.js';
import { completeDemoLogin, DEMO_SECRETS_DIR, DEMO_USERS, demoConfig, startDemoEnterprise, type DemoEnterprise } from '../../../tools/demo/index.js';

/**
 * Test harness of the gateway's authorization server: the demo enterprise, a real PGlite store in a
 * temp dir, and the AS served by @hono/node-server on a loopback port (so publicUrl is loopback).
 */

export const CONFIDENTIAL_SECRET = 'conf-client-secret-0123456789abcdef';
export const PUBLIC_CLIENT = { clientId: 'claude-desktop', redirectUri: 'http://127.0.0.1:33418/callback', name: 'Claude (pre-registered)' };
export const CONFIDENTIAL_CLIENT = { clientId: 'acme-agent', redirectUri: 'https://agent.acme.example/oauth/callback', name: 'Acme Agent' };

type ServerInput = NonNullable<GatewayConfigInput['server']>;

export interface Shared {
  demo: DemoEnterprise;
  store: Store;
  dir: string;
  close(): Promise<void>;
}

export async function startShared(): Promise<Shared> {
  const demo = await startDemoEnterprise({ ports: 'random' });
  const dir = mkdtempSync(join(tmpdir(), 'xaa-as-'));
  const store = await openStore({ dataDir: join(dir, 'store'), encryptionKey: randomBytes(32).toString('base64') });
  return {
    demo,
    store,
    dir,
    async close() {
      await store.close();
      await demo.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface AsServer {
  origin: string;
  app: Hono;
  config: ConfigStore;
  tokens: AccessTokenService;
  close(): Promise<void>;
}

/** Loopback listener whose handler is set once the origin (and so publicUrl) is known; env carries the socket. */
async function listenLoopback(): Promise<{ origin: string; server: Server; setApp(app: Hono): void }> {
  let app: Hono | undefined;
  const server = createAdaptorServer({
    fetch: (req: Request, env: unknown) => (app ? app.fetch(req, env) : new Response('starting', { status: 503 })),
  }) as Server;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, setApp: (a) => (app = a) };
}

export async function startAs(
  shared: Shared,
  opts: { server?: Partial<ServerInput>; publicUrl?: string; name?: string; sharedLimits?: SharedLimits; deps?: Deps } = {},
): Promise<AsServer> {
  const deps = opts.deps ?? defaultDeps;
  const l = await listenLoopback();
  const publicUrl = opts.publicUrl ?? l.origin;
  const secretFile = join(shared.dir, 'conf-secret');
  writeFileSync(secretFile, CONFIDENTIAL_SECRET);
  const cfg = demoConfig(shared.demo.urls, { auditDir: join(shared.dir, 'audit'), secretsDir: DEMO_SECRETS_DIR });
  cfg.server = {
    publicUrl,
    encryptionKey: { env: 'XAA_AS_TEST_KEY' },
    dataDir: join(shared.dir, 'store'),
    clients: [
      { clientId: PUBLIC_CLIENT.clientId, clientName: PUBLIC_CLIENT.name, redirectUris: [PUBLIC_CLIENT.redirectUri] },
      {
        clientId: CONFIDENTIAL_CLIENT.clientId,
        clientName: CONFIDENTIAL_CLIENT.name,
        redirectUris: [CONFIDENTIAL_CLIENT.redirectUri],
        clientSecret: { file: secretFile },
      },
    ],
    ...opts.server,
  };
  const path = join(shared.dir, `${opts.name ?? 'as'}.mcp.config.json`);
  writeFileSync(path, JSON.stringify(cfg));
  const runtime = buildRuntimeConfig(cfg, path, 'v1', { ...process.env, XAA_AS_TEST_KEY: randomBytes(32).toString('base64') });
  const config = new ConfigStore(runtime);
  const issuer = publicUrl.replace(/\/$/, '');
  const tokens = new AccessTokenService({
    store: shared.store,
    deps,
    issuer,
    resource: `${issuer}/mcp`,
    ttlSeconds: () => runtime.config.server!.accessTokenTtlSeconds,
  });
  const app = createAuthorizationServer({
    config,
    store: shared.store,
    tokens,
    deps,
    logger: silentLogger,
    ...(opts.sharedLimits ? { sharedLimits: opts.sharedLimits } : {}),
  });
  l.setApp(app);
  return {
    origin: l.origin,
    app,
    config,
    tokens,
    close: () =>
      new Promise<void>((resolve) => {
        l.server.closeAllConnections();
        l.server.close(() => resolve());
      }),
  };
}

// ---------------------------------------------------------------------------------------------
// A browser: cookies by name, no automatic redirects.

export class Browser {
  readonly cookies = new Map<string, string>();
  readonly setCookieHeaders: string[] = [];

  async get(url: string | URL): Promise<Response> {
    return this.#send(url, { method: 'GET' });
  }

  async postForm(url: string | URL, form: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
    return this.#send(url, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(form) });
  }

  async #send(url: string | URL, init: RequestInit): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.cookies.size) headers.set('Cookie', [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '));
    const res = await fetch(url, { ...init, headers, redirect: 'manual' });
    for (const sc of res.headers.getSetCookie()) {
      this.setCookieHeaders.push(sc);
      const [pair] = sc.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq);
      const value = pair!.slice(eq + 1);
      if (/max-age=0/i.test(sc) || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return res;
  }
}

export function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

export interface AuthorizeParams {
  clientId: string;
  redirectUri: string;
  challenge?: string;
  state?: string;
  extra?: Record<string, string | undefined>;
}

export function authorizeUrl(as: { origin: string }, p: AuthorizeParams): string {
  const u = new URL('/authorize', as.origin);
  const params: Record<string, string | undefined> = {
    response_type: 'code',
    client_id: p.clientId,
    redirect_uri: p.redirectUri,
    code_challenge: p.challenge,
    code_challenge_method: 'S256',
    state: p.state ?? 'st-' + randomBytes(4).toString('hex'),
    resource: `${as.origin}/mcp`,
    scope: 'mcp:tools',
    ...p.extra,
  };
  for (const [k, v] of Object.entries(params)) if (v !== undefined) u.searchParams.set(k, v);
  return u.href;
}

export const password = (user: string) => DEMO_USERS.find((u) => u.username === user)!.password;

export type SignInOutcome = { kind: 'consent'; consentUrl: string; html: string; requestId: string; csrf: string } | { kind: 'redirect'; location: URL };

/** /authorize -> IdP login page -> gateway callback; stops at the consent page or the redirect to the client. */
export async function signIn(browser: Browser, as: { origin: string }, p: AuthorizeParams & { user?: string }): Promise<SignInOutcome> {
  const start = await browser.get(authorizeUrl(as, p));
  if (start.status !== 302) throw new Error(`/authorize answered ${start.status}: ${await start.text()}`);
  const idpUrl = start.headers.get('location')!;
  const callback = await completeDemoLogin(idpUrl, p.user ?? 'alice', password(p.user ?? 'alice'));
  const res = await browser.get(callback);
  const location = res.headers.get('location');
  if (res.status === 303 && location?.startsWith('/oauth/consent')) {
    const consentUrl = new URL(location, as.origin).href;
    const page = await browser.get(consentUrl);
    const html = await page.text();
    if (page.status !== 200) throw new Error(`consent page ${page.status}: ${html}`);
    return { kind: 'consent', consentUrl, html, requestId: hidden(html, 'request_id'), csrf: hidden(html, 'csrf') };
  }
  if (res.status === 302 && location) return { kind: 'redirect', location: new URL(location) };
  throw new Error(`callback answered ${res.status}: ${await res.text()}`);
}

export function hidden(html: string, name: string): string {
  const m = new RegExp(`<input type="hidden" name="${name}" value="([^"]*)"`).exec(html);
  if (!m) throw new Error(`no hidden ${name} in page`);
  return m[1]!;
}

export async function postToken(as: { origin: string }, form: Record<string, string>, headers: Record<string, string> = {}) {
  const res = await fetch(`${as.origin}/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(form),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: (text ? JSON.parse(text) : {}) as Record<string, any> };
}

export const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

// ---------------------------------------------------------------------------------------------
// A loopback server for Client ID Metadata Documents that counts every TCP connection.

export interface DocServer {
  origin: string;
  connections: number;
  requests: string[];
  set(path: string, res: { status?: number; body: string; headers?: Record<string, string> }): void;
  close(): Promise<void>;
}

export async function startDocServer(): Promise<DocServer> {
  const routes = new Map<string, { status?: number; body: string; headers?: Record<string, string> }>();
  const state = { connections: 0, requests: [] as string[] };
  const server = createServer((req, res) => {
    state.requests.push(req.url ?? '');
    const r = routes.get(req.url ?? '');
    if (!r) return void res.writeHead(404).end();
    res.writeHead(r.status ?? 200, { 'Content-Type': 'application/json', ...r.headers }).end(r.body);
  });
  server.on('connection', () => state.connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    get connections() {
      return state.connections;
    },
    requests: state.requests,
    set: (path, res) => routes.set(path, res),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The visible text of a page, entities decoded, whitespace collapsed. */
export function pageText(html: string): string {
  return html
    .replace(/<style[\s\S]*?<\/style>/g, '')
    .replace(/<[^>]+>/g, ' ')
    .replace(/&#(\d+);/g, (_, n: string) => String.fromCharCode(Number(n)))
    .replace(/&(amp|lt|gt|quot);/g, (_, e: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"' })[e]!)
    .replace(/\s+/g, ' ')
    .trim();
}
