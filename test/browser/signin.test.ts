import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserAvailability, launchChromium, type Chromium, type TestBrowser } from '../../tools/testkit/browser.js';
import { BIN, startEnv, text } from '../../tools/testkit/env.js';
import { sharedPackage } from '../../tools/testkit/package.js';
import { spawnServe } from '../../tools/testkit/serve.js';
import { startHarness } from '../server/http/harness.js';
import { freePort, writeServeConfig } from '../server/http/served-gateway.js';

/**
 * The sign-in as a person does it, in headless Chromium (issue 3): an MCP client's authorization
 * request opens in the browser, the user signs in on the IdP's page, allows the agent on the
 * gateway's consent page, and the browser lands on the client's loopback redirect URI with the code.
 * The code then buys an access token that calls a tool as that user. Screenshots of each page are
 * kept in test-artifacts/<suite>/. Three times: against the gateway in the test's process, and against
 * `xaa-gateway serve` started as an operator would from another directory (`/`, issue 7), from the
 * repository's bin and from the npm package installed elsewhere: the compiled CLI renders its pages
 * whatever the working directory.
 */

const CLIENT_NAME = 'Browser Test Agent';
const availability = browserAvailability();

/** A gateway to sign in to, with the demo enterprise behind it. */
interface Target {
  origin: string;
  mcpUrl: string;
  idp: string;
  /** The audit records of one agent's calls of one tool, as written so far. */
  records(clientId: string, tool: string): Promise<Record<string, any>[]>;
  close(): Promise<void>;
}

/** `xaa-gateway serve` as a child process started from `/`, on a fresh demo enterprise; its audit read from the file. */
async function servedFromRoot(prepare: () => Promise<{ command: [string, ...string[]]; cleanup?: () => void }>): Promise<Target> {
  const env = await startEnv();
  let cleanup: (() => void) | undefined;
  try {
    const { command, cleanup: c } = await prepare();
    cleanup = c;
    const port = await freePort();
    writeServeConfig(env, port);
    const gw = await spawnServe({ command, configPath: env.configPath, port, cwd: '/' });
    return {
      origin: gw.origin,
      mcpUrl: gw.mcpUrl,
      idp: env.demo.urls.idp,
      records: async (clientId, tool) => (await env.audit()).filter((r) => r.agent?.clientId === clientId && r.tool === tool),
      async close() {
        const exit = await gw.stop();
        await env.close();
        cleanup?.();
        expect(exit, gw.stderr()).toBe(0);
      },
    };
  } catch (e) {
    await env.close();
    cleanup?.();
    throw e;
  }
}

const TARGETS: { name: string; suite: string; start(): Promise<Target> }[] = [
  {
    name: 'the gateway in the test process',
    suite: 'signin',
    async start() {
      const h = await startHarness();
      return {
        origin: h.origin,
        mcpUrl: h.mcpUrl,
        idp: h.env.demo.urls.idp,
        async records(clientId, tool) {
          await h.gateway.flush();
          return h.sink.records.filter((r) => r.agent?.clientId === clientId && r.tool === tool);
        },
        close: () => h.close(),
      };
    },
  },
  {
    name: '`xaa-gateway serve` started from /',
    suite: 'signin-from-root',
    start: () => servedFromRoot(async () => ({ command: [process.execPath, BIN] })),
  },
  {
    name: '`xaa-gateway serve` of the installed npm package, started from /',
    suite: 'signin-installed-package',
    start: () => servedFromRoot(async () => ({ command: [(await sharedPackage()).bin] })),
  },
];

interface Callback {
  uri: string;
  /** Query strings of every request that reached the redirect URI. */
  hits: URLSearchParams[];
  close(): Promise<void>;
}

/** The MCP client's loopback redirect URI (RFC 8252 §7.3): records the query, tells the person they are done. */
async function startCallback(): Promise<Callback> {
  const hits: URLSearchParams[] = [];
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname !== '/callback') return void res.writeHead(404).end();
    hits.push(url.searchParams);
    res
      .writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' })
      .end('<!doctype html><title>Signed in</title><p>Signed in. You can close this window.</p>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    uri: `http://127.0.0.1:${(server.address() as AddressInfo).port}/callback`,
    hits,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** What an MCP client does before opening the browser: RFC 7591 registration, PKCE S256, state, resource. */
async function beginAuthorization(h: Target, clientId: string, redirectUri: string) {
  const verifier = randomBytes(32).toString('base64url');
  const state = randomBytes(16).toString('base64url');
  const url = new URL('/authorize', h.origin);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: redirectUri,
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
    state,
    resource: h.mcpUrl,
    scope: 'mcp:tools',
  }).toString();
  return { url: url.href, verifier, state };
}

if (!availability.run && availability.required) {
  describe('browser sign-in', () => {
    it('needs Debian chromium under CI', () => {
      throw new Error(availability.reason);
    });
  });
} else {
  if (!availability.run) console.warn(`[test/browser] skipped: ${availability.reason}`);

  // One Chromium for the file; each target signs in from a fresh context (a new profile's isolation).
  let chromium: Promise<Chromium> | undefined;
  const sharedChromium = () => (chromium ??= launchChromium());
  afterAll(async () => {
    await (await chromium?.catch(() => undefined))?.close();
  });

  describe.skipIf(!availability.run).each(TARGETS)('browser sign-in (headless Chromium) to $name', ({ suite, start }) => {
    let h: Target;
    let browser: TestBrowser;
    let callback: Callback;
    let clientId: string;

    /** Kept so that afterAll stops whatever a failed or timed-out beforeAll started anyway (a gateway left running otherwise). */
    let starting: [Promise<Target>, Promise<TestBrowser>, Promise<Callback>] | undefined;

    beforeAll(async () => {
      starting = [start(), sharedChromium().then((c) => c.context(suite)), startCallback()];
      [h, browser, callback] = await Promise.all(starting);
      const reg = await fetch(`${h.origin}/register`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ client_name: CLIENT_NAME, redirect_uris: [callback.uri], token_endpoint_auth_method: 'none' }),
      });
      expect(reg.status).toBe(201);
      clientId = ((await reg.json()) as { client_id: string }).client_id;
    });
    afterAll(async () => {
      const [target, b, cb] = await Promise.allSettled(starting ?? []);
      const value = <T>(r: PromiseSettledResult<T> | undefined) => (r?.status === 'fulfilled' ? r.value : undefined);
      await value(b)?.close();
      await value(cb)?.close();
      await value(target)?.close();
    });

    /** Fails the test on any Content-Security-Policy report: a blocked stylesheet would render the pages unstyled. */
    function watchCsp(page: Page): string[] {
      const violations: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) violations.push(m.text());
      });
      return violations;
    }

    it('alice signs in on the IdP page, allows the agent, and the code calls a tool as alice', async () => {
      const auth = await beginAuthorization(h, clientId, callback.uri);
      const page = await browser.newPage();
      const csp = watchCsp(page);
      try {
        // /authorize -> 302 to the IdP's login page, with the request cookie stored by the browser.
        await page.goto(auth.url);
        expect(new URL(page.url()).origin).toBe(h.idp);
        await expect(page.locator('h1').innerText()).resolves.toBe('Acme IdP');
        expect(await page.getByLabel('Username').isVisible()).toBe(true);
        expect(await page.getByLabel('Password').isVisible()).toBe(true);
        const cookies = (await browser.context.cookies(h.origin)).filter((c) => c.name.startsWith('xaa-authz-'));
        // On http loopback the cookie has no Secure flag and no __Host- prefix, or Chromium would drop it.
        expect(cookies).toMatchObject([{ httpOnly: true, secure: false, sameSite: 'Lax', path: '/' }]);
        expect(await browser.screenshot(page, 'idp-login')).toSatisfy(existsSync);

        await page.getByLabel('Username').fill('alice');
        await page.getByLabel('Password').fill('alice-demo-pass');
        await Promise.all([
          page.waitForURL((u) => u.origin === h.origin && u.pathname === '/oauth/consent'),
          page.getByRole('button', { name: 'Sign in' }).click(),
        ]);

        // The gateway's consent page names the agent and the signed-in user.
        await expect(page.locator('h1').innerText()).resolves.toBe(`Allow ${CLIENT_NAME} to use your organization's tools as you?`);
        expect(await page.getByText(CLIENT_NAME, { exact: true }).first().isVisible()).toBe(true);
        const details = await page.locator('dl').innerText();
        expect(details).toContain(clientId);
        expect(details).toMatch(/Signed in as\s+alice@/);
        expect(details).toContain(`an app on this computer (${new URL(callback.uri).host})`);
        expect(await page.locator('.warn').innerText()).toMatch(/^Not verified by your organization: it registered itself\./);
        // The stylesheet applied (allowed by its CSP hash): the Allow button is the accent colour.
        const allow = page.getByRole('button', { name: 'Allow' });
        expect(await allow.evaluate((b) => getComputedStyle(b).backgroundColor)).toBe('rgb(31, 95, 209)');
        expect(await browser.screenshot(page, 'consent')).toSatisfy(existsSync);

        await Promise.all([page.waitForURL((u) => u.href.startsWith(callback.uri)), allow.click()]);
        expect(await page.locator('body').innerText()).toContain('Signed in. You can close this window.');
        expect(csp).toEqual([]);
      } finally {
        await page.close();
      }

      expect(callback.hits).toHaveLength(1);
      const got = callback.hits[0]!;
      expect(got.get('state')).toBe(auth.state);
      expect(got.get('iss')).toBe(h.origin); // RFC 9207
      expect(got.get('error')).toBeNull();
      const code = got.get('code');
      expect(code).toBeTruthy();
      // The request cookie is cleared once the code is issued.
      expect((await browser.context.cookies(h.origin)).filter((c) => c.name.startsWith('xaa-authz-'))).toEqual([]);

      const tokenRes = await fetch(`${h.origin}/token`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          code: code!,
          redirect_uri: callback.uri,
          client_id: clientId,
          code_verifier: auth.verifier,
          resource: h.mcpUrl,
        }),
      });
      expect(tokenRes.status).toBe(200);
      const tokens = (await tokenRes.json()) as { access_token: string; token_type: string; refresh_token?: string; scope: string };
      expect(tokens).toMatchObject({ token_type: 'Bearer', scope: 'mcp:tools', refresh_token: expect.any(String) });

      const transport = new StreamableHTTPClientTransport(new URL(h.mcpUrl), { requestInit: { headers: { Authorization: `Bearer ${tokens.access_token}` } } });
      const client = new Client({ name: 'browser-signin-test', version: '1.0.0' }, { capabilities: {} });
      await client.connect(transport);
      try {
        const result = (await client.callTool({ name: 'calendar_free_slots', arguments: { date: '2026-12-05' } })) as CallToolResult;
        expect(result.isError ?? false).toBe(false);
        expect(text(result)).toMatch(/2026-12-05T\d\d:\d\d/);
        const who = { user: { iss: h.idp, sub: 'u-alice' }, agent: { clientId, name: CLIENT_NAME } };
        await expect.poll(async () => (await h.records(clientId, 'calendar_free_slots')).length, { timeout: 5_000 }).toBe(2);
        expect(await h.records(clientId, 'calendar_free_slots')).toMatchObject([
          { ...who, phase: 'decision', decision: 'allow', tool: 'calendar_free_slots' },
          { ...who, phase: 'outcome', outcome: { ok: true, status: 200 } },
        ]);
      } finally {
        await client.close();
      }
    });

    it('a wrong password keeps the person on the IdP page with an error, and nothing reaches the client', async () => {
      const before = callback.hits.length;
      const auth = await beginAuthorization(h, clientId, callback.uri);
      const page = await browser.newPage();
      try {
        await page.goto(auth.url);
        await page.getByLabel('Username').fill('alice');
        await page.getByLabel('Password').fill('not-alices-password');
        const [res] = await Promise.all([page.waitForResponse((r) => r.request().method() === 'POST'), page.getByRole('button', { name: 'Sign in' }).click()]);
        expect(res.status()).toBe(401);
        await page.waitForLoadState();
        expect(new URL(page.url()).origin).toBe(h.idp);
        const alert = page.getByRole('alert');
        expect(await alert.isVisible()).toBe(true);
        expect(await alert.innerText()).toBe('Wrong username or password.');
        // The username is kept, the password is not.
        expect(await page.getByLabel('Username').inputValue()).toBe('alice');
        expect(await page.getByLabel('Password').inputValue()).toBe('');
        expect(await browser.screenshot(page, 'idp-wrong-password')).toSatisfy(existsSync);
      } finally {
        await page.close();
      }
      expect(callback.hits.length).toBe(before);
    });
  });
}
