import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decideGrant, requestedScopes } from '../../../src/inbound/http/as/scopes.js';
import { authorizeUrl, Browser, pageText, pkce, postToken, signIn, startAs, startShared, type AsServer, type Shared } from './as-harness.js';

/**
 * MCP 2026-07-28 authorization on the gateway's AS: step-up with accumulated scopes, `offline_access`
 * (SEP-2207), and `iss` (RFC 9207) on every redirect back to the client.
 */

describe('requested scopes', () => {
  it.each([
    [null, ['mcp:tools']],
    ['', ['mcp:tools']],
    ['mcp:tools', ['mcp:tools']],
    ['openid profile', ['mcp:tools']],
    ['offline_access', ['mcp:tools', 'offline_access']],
    ['mcp:tools offline_access openid', ['mcp:tools', 'offline_access']],
  ])('scope %j -> %j', (scope, expected) => {
    expect(requestedScopes(scope)).toEqual(expected);
  });
});

// A hypothetical three-scope resource shows the accumulation the one-scope gateway cannot.
const R = ['files:read', 'files:write', 'admin'];
describe('decideGrant: union with what was consented, consent only for what is new', () => {
  it.each([
    // requested, consented, client registered refresh_token, granted, refresh, toConsent, alreadyAllowed, consentAfter
    ['first sign-in, no refresh', ['files:read'], [], false, ['files:read'], false, ['files:read'], [], ['files:read']],
    [
      'first sign-in, refresh by grant_types',
      ['files:read'],
      [],
      true,
      ['files:read'],
      true,
      ['files:read', 'offline_access'],
      [],
      ['files:read', 'offline_access'],
    ],
    [
      'first sign-in, offline_access asked',
      ['files:read', 'offline_access'],
      [],
      false,
      ['files:read', 'offline_access'],
      true,
      ['files:read', 'offline_access'],
      [],
      ['files:read', 'offline_access'],
    ],
    [
      'step-up asking only the challenged scope keeps the old one',
      ['files:write'],
      ['files:read'],
      false,
      ['files:read', 'files:write'],
      false,
      ['files:write'],
      ['files:read'],
      ['files:read', 'files:write'],
    ],
    [
      'step-up asking the union: same grant',
      ['files:read', 'files:write'],
      ['files:read'],
      false,
      ['files:read', 'files:write'],
      false,
      ['files:write'],
      ['files:read'],
      ['files:read', 'files:write'],
    ],
    [
      'nothing new: no consent page',
      ['files:read'],
      ['files:read', 'files:write'],
      false,
      ['files:read', 'files:write'],
      false,
      [],
      ['files:read', 'files:write'],
      ['files:read', 'files:write'],
    ],
    [
      'offline_access is not carried over from an earlier consent',
      ['files:read'],
      ['files:read', 'offline_access'],
      false,
      ['files:read'],
      false,
      [],
      ['files:read'],
      ['files:read', 'offline_access'],
    ],
    [
      'offline_access consented before: asked again, no page',
      ['files:read', 'offline_access'],
      ['files:read', 'offline_access'],
      false,
      ['files:read', 'offline_access'],
      true,
      [],
      ['files:read', 'offline_access'],
      ['files:read', 'offline_access'],
    ],
    [
      'a consented scope the resource no longer has is not granted',
      ['files:read'],
      ['files:read', 'retired'],
      false,
      ['files:read'],
      false,
      [],
      ['files:read'],
      ['files:read', 'retired'],
    ],
  ])('%s', (_name, requested, consented, clientRefreshGrant, granted, refresh, toConsent, alreadyAllowed, consentAfter) => {
    expect(decideGrant({ requested, consented, clientRefreshGrant, resourceScopes: R })).toEqual({ granted, refresh, toConsent, alreadyAllowed, consentAfter });
  });
});

let shared: Shared;
let as: AsServer;
beforeAll(async () => {
  shared = await startShared();
  const many = { windowSeconds: 60, perAddress: 1000, perClient: 1000 };
  as = await startAs(shared, { server: { rateLimits: { register: many, authorize: many, token: many } } });
});
afterAll(async () => {
  await as?.close();
  await shared?.close();
});

async function registerClient(grantTypes?: string[]): Promise<{ clientId: string; redirectUri: string }> {
  const redirectUri = 'http://127.0.0.1:5600/cb';
  const res = await fetch(`${as.origin}/register`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      client_name: 'Step-up Agent',
      application_type: 'native',
      redirect_uris: [redirectUri],
      ...(grantTypes ? { grant_types: grantTypes } : {}),
    }),
  });
  expect(res.status).toBe(201);
  return { clientId: ((await res.json()) as { client_id: string }).client_id, redirectUri };
}

interface Round {
  /** The consent page's "can" list, or null when no consent page was shown. */
  asked: string[] | null;
  already: string[];
  status: number;
  body: Record<string, any>;
}

/** One authorization as `user` asking `scope`, consenting when asked, then the code exchanged at /token. */
async function authorizeRound(client: { clientId: string; redirectUri: string }, scope: string | undefined, user = 'alice'): Promise<Round> {
  const { verifier, challenge } = pkce();
  const browser = new Browser();
  const r = await signIn(browser, as, { ...client, challenge, user, extra: { scope } });
  let location: URL;
  let asked: string[] | null = null;
  let already: string[] = [];
  if (r.kind === 'consent') {
    asked = listItems(r.html, 'asked');
    already = listItems(r.html, 'already');
    const res = await browser.postForm(`${as.origin}/oauth/consent`, { request_id: r.requestId, csrf: r.csrf, decision: 'allow' });
    expect(res.status).toBe(303);
    location = new URL(res.headers.get('location')!);
  } else {
    location = r.location;
  }
  expect(location.searchParams.get('iss')).toBe(as.origin);
  const tok = await postToken(as, {
    grant_type: 'authorization_code',
    code: location.searchParams.get('code')!,
    code_verifier: verifier,
    redirect_uri: client.redirectUri,
    client_id: client.clientId,
  });
  return { asked, already, status: tok.status, body: tok.body };
}

/** The visible text of each item of the consent page's list with this class. */
function listItems(html: string, cls: string): string[] {
  const list = new RegExp(`<ul class="${cls}[^"]*">([\\s\\S]*?)</ul>`).exec(html);
  return list ? [...list[1]!.matchAll(/<li[^>]*>([\s\S]*?)<\/li>/g)].map((m) => pageText(m[1]!)) : [];
}

const TOOLS = /^call the gateway's tools as you/;
const STAY = /^keep this access after you close this page/;

describe('step-up and offline_access over HTTP', () => {
  it('a client without the refresh_token grant: refresh tokens only with offline_access; step-up keeps what was allowed and asks only what is new', async () => {
    const client = await registerClient(['authorization_code']);

    // 1. mcp:tools: consent for the tools only; no refresh token.
    const first = await authorizeRound(client, 'mcp:tools');
    expect(first.asked?.map((t) => TOOLS.test(t))).toEqual([true]);
    expect(first.already).toEqual([]);
    expect([first.status, first.body.scope, 'refresh_token' in first.body]).toEqual([200, 'mcp:tools', false]);

    // 2. Step-up asking only offline_access: the tools are kept (union), only "stay connected" is asked.
    const second = await authorizeRound(client, 'offline_access');
    expect(second.asked?.map((t) => STAY.test(t))).toEqual([true]);
    expect(second.already.map((t) => TOOLS.test(t))).toEqual([true]);
    expect([second.status, second.body.scope]).toEqual([200, 'mcp:tools offline_access']);
    expect(second.body.refresh_token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect((await as.tokens.verify(second.body.access_token)).scope).toBe('mcp:tools offline_access');

    // Refresh keeps working, and may narrow to the resource scope.
    const refreshed = await postToken(as, { grant_type: 'refresh_token', refresh_token: second.body.refresh_token, client_id: client.clientId });
    expect([refreshed.status, refreshed.body.scope]).toEqual([200, 'mcp:tools offline_access']);
    const narrowed = await postToken(as, {
      grant_type: 'refresh_token',
      refresh_token: refreshed.body.refresh_token,
      client_id: client.clientId,
      scope: 'mcp:tools',
    });
    expect([narrowed.status, narrowed.body.scope]).toEqual([200, 'mcp:tools']);
    expect((await as.tokens.verify(narrowed.body.access_token)).scope).toBe('mcp:tools');

    // 3. Without offline_access: no page (nothing new), no refresh token (not carried over).
    const third = await authorizeRound(client, 'mcp:tools');
    expect([third.asked, third.status, third.body.scope, 'refresh_token' in third.body]).toEqual([null, 200, 'mcp:tools', false]);

    // 4. offline_access again: no page (consented before), a refresh token.
    const fourth = await authorizeRound(client, 'mcp:tools offline_access');
    expect([fourth.asked, fourth.status, fourth.body.scope]).toEqual([null, 200, 'mcp:tools offline_access']);
    expect(fourth.body.refresh_token).toMatch(/^[A-Za-z0-9_-]{43}$/);

    // Consent is per user: bob is asked for both.
    const bob = await authorizeRound(client, 'mcp:tools offline_access', 'bob');
    expect(bob.asked?.map((t) => [TOOLS.test(t), STAY.test(t)])).toEqual([
      [true, false],
      [false, true],
    ]);
  });

  it('a client that registered the refresh_token grant gets a refresh token without offline_access, and is told so on the consent page', async () => {
    const client = await registerClient(['authorization_code', 'refresh_token']);
    const first = await authorizeRound(client, undefined);
    expect(first.asked?.map((t) => [TOOLS.test(t), STAY.test(t)])).toEqual([
      [true, false],
      [false, true],
    ]);
    expect([first.status, first.body.scope]).toEqual([200, 'mcp:tools']);
    expect(first.body.refresh_token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const refreshed = await postToken(as, { grant_type: 'refresh_token', refresh_token: first.body.refresh_token, client_id: client.clientId });
    expect([refreshed.status, refreshed.body.scope]).toEqual([200, 'mcp:tools']);
    // Asking offline_access later changes nothing the user must see.
    const second = await authorizeRound(client, 'mcp:tools offline_access');
    expect([second.asked, second.status, second.body.scope]).toEqual([null, 200, 'mcp:tools offline_access']);
  });

  it('a metadata document without grant_types (RFC 7591 default: authorization_code) gets a refresh token only with offline_access', async () => {
    const { createServer } = await import('node:http');
    let clientId = '';
    const server = createServer((_req, res) => {
      res
        .writeHead(200, { 'Content-Type': 'application/json' })
        .end(JSON.stringify({ client_id: clientId, client_name: 'Doc Agent', redirect_uris: ['http://127.0.0.1:5601/cb'] }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      clientId = `http://127.0.0.1:${(server.address() as { port: number }).port}/client.json`;
      const client = { clientId, redirectUri: 'http://127.0.0.1:5601/cb' };
      const plain = await authorizeRound(client, 'mcp:tools');
      expect([plain.status, plain.body.scope, 'refresh_token' in plain.body]).toEqual([200, 'mcp:tools', false]);
      const offline = await authorizeRound(client, 'mcp:tools offline_access');
      expect(offline.asked?.map((t) => STAY.test(t))).toEqual([true]);
      expect(offline.body.refresh_token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe('iss (RFC 9207) on every redirect back to the client', () => {
  it('an IdP error at the callback -> access_denied with state and iss', async () => {
    const client = await registerClient();
    const browser = new Browser();
    const start = await browser.get(authorizeUrl(as, { ...client, challenge: pkce().challenge, state: 'st-idp' }));
    expect(start.status).toBe(302);
    const idpState = new URL(start.headers.get('location')!).searchParams.get('state')!;
    // What the IdP sends back when the user cancels its sign-in (OIDC Core §3.1.2.6).
    const res = await browser.get(`${as.origin}/oauth/idp/callback?state=${idpState}&error=access_denied`);
    expect(res.status).toBe(302);
    const loc = new URL(res.headers.get('location')!);
    expect(`${loc.origin}${loc.pathname}`).toBe(client.redirectUri);
    expect(Object.fromEntries(loc.searchParams)).toEqual({
      error: 'access_denied',
      error_description: 'sign-in at the identity provider failed: access_denied',
      state: 'st-idp',
      iss: as.origin,
    });
  });
});
