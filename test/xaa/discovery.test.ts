import { describe, expect, it } from 'vitest';
import { AuthorizationServerDirectory, discoverAuthorizationServer } from '../../src/xaa/index.js';
import { NOW, caught, econnrefused, fakeFetch, json } from './helpers.js';

const meta = (issuer: string) => ({ issuer, token_endpoint: `${issuer.replace(/\/$/, '')}/token`, jwks_uri: `${issuer}/jwks` });

function server(docs: Record<string, unknown>) {
  return fakeFetch((req) => (req.url in docs ? json(docs[req.url]) : new Response('not found', { status: 404 })));
}

describe('discoverAuthorizationServer (RFC 8414, OIDC Discovery)', () => {
  it('RFC 8414 document at the root issuer', async () => {
    const f = server({ 'https://as.example/.well-known/oauth-authorization-server': meta('https://as.example') });
    const m = await discoverAuthorizationServer('https://as.example', f.deps);
    expect(m).toMatchObject({ issuer: 'https://as.example', token_endpoint: 'https://as.example/token' });
    expect(f.requests.map((r) => r.url)).toEqual(['https://as.example/.well-known/oauth-authorization-server']);
    expect(f.requests[0]!.headers.get('accept')).toBe('application/json');
  });

  it('falls back to OIDC discovery after a 404', async () => {
    const f = server({ 'https://idp.example/.well-known/openid-configuration': meta('https://idp.example') });
    const m = await discoverAuthorizationServer('https://idp.example', f.deps);
    expect(m.issuer).toBe('https://idp.example');
    expect(f.requests.map((r) => r.url)).toEqual([
      'https://idp.example/.well-known/oauth-authorization-server',
      'https://idp.example/.well-known/openid-configuration',
    ]);
  });

  it('falls back when the 8414 location answers 200 with HTML', async () => {
    const f = fakeFetch((req) =>
      req.url.endsWith('oauth-authorization-server')
        ? new Response('<html>spa</html>', { status: 200, headers: { 'content-type': 'text/html' } })
        : json(meta('https://idp.example')),
    );
    expect((await discoverAuthorizationServer('https://idp.example', f.deps)).issuer).toBe('https://idp.example');
  });

  it('issuer with a path: 8414 path insertion, then OIDC inserted, then OIDC appended', async () => {
    const issuer = 'https://login.example/tenants/acme';
    const f = server({ [`${issuer}/.well-known/openid-configuration`]: meta(issuer) });
    await discoverAuthorizationServer(issuer, f.deps);
    expect(f.requests.map((r) => r.url)).toEqual([
      'https://login.example/.well-known/oauth-authorization-server/tenants/acme',
      'https://login.example/.well-known/openid-configuration/tenants/acme',
      'https://login.example/tenants/acme/.well-known/openid-configuration',
    ]);
  });

  it('issuer with a path: 8414 path insertion URL answers', async () => {
    const issuer = 'https://login.example/tenants/acme';
    const f = server({ 'https://login.example/.well-known/oauth-authorization-server/tenants/acme': meta(issuer) });
    expect((await discoverAuthorizationServer(issuer, f.deps)).issuer).toBe(issuer);
    expect(f.requests).toHaveLength(1);
  });

  const mismatches = [
    { name: 'another host', configured: 'https://as.example', doc: 'https://evil.example' },
    { name: 'a trailing slash (not identical, §3.3)', configured: 'https://as.example', doc: 'https://as.example/' },
    { name: 'another path', configured: 'https://as.example/t1', doc: 'https://as.example/t2' },
  ];
  it.each(mismatches)('refuses an issuer mismatch: $name, without trying further', async ({ configured, doc }) => {
    const f = fakeFetch(() => json(meta(doc)));
    const e = await caught(discoverAuthorizationServer(configured, f.deps));
    expect(e.code).toBe('discovery_failed');
    expect(e.message).toContain('RFC 8414 §3.3');
    expect(f.requests).toHaveLength(1);
  });

  it('nothing found -> discovery_failed listing what was tried', async () => {
    const f = server({});
    const e = await caught(discoverAuthorizationServer('https://as.example', f.deps));
    expect(e.code).toBe('discovery_failed');
    expect(e.message).toContain('https://as.example/.well-known/openid-configuration -> HTTP 404');
  });

  it('metadata without token_endpoint -> discovery_failed', async () => {
    const f = fakeFetch(() => json({ issuer: 'https://as.example' }));
    expect((await caught(discoverAuthorizationServer('https://as.example', f.deps))).code).toBe('discovery_failed');
  });

  const badIssuers = ['http://as.example', 'https://as.example?x=1', 'not a url'];
  it.each(badIssuers)('refuses issuer %s without a request', async (issuer) => {
    const f = server({});
    expect((await caught(discoverAuthorizationServer(issuer, f.deps))).code).toBe('discovery_failed');
    expect(f.requests).toHaveLength(0);
  });

  it('allows http on loopback', async () => {
    const f = server({ 'http://localhost:4000/.well-known/oauth-authorization-server': meta('http://localhost:4000') });
    expect((await discoverAuthorizationServer('http://localhost:4000', f.deps)).issuer).toBe('http://localhost:4000');
  });

  const unreachable = [
    { role: 'idp' as const, code: 'idp_unreachable' },
    { role: 'as' as const, code: 'discovery_failed' },
  ];
  it.each(unreachable)('unreachable $role -> $code', async ({ role, code }) => {
    const f = fakeFetch(() => {
      throw econnrefused();
    });
    const e = await caught(discoverAuthorizationServer('https://x.example', f.deps, { role }));
    expect(e.code).toBe(code);
    expect(e.message).toContain('ECONNREFUSED');
  });
});

describe('AuthorizationServerDirectory (cache)', () => {
  it('single-flight and TTL', async () => {
    let now = NOW;
    const f = server({ 'https://as.example/.well-known/oauth-authorization-server': meta('https://as.example') });
    const deps = { ...f.deps, now: () => now };
    const dir = new AuthorizationServerDirectory({ ttlMs: 60_000 });
    const [a, b] = await Promise.all([dir.discover('https://as.example', deps), dir.discover('https://as.example', deps)]);
    expect(a).toBe(b);
    expect(f.requests).toHaveLength(1);
    now += 59_000;
    await dir.discover('https://as.example', deps);
    expect(f.requests).toHaveLength(1);
    now += 2_000;
    await dir.discover('https://as.example', deps);
    expect(f.requests).toHaveLength(2);
  });

  it('does not cache failures', async () => {
    let up = false;
    const f = fakeFetch(() => (up ? json(meta('https://as.example')) : new Response('', { status: 404 })));
    const dir = new AuthorizationServerDirectory();
    expect((await caught(dir.discover('https://as.example', f.deps))).code).toBe('discovery_failed');
    up = true;
    expect((await dir.discover('https://as.example', f.deps)).issuer).toBe('https://as.example');
  });
});
