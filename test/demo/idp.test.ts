import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { completeDemoLogin, startDemoEnterprise, type DemoEnterprise } from '../../tools/demo/index.js';
import { basic, decodePart, exchange, ID_JAG, idpSecret, loginAtIdp, postForm, REFRESH_TOKEN } from './helpers.js';

let demo: DemoEnterprise;
beforeAll(async () => {
  demo = await startDemoEnterprise({ ports: 'random' });
});
afterAll(async () => {
  await demo?.stop();
});

function authorizeUrl(over: Record<string, string | undefined> = {}) {
  const u = new URL(`${demo.urls.idp}/authorize`);
  const verifier = randomBytes(32).toString('base64url');
  const p: Record<string, string | undefined> = {
    response_type: 'code',
    client_id: 'xaa-gateway',
    redirect_uri: 'http://127.0.0.1:7777/callback',
    scope: 'openid email',
    state: 'abc',
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
    ...over,
  };
  for (const [k, v] of Object.entries(p)) if (v !== undefined) u.searchParams.set(k, v);
  return { url: u.toString(), verifier };
}

describe('IdP discovery', () => {
  it.each(['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server'])('%s names the exact issuer', async (path) => {
    const meta = (await (await fetch(demo.urls.idp + path)).json()) as Record<string, unknown>;
    expect(meta.issuer).toBe(demo.urls.idp);
    expect(meta.token_endpoint).toBe(`${demo.urls.idp}/token`);
    expect(meta.grant_types_supported).toContain('urn:ietf:params:oauth:grant-type:token-exchange');
    expect(meta.code_challenge_methods_supported).toEqual(['S256']);
    const jwks = (await (await fetch(String(meta.jwks_uri))).json()) as { keys: Array<Record<string, unknown>> };
    expect(jwks.keys[0]).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256' });
    expect(jwks.keys[0]).not.toHaveProperty('d');
  });
});

describe('authorization code + PKCE (completeDemoLogin)', () => {
  it('the sign-in page, and every other answer of the demo IdP and SaaS apps, may not be framed', async () => {
    const page = await fetch(authorizeUrl().url);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    await page.body?.cancel();
    for (const res of [page, await fetch(`${demo.urls.idp}/.well-known/openid-configuration`), await fetch(`${demo.urls.crm}/jwks`)]) {
      expect(res.headers.get('x-frame-options'), res.url).toBe('DENY');
      expect(res.headers.get('content-security-policy'), res.url).toBe("frame-ancestors 'none'");
    }
  });

  it('issues an ID token with the OIDC claims and a refresh token for offline_access', async () => {
    const tokens = await loginAtIdp(demo, 'alice');
    const claims = decodePart(tokens.id_token, 1);
    expect(decodePart(tokens.id_token, 0)).toMatchObject({ alg: 'ES256', typ: 'JWT' });
    expect(claims).toMatchObject({ iss: demo.urls.idp, aud: 'xaa-gateway', sub: 'u-alice', email: 'alice@acme.example', name: 'Alice Anders', nonce: 'n-123' });
    expect(claims.exp - claims.iat).toBe(3600);
    expect(tokens.refresh_token).toEqual(expect.any(String));
    expect(tokens.expires_in).toEqual(expect.any(Number));
  });

  it('returns the redirect with code and state, without following it (loopback, any port)', async () => {
    const { url } = authorizeUrl();
    const location = new URL(await completeDemoLogin(url, 'bob', 'bob-demo-pass'));
    expect(location.origin + location.pathname).toBe('http://127.0.0.1:7777/callback');
    expect(location.searchParams.get('state')).toBe('abc');
    expect(location.searchParams.get('iss')).toBe(demo.urls.idp);
    expect(location.searchParams.get('code')).toMatch(/^[\w-]{20,}$/);
  });

  it('no refresh token without offline_access', async () => {
    const tokens = await loginAtIdp(demo, 'bob', { scope: 'openid email' });
    expect(tokens.refresh_token).toBeUndefined();
  });

  it.each([
    ['wrong password', 'alice', 'nope', /Wrong username or password/],
    ['unknown user', 'mallory', 'x', /Wrong username or password/],
    ['inactive account', 'carol', 'carol-demo-pass', /deactivated/],
  ])('refuses sign-in: %s (401 page)', async (_n, user, pass, msg) => {
    await expect(completeDemoLogin(authorizeUrl().url, user, pass)).rejects.toThrow(msg);
  });

  it.each([
    ['unregistered redirect_uri', { redirect_uri: 'http://evil.example/callback' }],
    ['non-loopback host', { redirect_uri: 'http://localhost.evil.example:80/callback' }],
    ['unknown client', { client_id: 'nobody' }],
  ])('shows an error page, never redirects: %s', async (_n, over) => {
    const res = await fetch(authorizeUrl(over).url, { redirect: 'manual' });
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
  });

  it.each([
    ['PKCE missing', { code_challenge: undefined }, 'invalid_request'],
    ['plain PKCE', { code_challenge_method: 'plain' }, 'invalid_request'],
    ['implicit flow', { response_type: 'token' }, 'unsupported_response_type'],
  ])('redirects with an error: %s', async (_n, over, error) => {
    const res = await fetch(authorizeUrl(over).url, { redirect: 'manual' });
    expect(res.status).toBe(302);
    const loc = new URL(res.headers.get('location')!);
    expect(loc.searchParams.get('error')).toBe(error);
    expect(loc.searchParams.get('state')).toBe('abc');
  });

  it('refuses a wrong code_verifier and a reused code (invalid_grant)', async () => {
    const { url, verifier } = authorizeUrl();
    const code = new URL(await completeDemoLogin(url, 'alice', 'alice-demo-pass')).searchParams.get('code')!;
    const auth = { Authorization: basic('xaa-gateway', idpSecret()) };
    const form = { grant_type: 'authorization_code', code, redirect_uri: 'http://127.0.0.1:7777/callback' };
    const bad = await postForm(`${demo.urls.idp}/token`, { ...form, code_verifier: 'x'.repeat(43) }, auth);
    expect([bad.status, bad.body.error]).toEqual([400, 'invalid_grant']);
    const reused = await postForm(`${demo.urls.idp}/token`, { ...form, code_verifier: verifier }, auth);
    expect([reused.status, reused.body.error]).toEqual([400, 'invalid_grant']);
  });

  it('rotates refresh tokens; the old one is refused', async () => {
    const first = await loginAtIdp(demo, 'alice');
    const auth = { Authorization: basic('xaa-gateway', idpSecret()) };
    const r1 = await postForm(`${demo.urls.idp}/token`, { grant_type: 'refresh_token', refresh_token: first.refresh_token! }, auth);
    expect(r1.status).toBe(200);
    expect(r1.body.refresh_token).not.toBe(first.refresh_token);
    expect(decodePart(r1.body.id_token, 1).sub).toBe('u-alice');
    const r2 = await postForm(`${demo.urls.idp}/token`, { grant_type: 'refresh_token', refresh_token: first.refresh_token! }, auth);
    expect([r2.status, r2.body.error]).toEqual([400, 'invalid_grant']);
  });

  it('revokes a refresh token (RFC 7009)', async () => {
    const t = await loginAtIdp(demo, 'bob');
    const auth = { Authorization: basic('xaa-gateway', idpSecret()) };
    const rev = await postForm(`${demo.urls.idp}/revoke`, { token: t.refresh_token!, token_type_hint: 'refresh_token' }, auth);
    expect(rev.status).toBe(200);
    const r = await postForm(`${demo.urls.idp}/token`, { grant_type: 'refresh_token', refresh_token: t.refresh_token! }, auth);
    expect([r.status, r.body.error]).toEqual([400, 'invalid_grant']);
  });
});

describe('token exchange for an ID-JAG', () => {
  it('issues an ID-JAG with the draft header and claims', async () => {
    const { id_token } = await loginAtIdp(demo, 'alice');
    const before = demo.stats.tokenExchanges;
    const res = await exchange(demo, id_token, 'calendar', { params: { scope: 'calendar.read calendar.write' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.body).toMatchObject({ issued_token_type: ID_JAG, token_type: 'N_A', expires_in: 300, scope: 'calendar.read calendar.write' });
    const header = decodePart(res.body.access_token, 0);
    const claims = decodePart(res.body.access_token, 1);
    expect(header).toMatchObject({ alg: 'ES256', typ: 'oauth-id-jag+jwt', kid: expect.any(String) });
    expect(claims).toMatchObject({
      iss: demo.urls.idp,
      sub: 'u-alice',
      aud: demo.urls.calendar,
      client_id: 'xaa-gateway',
      resource: `${demo.urls.calendar}/api`,
      scope: 'calendar.read calendar.write',
      email: 'alice@acme.example',
      jti: expect.any(String),
    });
    expect(claims.exp - claims.iat).toBe(300);
    expect(demo.stats.tokenExchanges).toBe(before + 1);
  });

  it('accepts client_secret_post at the IdP too', async () => {
    const { id_token } = await loginAtIdp(demo, 'alice');
    const res = await postForm(`${demo.urls.idp}/token`, {
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      requested_token_type: ID_JAG,
      audience: demo.urls.chat,
      scope: 'chat.write',
      subject_token: id_token,
      subject_token_type: 'urn:ietf:params:oauth:token-type:id_token',
      client_id: 'xaa-gateway',
      client_secret: idpSecret(),
    });
    expect(res.status).toBe(200);
    expect(decodePart(res.body.access_token, 1)).toMatchObject({ aud: demo.urls.chat, scope: 'chat.write' });
    expect(decodePart(res.body.access_token, 1).resource).toBeUndefined();
  });

  it('accepts a refresh token as subject token, and the CRM MCP resource', async () => {
    const { refresh_token } = await loginAtIdp(demo, 'alice');
    const res = await exchange(demo, refresh_token!, 'crm', { params: { subject_token_type: REFRESH_TOKEN, resource: `${demo.urls.crm}/mcp` } });
    expect(res.status).toBe(200);
    expect(decodePart(res.body.access_token, 1)).toMatchObject({ aud: demo.urls.crm, resource: `${demo.urls.crm}/mcp`, scope: 'crm.read' });
  });

  type Case = {
    name: string;
    user: string;
    app: 'calendar' | 'expenses' | 'crm' | 'chat' | 'payroll';
    setup?: (id: { id_token: string }) => void;
    teardown?: () => void;
    loginAs?: string;
    opts?: Parameters<typeof exchange>[3];
    status: number;
    error: string;
  };
  const cases: Case[] = [
    { name: 'user not assigned to the app (bob -> crm)', user: 'bob', app: 'crm', status: 400, error: 'access_denied' },
    { name: 'connection disabled (xaa-gateway -> payroll)', user: 'alice', app: 'payroll', status: 400, error: 'access_denied' },
    {
      name: 'inactive user',
      user: 'bob',
      app: 'calendar',
      setup: () => demo.control.setUserActive('bob', false),
      teardown: () => demo.control.setUserActive('bob', true),
      status: 400,
      error: 'invalid_grant',
    },
    { name: 'revoked session', user: 'bob', app: 'calendar', setup: () => demo.control.revokeUserSessions('bob'), status: 400, error: 'invalid_grant' },
    { name: 'subject token issued to another client', user: 'alice', app: 'calendar', loginAs: 'other-agent', status: 400, error: 'invalid_grant' },
    { name: 'bad client secret', user: 'alice', app: 'calendar', opts: { secret: 'wrong' }, status: 401, error: 'invalid_client' },
    { name: 'unknown audience', user: 'alice', app: 'calendar', opts: { params: { audience: 'http://127.0.0.1:1' } }, status: 400, error: 'invalid_target' },
    {
      name: 'resource of another app',
      user: 'alice',
      app: 'calendar',
      opts: { params: { resource: 'http://127.0.0.1:1/api' } },
      status: 400,
      error: 'invalid_target',
    },
    {
      name: 'scope the app does not define',
      user: 'alice',
      app: 'calendar',
      opts: { params: { scope: 'calendar.read admin' } },
      status: 400,
      error: 'invalid_scope',
    },
    {
      name: 'wrong requested_token_type',
      user: 'alice',
      app: 'calendar',
      opts: { params: { requested_token_type: 'urn:ietf:params:oauth:token-type:access_token' } },
      status: 400,
      error: 'invalid_request',
    },
    { name: 'garbage subject token', user: 'alice', app: 'calendar', opts: { params: { subject_token: 'not-a-jwt' } }, status: 400, error: 'invalid_grant' },
  ];

  it.each(cases)('refuses: $name -> $status $error', async (c) => {
    const tokens = await loginAtIdp(demo, c.user, c.loginAs ? { clientId: c.loginAs } : {});
    c.setup?.(tokens);
    try {
      const res = await exchange(demo, tokens.id_token, c.app, c.opts);
      expect({ status: res.status, error: res.body.error }).toEqual({ status: c.status, error: c.error });
      expect(res.body.error_description).toEqual(expect.any(String));
      expect(res.body.access_token).toBeUndefined();
    } finally {
      c.teardown?.();
    }
  });

  it('a user signs in again after their sessions were revoked; enabling the connection allows payroll', async () => {
    const old = await loginAtIdp(demo, 'alice');
    demo.control.revokeUserSessions('alice');
    expect((await exchange(demo, old.id_token, 'calendar')).body.error).toBe('invalid_grant');
    const fresh = await loginAtIdp(demo, 'alice');
    expect((await exchange(demo, fresh.id_token, 'calendar')).status).toBe(200);
    demo.control.setConnection('xaa-gateway', 'payroll', true);
    try {
      expect((await exchange(demo, fresh.id_token, 'payroll')).status).toBe(200);
    } finally {
      demo.control.setConnection('xaa-gateway', 'payroll', false);
    }
  });

  it('answers 503 while the IdP is down', async () => {
    demo.control.setIdpDown(true);
    try {
      const res = await fetch(`${demo.urls.idp}/.well-known/openid-configuration`);
      expect(res.status).toBe(503);
    } finally {
      demo.control.setIdpDown(false);
    }
  });
});
