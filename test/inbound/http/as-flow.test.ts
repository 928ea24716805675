import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  authorizeUrl,
  basic,
  Browser,
  pageText,
  CONFIDENTIAL_CLIENT,
  CONFIDENTIAL_SECRET,
  pkce,
  postToken,
  PUBLIC_CLIENT,
  signIn,
  startAs,
  startShared,
  type AsServer,
  type Shared,
  password,
} from './as-harness.js';
import { completeDemoLogin } from '../../../tools/demo/index.js';

/** /authorize, the IdP sign-in, consent, /token and /revoke, over real HTTP on loopback. */
let shared: Shared;
let as: AsServer;
beforeAll(async () => {
  shared = await startShared();
  // Generous limits: this file drives many sign-ins from one address (limits: as-limits.test.ts).
  const many = { windowSeconds: 60, perAddress: 1000, perClient: 1000 };
  as = await startAs(shared, { server: { rateLimits: { register: many, authorize: many, token: many } } });
});

/** A client never seen before (RFC 7591), so its first sign-in always asks for consent. */
async function freshClient(redirectUri = 'http://127.0.0.1:5555/cb'): Promise<{ clientId: string; redirectUri: string }> {
  const res = await fetch(`${as.origin}/register`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ client_name: 'Fresh Agent', redirect_uris: [redirectUri] }),
  });
  return { clientId: ((await res.json()) as { client_id: string }).client_id, redirectUri };
}
afterAll(async () => {
  await as?.close();
  await shared?.close();
});

const pub = (extra: Record<string, string | undefined> = {}, challenge = pkce().challenge) => ({
  clientId: PUBLIC_CLIENT.clientId,
  redirectUri: PUBLIC_CLIENT.redirectUri,
  challenge,
  state: 'st-123',
  extra,
});

describe('/authorize refusals', () => {
  // Bad client or redirect URI: an HTML page, never a redirect (RFC 6749 §4.1.2.1: no open redirector).
  it.each([
    ['unknown client', { clientId: 'nobody', redirectUri: PUBLIC_CLIENT.redirectUri }, /not registered/],
    ['missing client_id', { clientId: '', redirectUri: PUBLIC_CLIENT.redirectUri }, /client_id is missing/],
    ['redirect_uri path differs', { clientId: PUBLIC_CLIENT.clientId, redirectUri: 'http://127.0.0.1:33418/callback/evil' }, /redirect_uri is not one/],
    ['redirect_uri host differs', { clientId: PUBLIC_CLIENT.clientId, redirectUri: 'https://evil.example/callback' }, /redirect_uri is not one/],
    ['redirect_uri missing', { clientId: PUBLIC_CLIENT.clientId, redirectUri: '' }, /no redirect_uri/],
  ])('%s -> HTML 400, no Location', async (_name, p, message) => {
    const res = await fetch(authorizeUrl(as, { ...p, challenge: pkce().challenge, extra: p.redirectUri ? {} : { redirect_uri: undefined } }), {
      redirect: 'manual',
    });
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.headers.get('content-security-policy')).toMatch(/default-src 'none'.*frame-ancestors 'none'/);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(await res.text()).toMatch(message);
  });

  it('a loopback IP redirect URI may use another port (RFC 8252 §7.3)', async () => {
    const res = await fetch(authorizeUrl(as, { ...pub(), redirectUri: 'http://127.0.0.1:40000/callback' }), { redirect: 'manual' });
    expect(res.status).toBe(302);
    expect(new URL(res.headers.get('location')!).origin).toBe(shared.demo.urls.idp);
  });

  // Errors after the client and redirect URI are known go back to the client (RFC 6749 §4.1.2.1, RFC 9207).
  it.each([
    ['plain PKCE', { code_challenge_method: 'plain' }, 'invalid_request', /S256/],
    ['no code_challenge_method (defaults to plain)', { code_challenge_method: undefined }, 'invalid_request', /S256/],
    ['missing code_challenge', { code_challenge: undefined }, 'invalid_request', /code_challenge is required/],
    ['malformed code_challenge', { code_challenge: 'short' }, 'invalid_request', /43 characters/],
    ['wrong resource', { resource: 'https://other.example/mcp' }, 'invalid_target', /resource must be/],
    ['response_type token', { response_type: 'token' }, 'unsupported_response_type', /code/],
  ])('%s -> redirect with error, state and iss', async (_name, extra, error, description) => {
    const res = await fetch(authorizeUrl(as, pub(extra)), { redirect: 'manual' });
    expect(res.status).toBe(302);
    const loc = new URL(res.headers.get('location')!);
    expect(`${loc.origin}${loc.pathname}`).toBe(PUBLIC_CLIENT.redirectUri);
    expect(Object.fromEntries(loc.searchParams)).toMatchObject({ error, state: 'st-123', iss: as.origin });
    expect(loc.searchParams.get('error_description')).toMatch(description);
    expect(loc.searchParams.has('code')).toBe(false);
  });

  it('without resource, the gateway resource is the default', async () => {
    const res = await fetch(authorizeUrl(as, pub({ resource: undefined })), { redirect: 'manual' });
    expect(res.status).toBe(302);
    expect(new URL(res.headers.get('location')!).origin).toBe(shared.demo.urls.idp);
  });

  it('the IdP request: code + PKCE S256, state, nonce, offline_access, callback on the gateway; a binding cookie with the right flags', async () => {
    const browser = new Browser();
    const res = await browser.get(authorizeUrl(as, pub()));
    expect(res.status).toBe(302);
    const idp = new URL(res.headers.get('location')!);
    expect(idp.origin + idp.pathname).toBe(`${shared.demo.urls.idp}/authorize`);
    expect(Object.fromEntries(idp.searchParams)).toMatchObject({
      response_type: 'code',
      client_id: 'xaa-gateway',
      redirect_uri: `${as.origin}/oauth/idp/callback`,
      code_challenge_method: 'S256',
      scope: 'openid profile email offline_access',
    });
    expect(idp.searchParams.get('state')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(idp.searchParams.get('nonce')).toBeTruthy();
    const [cookie] = res.headers.getSetCookie();
    // publicUrl is http loopback here: no __Host- prefix (it needs Secure), no Secure.
    expect(cookie).toMatch(new RegExp(`^xaa-authz-${idp.searchParams.get('state')}=[A-Za-z0-9_-]{43};`));
    expect(cookie).toMatch(/; Max-Age=600/);
    expect(cookie).toMatch(/; Path=\//);
    expect(cookie).toMatch(/; HttpOnly/);
    expect(cookie).toMatch(/; SameSite=Lax/);
    expect(cookie).not.toMatch(/Secure/i);
    expect(cookie).not.toMatch(/Domain/i);
  });
});

describe('the full flow: authorize -> IdP -> consent -> code -> token -> refresh -> revoke', () => {
  it('works end to end, then refresh reuse revokes the family', async () => {
    const browser = new Browser();
    const { verifier, challenge } = pkce();
    const outcome = await signIn(browser, as, pub({}, challenge));
    expect(outcome.kind).toBe('consent');
    if (outcome.kind !== 'consent') return;
    // The consent page names the agent, where it returns and who is signed in.
    const text = pageText(outcome.html);
    expect(text).toContain("Allow Claude (pre-registered) to use your organization's tools as you?");
    expect(text).toContain('Client ID claude-desktop');
    expect(text).toContain('Returns to an app on this computer (127.0.0.1:33418)');
    expect(text).toContain('Signed in as alice@acme.example (Alice Anders)');
    expect(text).toContain("Registered by your organization's administrator");
    expect(text).not.toMatch(/Not verified/);
    expect(text).toMatch(/call the gateway's tools as you/);

    const allow = await browser.postForm(
      `${as.origin}/oauth/consent`,
      { request_id: outcome.requestId, csrf: outcome.csrf, decision: 'allow' },
      { Origin: as.origin },
    );
    expect(allow.status).toBe(303);
    const back = new URL(allow.headers.get('location')!);
    expect(`${back.origin}${back.pathname}`).toBe(PUBLIC_CLIENT.redirectUri);
    expect(back.searchParams.get('state')).toBe('st-123');
    expect(back.searchParams.get('iss')).toBe(as.origin);
    const code = back.searchParams.get('code')!;
    expect(code).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // The binding cookie is cleared once the request is finished.
    expect(browser.cookies.size).toBe(0);

    const tok = await postToken(as, {
      grant_type: 'authorization_code',
      code,
      redirect_uri: PUBLIC_CLIENT.redirectUri,
      code_verifier: verifier,
      client_id: PUBLIC_CLIENT.clientId,
      resource: `${as.origin}/mcp`,
    });
    expect(tok.status, JSON.stringify(tok.body)).toBe(200);
    expect(tok.headers.get('cache-control')).toBe('no-store');
    expect(tok.body).toMatchObject({ token_type: 'Bearer', expires_in: 600, scope: 'mcp:tools' });
    expect(tok.body.refresh_token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const claims = await as.tokens.verify(tok.body.access_token);
    expect(claims).toMatchObject({
      iss: as.origin,
      aud: `${as.origin}/mcp`,
      sub: 'u-alice',
      idp_iss: shared.demo.urls.idp,
      client_id: 'claude-desktop',
      scope: 'mcp:tools',
    });
    const session = await shared.store.getUserSession(claims.sid);
    expect(session).toMatchObject({ sub: 'u-alice', email: 'alice@acme.example', name: 'Alice Anders' });
    expect(session!.idpRefreshToken).toBeTruthy();
    expect(session!.idTokenExpiresAt).toBeGreaterThan(Date.now());

    // Replaying the code: invalid_grant (the replay's consequences are tested below).
    const replay = await postToken(as, {
      grant_type: 'authorization_code',
      code: 'x'.repeat(43),
      redirect_uri: PUBLIC_CLIENT.redirectUri,
      code_verifier: verifier,
      client_id: PUBLIC_CLIENT.clientId,
    });
    expect([replay.status, replay.body.error]).toEqual([400, 'invalid_grant']);

    // Refresh: rotation.
    const r1 = await postToken(as, { grant_type: 'refresh_token', refresh_token: tok.body.refresh_token, client_id: PUBLIC_CLIENT.clientId });
    expect(r1.status, JSON.stringify(r1.body)).toBe(200);
    expect(r1.body.refresh_token).not.toBe(tok.body.refresh_token);
    expect((await as.tokens.verify(r1.body.access_token)).sid).toBe(claims.sid);

    // Refresh bound to its client: another client gets invalid_grant and changes nothing.
    const other = await postToken(
      as,
      { grant_type: 'refresh_token', refresh_token: r1.body.refresh_token },
      { Authorization: basic(CONFIDENTIAL_CLIENT.clientId, CONFIDENTIAL_SECRET) },
    );
    expect([other.status, other.body.error]).toEqual([400, 'invalid_grant']);

    // Reuse of the rotated token: invalid_grant, and the whole family dies (the newest token too).
    const reuse = await postToken(as, { grant_type: 'refresh_token', refresh_token: tok.body.refresh_token, client_id: PUBLIC_CLIENT.clientId });
    expect([reuse.status, reuse.body.error]).toEqual([400, 'invalid_grant']);
    const afterReuse = await postToken(as, { grant_type: 'refresh_token', refresh_token: r1.body.refresh_token, client_id: PUBLIC_CLIENT.clientId });
    expect([afterReuse.status, afterReuse.body.error]).toEqual([400, 'invalid_grant']);
  });

  it('second authorize for the same user and client skips consent', async () => {
    const first = await signIn(new Browser(), as, { ...pub(), user: 'bob' });
    expect(first.kind).toBe('consent');
    const browser = new Browser();
    const start = await signIn(browser, as, { ...pub(), user: 'bob' });
    // Still consent: the first request was never answered.
    expect(start.kind).toBe('consent');
    if (start.kind !== 'consent') return;
    const allow = await browser.postForm(`${as.origin}/oauth/consent`, { request_id: start.requestId, csrf: start.csrf, decision: 'allow' });
    expect(allow.status).toBe(303);
    const again = await signIn(new Browser(), as, { ...pub(), user: 'bob' });
    expect(again.kind).toBe('redirect');
    if (again.kind !== 'redirect') return;
    expect(`${again.location.origin}${again.location.pathname}`).toBe(PUBLIC_CLIENT.redirectUri);
    expect(again.location.searchParams.get('code')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(again.location.searchParams.get('iss')).toBe(as.origin);
    // Consent is per (user, agent): the confidential client still asks bob.
    const otherAgent = await signIn(new Browser(), as, {
      clientId: CONFIDENTIAL_CLIENT.clientId,
      redirectUri: CONFIDENTIAL_CLIENT.redirectUri,
      challenge: pkce().challenge,
      user: 'bob',
    });
    expect(otherAgent.kind).toBe('consent');
  });
});

describe('consent form protections', () => {
  it.each([
    ['no CSRF token', (r: { requestId: string; csrf: string }) => ({ request_id: r.requestId, decision: 'allow' }), {}, false],
    ['a wrong CSRF token', (r: { requestId: string; csrf: string }) => ({ request_id: r.requestId, csrf: 'x'.repeat(43), decision: 'allow' }), {}, false],
    [
      'a foreign Origin',
      (r: { requestId: string; csrf: string }) => ({ request_id: r.requestId, csrf: r.csrf, decision: 'allow' }),
      { Origin: 'https://evil.example' },
      false,
    ],
    [
      'the right token from another browser (no binding cookie)',
      (r: { requestId: string; csrf: string }) => ({ request_id: r.requestId, csrf: r.csrf, decision: 'allow' }),
      {},
      true,
    ],
  ])('POST with %s -> 403, no code', async (_name, form, headers, otherBrowser) => {
    const browser = new Browser();
    const r = await signIn(browser, as, { ...(await freshClient()), challenge: pkce().challenge });
    if (r.kind !== 'consent') throw new Error('expected consent');
    const res = await (otherBrowser ? new Browser() : browser).postForm(`${as.origin}/oauth/consent`, form(r), headers);
    expect(res.status).toBe(403);
    expect(res.headers.get('location')).toBeNull();
    expect(res.headers.get('content-security-policy')).toMatch(/frame-ancestors 'none'/);
  });

  it('Deny -> redirect with access_denied, state and iss', async () => {
    const browser = new Browser();
    const r = await signIn(browser, as, {
      clientId: CONFIDENTIAL_CLIENT.clientId,
      redirectUri: CONFIDENTIAL_CLIENT.redirectUri,
      challenge: pkce().challenge,
      state: 'st-deny',
    });
    if (r.kind !== 'consent') throw new Error('expected consent');
    const res = await browser.postForm(`${as.origin}/oauth/consent`, { request_id: r.requestId, csrf: r.csrf, decision: 'deny' });
    expect(res.status).toBe(303);
    const loc = new URL(res.headers.get('location')!);
    expect(Object.fromEntries(loc.searchParams)).toMatchObject({ error: 'access_denied', state: 'st-deny', iss: as.origin });
    expect(loc.searchParams.has('code')).toBe(false);
    // The request is gone: answering again is refused.
    const again = await browser.postForm(`${as.origin}/oauth/consent`, { request_id: r.requestId, csrf: r.csrf, decision: 'allow' });
    expect(again.status).toBe(400);
  });

  it('the IdP callback from a browser without the binding cookie -> 403 (login CSRF)', async () => {
    const browser = new Browser();
    const start = await browser.get(authorizeUrl(as, pub()));
    const callback = await completeDemoLogin(start.headers.get('location')!, 'alice', password('alice'));
    const res = await new Browser().get(callback);
    expect(res.status).toBe(403);
    expect(res.headers.get('location')).toBeNull();
  });

  it('unverified clients are marked so on the consent page', async () => {
    const reg = await fetch(`${as.origin}/register`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ client_name: 'Claude (pre-registered)', redirect_uris: ['http://127.0.0.1:5555/cb'] }),
    }).then((r) => r.json() as Promise<Record<string, any>>);
    const r = await signIn(new Browser(), as, { clientId: reg.client_id, redirectUri: 'http://127.0.0.1:5555/cb', challenge: pkce().challenge });
    if (r.kind !== 'consent') throw new Error('expected consent');
    const text = pageText(r.html);
    expect(text).toContain('Not verified by your organization: it registered itself');
    expect(text).toContain('unverified');
    expect(text).toContain(reg.client_id);
  });
});

/** Signs alice in for a client and returns the code and its verifier (consenting when asked). */
async function codeFor(client: { clientId: string; redirectUri: string }, user = 'alice') {
  const { verifier, challenge } = pkce();
  const browser = new Browser();
  let r = await signIn(browser, as, { clientId: client.clientId, redirectUri: client.redirectUri, challenge, user });
  if (r.kind === 'consent') {
    const res = await browser.postForm(`${as.origin}/oauth/consent`, { request_id: r.requestId, csrf: r.csrf, decision: 'allow' });
    r = { kind: 'redirect', location: new URL(res.headers.get('location')!) };
  }
  return { code: r.location.searchParams.get('code')!, verifier };
}

describe('/token', () => {
  const pubToken = (code: string, verifier: string, extra: Record<string, string> = {}) =>
    postToken(as, {
      grant_type: 'authorization_code',
      code,
      code_verifier: verifier,
      redirect_uri: PUBLIC_CLIENT.redirectUri,
      client_id: PUBLIC_CLIENT.clientId,
      ...extra,
    });

  it.each([
    ['PKCE verifier mismatch', (_v: string) => ({ code_verifier: pkce().verifier }), 400, 'invalid_grant'],
    ['redirect_uri mismatch', () => ({ redirect_uri: 'http://127.0.0.1:33418/other' }), 400, 'invalid_grant'],
    ['wrong resource', () => ({ resource: 'https://other.example/mcp' }), 400, 'invalid_target'],
    ['another client', () => ({ client_id: 'nobody' }), 401, 'invalid_client'],
    ['a secret sent by a public client', () => ({ client_secret: 'x' }), 401, 'invalid_client'],
    ['unsupported grant type', () => ({ grant_type: 'password' }), 400, 'unsupported_grant_type'],
    ['missing code_verifier', () => ({ code_verifier: '' }), 400, 'invalid_request'],
  ])('%s -> JSON error, Cache-Control no-store', async (_name, extra, status, error) => {
    const { code, verifier } = await codeFor(PUBLIC_CLIENT);
    const res = await pubToken(code, verifier, extra(verifier));
    expect([res.status, res.body.error]).toEqual([status, error]);
    expect(res.body.error_description).toBeTruthy();
    expect(res.headers.get('cache-control')).toBe('no-store');
  });

  it('a replayed code revokes what its first use got: the session (so its access tokens) and the refresh family', async () => {
    const { code, verifier } = await codeFor(PUBLIC_CLIENT);
    const first = await pubToken(code, verifier);
    expect(first.status).toBe(200);
    const { sid } = await as.tokens.verify(first.body.access_token);
    const replay = await pubToken(code, verifier);
    expect([replay.status, replay.body.error, replay.body.error_description]).toEqual([
      400,
      'invalid_grant',
      'the authorization code was already used; the tokens issued from it are now revoked',
    ]);
    expect((await shared.store.getUserSession(sid))?.revokedAt).toBeTypeOf('number');
    const refresh = await postToken(as, { grant_type: 'refresh_token', refresh_token: first.body.refresh_token, client_id: PUBLIC_CLIENT.clientId });
    expect([refresh.status, refresh.body.error]).toEqual([400, 'invalid_grant']);
  });

  it('reusing a rotated refresh token also ends the session, so its access tokens stop working', async () => {
    const { code, verifier } = await codeFor(PUBLIC_CLIENT);
    const tok = await pubToken(code, verifier);
    const { sid } = await as.tokens.verify(tok.body.access_token);
    const rotated = await postToken(as, { grant_type: 'refresh_token', refresh_token: tok.body.refresh_token, client_id: PUBLIC_CLIENT.clientId });
    expect(rotated.status).toBe(200);
    expect((await shared.store.getUserSession(sid))?.revokedAt).toBeUndefined();
    const reuse = await postToken(as, { grant_type: 'refresh_token', refresh_token: tok.body.refresh_token, client_id: PUBLIC_CLIENT.clientId });
    expect([reuse.status, reuse.body.error]).toEqual([400, 'invalid_grant']);
    expect((await shared.store.getUserSession(sid))?.revokedAt).toBeTypeOf('number');
  });

  it('a code is single use even after a failed attempt (PKCE mismatch burns it)', async () => {
    const { code, verifier } = await codeFor(PUBLIC_CLIENT);
    expect((await pubToken(code, pkce().verifier)).body.error).toBe('invalid_grant');
    expect((await pubToken(code, verifier)).body.error).toBe('invalid_grant');
  });

  it('confidential client: HTTP Basic or client_secret_post; a wrong secret -> 401 with a Basic challenge', async () => {
    const a = await codeFor(CONFIDENTIAL_CLIENT);
    const ok = await postToken(
      as,
      { grant_type: 'authorization_code', code: a.code, code_verifier: a.verifier, redirect_uri: CONFIDENTIAL_CLIENT.redirectUri },
      { Authorization: basic(CONFIDENTIAL_CLIENT.clientId, CONFIDENTIAL_SECRET) },
    );
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect((await as.tokens.verify(ok.body.access_token)).client_id).toBe(CONFIDENTIAL_CLIENT.clientId);
    const b = await codeFor(CONFIDENTIAL_CLIENT);
    const post = await postToken(as, {
      grant_type: 'authorization_code',
      code: b.code,
      code_verifier: b.verifier,
      redirect_uri: CONFIDENTIAL_CLIENT.redirectUri,
      client_id: CONFIDENTIAL_CLIENT.clientId,
      client_secret: CONFIDENTIAL_SECRET,
    });
    expect(post.status).toBe(200);
    const c = await codeFor(CONFIDENTIAL_CLIENT);
    const wrong = await postToken(
      as,
      { grant_type: 'authorization_code', code: c.code, code_verifier: c.verifier, redirect_uri: CONFIDENTIAL_CLIENT.redirectUri },
      { Authorization: basic(CONFIDENTIAL_CLIENT.clientId, 'wrong') },
    );
    expect([wrong.status, wrong.body.error]).toEqual([401, 'invalid_client']);
    expect(wrong.headers.get('www-authenticate')).toMatch(/^Basic /);
    const none = await postToken(as, {
      grant_type: 'authorization_code',
      code: c.code,
      code_verifier: c.verifier,
      redirect_uri: CONFIDENTIAL_CLIENT.redirectUri,
      client_id: CONFIDENTIAL_CLIENT.clientId,
    });
    expect([none.status, none.body.error]).toEqual([401, 'invalid_client']);
  });

  it('refresh may narrow scope, never widen it', async () => {
    const { code, verifier } = await codeFor(PUBLIC_CLIENT);
    const tok = await pubToken(code, verifier);
    const wider = await postToken(as, {
      grant_type: 'refresh_token',
      refresh_token: tok.body.refresh_token,
      client_id: PUBLIC_CLIENT.clientId,
      scope: 'mcp:tools admin',
    });
    expect([wider.status, wider.body.error]).toEqual([400, 'invalid_scope']);
  });
});

describe('/revoke (RFC 7009)', () => {
  it('revokes access tokens (by jti) and refresh token families; unknown tokens get 200', async () => {
    const { code, verifier } = await codeFor(PUBLIC_CLIENT);
    const tok = await postToken(as, {
      grant_type: 'authorization_code',
      code,
      code_verifier: verifier,
      redirect_uri: PUBLIC_CLIENT.redirectUri,
      client_id: PUBLIC_CLIENT.clientId,
    });
    const revoke = (form: Record<string, string>, headers: Record<string, string> = {}) =>
      fetch(`${as.origin}/revoke`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers },
        body: new URLSearchParams(form),
      });

    // Another client cannot revoke them: 200, nothing changes.
    expect((await revoke({ token: tok.body.access_token }, { Authorization: basic(CONFIDENTIAL_CLIENT.clientId, CONFIDENTIAL_SECRET) })).status).toBe(200);
    await expect(as.tokens.verify(tok.body.access_token)).resolves.toBeTruthy();

    expect((await revoke({ token: tok.body.access_token, token_type_hint: 'access_token', client_id: PUBLIC_CLIENT.clientId })).status).toBe(200);
    await expect(as.tokens.verify(tok.body.access_token)).rejects.toThrow(/revoked/);

    expect((await revoke({ token: tok.body.refresh_token, client_id: PUBLIC_CLIENT.clientId })).status).toBe(200);
    const refresh = await postToken(as, { grant_type: 'refresh_token', refresh_token: tok.body.refresh_token, client_id: PUBLIC_CLIENT.clientId });
    expect([refresh.status, refresh.body.error]).toEqual([400, 'invalid_grant']);

    expect((await revoke({ token: 'not-a-token-we-issued', client_id: PUBLIC_CLIENT.clientId })).status).toBe(200);
    const noAuth = await revoke({ token: 'x' });
    expect(noAuth.status).toBe(401);
    expect(((await noAuth.json()) as Record<string, string>).error).toBe('invalid_client');
  });
});
