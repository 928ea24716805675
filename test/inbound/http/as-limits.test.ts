import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authorizeUrl, pkce, postToken, PUBLIC_CLIENT, CONFIDENTIAL_CLIENT, startAs, startShared, type AsServer, type Shared } from './as-harness.js';

/** Abuse limits (server.rateLimits) and cookie flags outside loopback. */
let shared: Shared;
let as: AsServer;
let remote: AsServer;
let proxied: AsServer;
beforeAll(async () => {
  shared = await startShared();
  as = await startAs(shared, {
    server: {
      rateLimits: {
        register: { windowSeconds: 60, perAddress: 2, perClient: 100 },
        authorize: { windowSeconds: 60, perAddress: 5, perClient: 2 },
        token: { windowSeconds: 60, perAddress: 100, perClient: 2 },
      },
    },
  });
  remote = await startAs(shared, { publicUrl: 'https://gateway.example', name: 'remote' });
  proxied = await startAs(shared, {
    name: 'proxied',
    server: { trustProxyHops: 1, rateLimits: { register: { windowSeconds: 60, perAddress: 1, perClient: 100 } } as never },
  });
});
afterAll(async () => {
  await Promise.all([as?.close(), remote?.close(), proxied?.close()]);
  await shared?.close();
});

describe('rate limits', () => {
  it('/authorize: per client, then per address -> 429 HTML with Retry-After', async () => {
    const go = (client: { clientId: string; redirectUri: string }) =>
      fetch(authorizeUrl(as, { ...client, challenge: pkce().challenge }), { redirect: 'manual' });
    expect((await go(PUBLIC_CLIENT)).status).toBe(302);
    expect((await go(PUBLIC_CLIENT)).status).toBe(302);
    const perClient = await go(PUBLIC_CLIENT);
    expect(perClient.status).toBe(429);
    expect(Number(perClient.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(perClient.headers.get('location')).toBeNull();
    expect(perClient.headers.get('content-type')).toMatch(/^text\/html/);
    // Another client is not limited by the first one's count, until the address limit (5) is reached.
    expect((await go(CONFIDENTIAL_CLIENT)).status).toBe(302);
    expect((await go(CONFIDENTIAL_CLIENT)).status).toBe(302);
    const perAddress = await go({ clientId: 'someone-else', redirectUri: 'https://x.example/cb' });
    expect(perAddress.status).toBe(429);
    expect(Number(perAddress.headers.get('retry-after'))).toBeGreaterThan(0);
  });

  it('/token: per client -> 429 JSON temporarily_unavailable with Retry-After; other clients go on', async () => {
    const bad = (clientId: string) =>
      postToken(as, {
        grant_type: 'authorization_code',
        code: 'nope',
        code_verifier: pkce().verifier,
        redirect_uri: 'https://x.example/cb',
        client_id: clientId,
      });
    expect((await bad(PUBLIC_CLIENT.clientId)).status).toBe(400);
    expect((await bad(PUBLIC_CLIENT.clientId)).status).toBe(400);
    const limited = await bad(PUBLIC_CLIENT.clientId);
    expect(limited.status).toBe(429);
    expect(limited.body.error).toBe('temporarily_unavailable');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(limited.headers.get('cache-control')).toBe('no-store');
    expect((await bad(CONFIDENTIAL_CLIENT.clientId)).status).toBe(401);
  });

  it('/register: per address -> 429 with Retry-After', async () => {
    const reg = () =>
      fetch(`${as.origin}/register`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ redirect_uris: ['https://a.example/cb'] }),
      });
    expect((await reg()).status).toBe(201);
    expect((await reg()).status).toBe(201);
    const limited = await reg();
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(((await limited.json()) as Record<string, string>).error).toBe('temporarily_unavailable');
  });
});

describe('behind a reverse proxy (server.trustProxyHops)', () => {
  const reg = (xff: string) =>
    fetch(`${proxied.origin}/register`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Forwarded-For': xff },
      body: JSON.stringify({ redirect_uris: ['https://a.example/cb'] }),
    });

  it('limits per forwarded client address, the last hop the proxy appended; a forged left part changes nothing', async () => {
    expect((await reg('203.0.113.7')).status).toBe(201);
    // Same real client, a forged address prepended by the client itself: still 203.0.113.7.
    expect((await reg('198.51.100.1, 203.0.113.7')).status).toBe(429);
    // Another client behind the same proxy has its own budget.
    expect((await reg('203.0.113.8')).status).toBe(201);
  });
});

describe('cookie flags', () => {
  it('an https publicUrl gets a __Host- cookie: Secure, HttpOnly, SameSite=Lax, Path=/, no Domain', async () => {
    const res = await remote.app.request(authorizeUrl({ origin: 'https://gateway.example' }, { ...PUBLIC_CLIENT, challenge: pkce().challenge }));
    expect(res.status).toBe(302);
    expect(new URL(res.headers.get('location')!).searchParams.get('redirect_uri')).toBe('https://gateway.example/oauth/idp/callback');
    const cookies = res.headers.getSetCookie();
    expect(cookies).toHaveLength(1);
    const cookie = cookies[0]!;
    expect(cookie).toMatch(/^__Host-xaa-authz-[A-Za-z0-9_-]{43}=[A-Za-z0-9_-]{43}; /);
    for (const flag of ['Max-Age=600', 'Path=/', 'HttpOnly', 'Secure', 'SameSite=Lax']) expect(cookie.split('; ')).toContain(flag);
    expect(cookie).not.toMatch(/Domain=/i);
  });
});
