import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { UnauthorizedError, type OAuthClientProvider, type OAuthDiscoveryState } from '@modelcontextprotocol/sdk/client/auth.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js';
import { CIMD_CA_FILE, CIMD_KEY_FILE } from './served-gateway.js';

/**
 * A real MCP client signing in to the remote gateway: the SDK's Client, StreamableHTTPClientTransport
 * and auth() flow, with an OAuthClientProvider whose "browser" is driven over HTTP (the demo IdP's
 * login form, the gateway's consent page) and whose redirect_uri is a loopback listener (RFC 8252).
 */

// ---------------------------------------------------------------------------------------------
// The browser: cookies per host (as browsers do, ports share them), redirects followed by hand.

export type Page = 'idp-login' | 'consent';

export interface SignInResult {
  /** The pages a person would have seen, in order. */
  pages: Page[];
  /** Visible text of the consent page, when there was one. */
  consentText?: string;
  /** Every request made, as "METHOD url -> status". */
  trail: string[];
  /** Names of the cookies the browser still holds for 127.0.0.1 at the end. */
  cookiesLeft: string[];
}

export class Browser {
  readonly #jar = new Map<string, Map<string, string>>();
  readonly trail: string[] = [];

  async request(url: URL, init: { method?: string; form?: Record<string, string>; headers?: Record<string, string> } = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    const cookies = this.#jar.get(url.hostname);
    if (cookies?.size) headers.set('Cookie', [...cookies].map(([k, v]) => `${k}=${v}`).join('; '));
    let body: URLSearchParams | undefined;
    if (init.form) {
      headers.set('Content-Type', 'application/x-www-form-urlencoded');
      body = new URLSearchParams(init.form);
    }
    const method = init.method ?? (body ? 'POST' : 'GET');
    const res = await fetch(url, { method, headers, redirect: 'manual', ...(body ? { body } : {}) });
    this.trail.push(`${method} ${url.origin}${url.pathname} -> ${res.status}`);
    for (const sc of res.headers.getSetCookie()) {
      const [pair] = sc.split(';');
      const eq = pair!.indexOf('=');
      const [name, value] = [pair!.slice(0, eq).trim(), pair!.slice(eq + 1).trim()];
      const jar = this.#jar.get(url.hostname) ?? new Map<string, string>();
      this.#jar.set(url.hostname, jar);
      if (/;\s*max-age=0/i.test(sc) || value === '') jar.delete(name);
      else jar.set(name, value);
    }
    return res;
  }

  cookieNames(host = '127.0.0.1'): string[] {
    return [...(this.#jar.get(host)?.keys() ?? [])];
  }

  /**
   * Follows an authorization URL as a person would: signs in on the IdP's form, answers the consent
   * page, and stops once the browser is sent to `isClientRedirect` (which it then loads, so the
   * client's loopback listener receives the code).
   */
  async authorize(
    start: URL,
    opts: { username: string; password: string; decision?: 'allow' | 'deny'; isClientRedirect(u: URL): boolean },
  ): Promise<SignInResult> {
    const result: SignInResult = { pages: [], trail: this.trail, cookiesLeft: [] };
    let url = start;
    let res = await this.request(url);
    for (let hop = 0; hop < 20; hop++) {
      if (res.status >= 300 && res.status < 400) {
        const next = new URL(res.headers.get('location') ?? '', url);
        await res.body?.cancel();
        url = next;
        res = await this.request(url);
        if (opts.isClientRedirect(next)) {
          if (res.status !== 200) throw new Error(`the client's redirect URI answered ${res.status}`);
          await res.body?.cancel();
          result.cookiesLeft = this.cookieNames();
          return result;
        }
        continue;
      }
      const html = await res.text();
      if (res.status !== 200) throw new Error(`${url.href} answered ${res.status}: ${pageText(html).slice(0, 400)}`);
      const form = parseForm(html, url);
      if (!form) throw new Error(`${url.href}: a page without a form: ${pageText(html).slice(0, 400)}`);
      if (form.fields.includes('password')) {
        result.pages.push('idp-login');
        res = await this.request(form.action, { form: { ...form.hidden, username: opts.username, password: opts.password } });
      } else if (form.buttons.decision) {
        result.pages.push('consent');
        result.consentText = pageText(html);
        // A browser sends the page's Origin with a form POST.
        res = await this.request(form.action, { form: { ...form.hidden, decision: opts.decision ?? 'allow' }, headers: { Origin: url.origin } });
      } else {
        throw new Error(`${url.href}: unexpected form (${form.fields.join(', ')})`);
      }
      url = form.action;
    }
    throw new Error('too many redirects');
  }
}

interface ParsedForm {
  action: URL;
  hidden: Record<string, string>;
  fields: string[];
  buttons: Record<string, string[]>;
}

function parseForm(html: string, base: URL): ParsedForm | undefined {
  const m = /<form\b([^>]*)>([\s\S]*?)<\/form>/i.exec(html);
  if (!m) return undefined;
  const attr = (tag: string, name: string) => {
    const a = new RegExp(`\\b${name}="([^"]*)"`, 'i').exec(tag);
    return a ? unescapeHtml(a[1]!) : undefined;
  };
  const form: ParsedForm = { action: new URL(attr(m[1]!, 'action') ?? base.href, base), hidden: {}, fields: [], buttons: {} };
  for (const [tag] of m[2]!.matchAll(/<input\b[^>]*>/gi)) {
    const name = attr(tag, 'name');
    if (!name) continue;
    form.fields.push(name);
    if (attr(tag, 'type') === 'hidden') form.hidden[name] = attr(tag, 'value') ?? '';
  }
  for (const [tag] of m[2]!.matchAll(/<button\b[^>]*>/gi)) {
    const name = attr(tag, 'name');
    if (name) (form.buttons[name] ??= []).push(attr(tag, 'value') ?? '');
  }
  return form;
}

function unescapeHtml(s: string): string {
  return s
    .replace(/&#x([0-9a-f]+);/gi, (_, h: string) => String.fromCodePoint(parseInt(h, 16)))
    .replace(/&#(\d+);/g, (_, d: string) => String.fromCodePoint(Number(d)))
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

/** The visible text of a page, entities decoded, whitespace collapsed. */
export function pageText(html: string): string {
  return unescapeHtml(html.replace(/<style[\s\S]*?<\/style>/gi, '').replace(/<[^>]+>/g, ' '))
    .replace(/\s+/g, ' ')
    .trim();
}

// ---------------------------------------------------------------------------------------------
// The client's loopback redirect URI (RFC 8252 §7.3): receives the authorization response.

export interface AuthorizationResponse {
  code?: string;
  state?: string;
  iss?: string;
  error?: string;
}

export class LoopbackRedirect {
  readonly received: AuthorizationResponse[] = [];
  private constructor(
    readonly server: Server,
    readonly url: string,
  ) {}

  static async start(): Promise<LoopbackRedirect> {
    const server = createHttpServer((req, res) => {
      const u = new URL(req.url ?? '/', 'http://127.0.0.1');
      if (u.pathname !== '/callback') return void res.writeHead(404).end();
      const p = u.searchParams;
      self.received.push({
        ...(p.get('code') ? { code: p.get('code')! } : {}),
        ...(p.get('state') ? { state: p.get('state')! } : {}),
        ...(p.get('iss') ? { iss: p.get('iss')! } : {}),
        ...(p.get('error') ? { error: p.get('error')! } : {}),
      });
      res.writeHead(200, { 'Content-Type': 'text/plain' }).end('Signed in. You can close this window.');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const self = new LoopbackRedirect(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}/callback`);
    return self;
  }

  isMine = (u: URL): boolean => `${u.origin}${u.pathname}` === this.url;

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.closeAllConnections();
      this.server.close(() => resolve());
    });
  }
}

// ---------------------------------------------------------------------------------------------
// A Client ID Metadata Document host: https on loopback (the SDK only uses https clientMetadataUrls),
// with a self-signed certificate the gateway child process trusts (NODE_EXTRA_CA_CERTS).

export interface CimdHost {
  clientId: string;
  /** Request paths the host has served (the gateway's fetches). */
  requests: string[];
  close(): Promise<void>;
}

export async function startCimdHost(document: (clientId: string) => Record<string, unknown>): Promise<CimdHost> {
  const requests: string[] = [];
  let body = '';
  const server = createHttpsServer({ key: readFileSync(CIMD_KEY_FILE), cert: readFileSync(CIMD_CA_FILE) }, (req, res) => {
    requests.push(req.url ?? '');
    if (req.url !== '/agents/dance/client.json') return void res.writeHead(404).end();
    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'max-age=3600' }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const clientId = `https://127.0.0.1:${(server.address() as AddressInfo).port}/agents/dance/client.json`;
  body = JSON.stringify(document(clientId));
  return {
    clientId,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// ---------------------------------------------------------------------------------------------
// The OAuthClientProvider: an in-memory client whose redirectToAuthorization drives the Browser.

export interface DanceProviderOptions {
  redirect: LoopbackRedirect;
  clientName: string;
  /** Registration by Client ID Metadata Document instead of RFC 7591. */
  clientMetadataUrl?: string;
  username: string;
  password: string;
}

export class DanceProvider implements OAuthClientProvider {
  readonly clientMetadataUrl?: string;
  #client?: OAuthClientInformationMixed;
  #tokens?: OAuthTokens;
  #verifier?: string;
  #discovery?: OAuthDiscoveryState;
  #state?: string;
  /** Each sign-in the SDK asked for, as the browser went through it. */
  readonly signIns: SignInResult[] = [];
  /** Every token set the SDK saved, in order. */
  readonly savedTokens: OAuthTokens[] = [];

  constructor(readonly opts: DanceProviderOptions) {
    if (opts.clientMetadataUrl) this.clientMetadataUrl = opts.clientMetadataUrl;
  }

  get redirectUrl(): string {
    return this.opts.redirect.url;
  }

  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: this.opts.clientName,
      redirect_uris: [this.opts.redirect.url],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }

  state(): string {
    this.#state = randomBytes(16).toString('base64url');
    return this.#state;
  }

  clientInformation() {
    return this.#client;
  }
  saveClientInformation(info: OAuthClientInformationMixed) {
    this.#client = info;
  }
  tokens() {
    return this.#tokens;
  }
  saveTokens(tokens: OAuthTokens) {
    this.#tokens = tokens;
    this.savedTokens.push(tokens);
  }
  saveCodeVerifier(v: string) {
    this.#verifier = v;
  }
  codeVerifier(): string {
    if (!this.#verifier) throw new Error('no code verifier saved');
    return this.#verifier;
  }
  discoveryState() {
    return this.#discovery;
  }
  saveDiscoveryState(state: OAuthDiscoveryState) {
    this.#discovery = state;
  }
  invalidateCredentials(scope: 'all' | 'client' | 'tokens' | 'verifier' | 'discovery') {
    if (scope === 'all' || scope === 'client') this.#client = undefined;
    if (scope === 'all' || scope === 'tokens') this.#tokens = undefined;
    if (scope === 'all' || scope === 'verifier') this.#verifier = undefined;
    if (scope === 'all' || scope === 'discovery') this.#discovery = undefined;
  }

  /** Replaces the held access token (e.g. with one that no longer verifies), keeping the refresh token. */
  setAccessToken(accessToken: string) {
    this.#tokens = { ...this.#tokens!, access_token: accessToken };
  }

  async redirectToAuthorization(authorizationUrl: URL): Promise<void> {
    const browser = new Browser();
    const before = this.opts.redirect.received.length;
    const result = await browser.authorize(authorizationUrl, {
      username: this.opts.username,
      password: this.opts.password,
      isClientRedirect: this.opts.redirect.isMine,
    });
    this.signIns.push(result);
    const response = this.opts.redirect.received[before];
    if (!response?.code) throw new Error(`no authorization code reached the redirect URI: ${JSON.stringify(response)}\n${result.trail.join('\n')}`);
    // What a careful client checks before using the code: its own state, and the issuer (RFC 9207).
    if (response.state !== this.#state) throw new Error('state mismatch in the authorization response');
    if (response.iss !== this.#discovery?.authorizationServerMetadata?.issuer) throw new Error(`iss ${response.iss} is not the authorization server's issuer`);
  }

  /** The code the last sign-in delivered to the redirect URI. */
  lastCode(): string {
    const code = this.opts.redirect.received.at(-1)?.code;
    if (!code) throw new Error('no authorization code received');
    return code;
  }

  get metadata(): Record<string, any> {
    const m = this.#discovery?.authorizationServerMetadata;
    if (!m) throw new Error('no authorization server metadata discovered yet');
    return m as Record<string, any>;
  }
}

// ---------------------------------------------------------------------------------------------
// Traffic the SDK sends (discovery, registration, token, MCP), for asserting the sequence.

export interface Exchange {
  method: string;
  path: string;
  status: number;
  grantType?: string;
}

export function recordingFetch(): { fetch: typeof fetch; log: Exchange[] } {
  const log: Exchange[] = [];
  const recording = (async (input: string | URL | Request, init?: RequestInit) => {
    const res = await fetch(input, init);
    const url = new URL(input instanceof Request ? input.url : input);
    const method = init?.method ?? (input instanceof Request ? input.method : 'GET');
    const grantType = init?.body instanceof URLSearchParams ? init.body.get('grant_type') : undefined;
    log.push({ method, path: url.pathname, status: res.status, ...(grantType ? { grantType } : {}) });
    return res;
  }) as typeof fetch;
  return { fetch: recording, log };
}

// ---------------------------------------------------------------------------------------------

export interface Connected {
  client: Client;
  transport: StreamableHTTPClientTransport;
}

export const CLIENT_INFO = { name: 'oauth-dance-client', version: '1.0.0' };

/** Connects with what the SDK does on a 401: auth() redirects to sign in; finishAuth(code); connect again. */
export async function connectWithOAuth(mcpUrl: string, provider: DanceProvider, fetchFn: typeof fetch): Promise<Connected & { signedIn: boolean }> {
  const first = new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider, fetch: fetchFn });
  const client = new Client(CLIENT_INFO, { capabilities: {} });
  try {
    await client.connect(first);
    return { client, transport: first, signedIn: false };
  } catch (e) {
    if (!(e instanceof UnauthorizedError)) throw e;
  }
  await first.finishAuth(provider.lastCode());
  await first.close();
  return { ...(await connect(mcpUrl, provider, fetchFn)), signedIn: true };
}

export async function connect(mcpUrl: string, provider: DanceProvider, fetchFn: typeof fetch): Promise<Connected> {
  const transport = new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider, fetch: fetchFn });
  const client = new Client(CLIENT_INFO, { capabilities: {} });
  await client.connect(transport);
  return { client, transport };
}

/** RFC 7009 at the revocation_endpoint the AS metadata advertises; a public client sends its client_id. */
export async function revokeToken(provider: DanceProvider, token: string, hint: 'access_token' | 'refresh_token'): Promise<number> {
  const res = await fetch(provider.metadata.revocation_endpoint as string, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token, token_type_hint: hint, client_id: String(provider.clientInformation()!.client_id) }),
  });
  await res.body?.cancel();
  return res.status;
}

/** A raw initialize at /mcp with that token: the status and the challenge. */
export async function mcpWithToken(mcpUrl: string, token: string): Promise<{ status: number; wwwAuthenticate: string | null }> {
  const res = await fetch(mcpUrl, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', Authorization: `Bearer ${token}` },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: CLIENT_INFO } }),
  });
  await res.body?.cancel();
  return { status: res.status, wwwAuthenticate: res.headers.get('www-authenticate') };
}

/** A refresh at the token endpoint outside the SDK (to show a revoked refresh token is dead). */
export async function refreshWith(provider: DanceProvider, refreshToken: string): Promise<{ status: number; body: Record<string, any> }> {
  const res = await fetch(provider.metadata.token_endpoint as string, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: String(provider.clientInformation()!.client_id) }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

export function jwtClaims(token: string): Record<string, any> {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, any>;
}

/** The same JWT with one signature character changed: well-formed, but it no longer verifies. */
export function tamperSignature(token: string): string {
  const i = token.lastIndexOf('.') + 10;
  return token.slice(0, i) + (token[i] === 'A' ? 'B' : 'A') + token.slice(i + 1);
}
