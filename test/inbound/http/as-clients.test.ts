import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GATEWAY_SCOPE } from '../../../src/inbound/http/as/index.js';
import { cacheLifetimeSeconds } from '../../../src/inbound/http/as/cimd.js';
import { addressProblem } from '../../../src/inbound/http/as/ssrf.js';
import {
  authorizeUrl,
  Browser,
  pageText,
  pkce,
  postToken,
  signIn,
  startAs,
  startDocServer,
  startShared,
  type AsServer,
  type DocServer,
  type Shared,
} from './as-harness.js';

/** RFC 8414 metadata, JWKS, RFC 7591 registration and Client ID Metadata Documents. */
let shared: Shared;
let as: AsServer;
let remote: AsServer; // publicUrl https://gateway.example: not loopback, so no loopback/http client metadata
let noReg: AsServer; // dynamic registration and CIMD turned off
let docs: DocServer;
beforeAll(async () => {
  shared = await startShared();
  const many = { windowSeconds: 60, perAddress: 1000, perClient: 1000 };
  as = await startAs(shared, { server: { rateLimits: { register: many, authorize: many, token: many } } });
  remote = await startAs(shared, { publicUrl: 'https://gateway.example', name: 'remote' });
  noReg = await startAs(shared, { server: { dynamicRegistration: false, clientIdMetadataDocuments: false }, name: 'noreg' });
  docs = await startDocServer();
});
afterAll(async () => {
  await Promise.all([as?.close(), remote?.close(), noReg?.close(), docs?.close()]);
  await shared?.close();
});

describe('RFC 8414 metadata and JWKS', () => {
  it('describes the authorization server; issuer is publicUrl exactly', async () => {
    const res = await fetch(`${as.origin}/.well-known/oauth-authorization-server`);
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(await res.json()).toEqual({
      issuer: as.origin,
      authorization_endpoint: `${as.origin}/authorize`,
      token_endpoint: `${as.origin}/token`,
      registration_endpoint: `${as.origin}/register`,
      revocation_endpoint: `${as.origin}/revoke`,
      jwks_uri: `${as.origin}/jwks`,
      response_types_supported: ['code'],
      response_modes_supported: ['query'],
      grant_types_supported: ['authorization_code', 'refresh_token'],
      code_challenge_methods_supported: ['S256'],
      token_endpoint_auth_methods_supported: ['none', 'client_secret_basic', 'client_secret_post'],
      revocation_endpoint_auth_methods_supported: ['none', 'client_secret_basic', 'client_secret_post'],
      // offline_access for the AS only (MCP 2026-07-28 "Refresh Tokens"); RFC 9207 iss in every authorization response.
      scopes_supported: [GATEWAY_SCOPE, 'offline_access'],
      authorization_response_iss_parameter_supported: true,
      client_id_metadata_document_supported: true,
      // RFC 9449 §5.1: /token takes DPoP proofs.
      dpop_signing_alg_values_supported: ['ES256', 'ES384', 'PS256', 'RS256', 'EdDSA'],
    });
  });

  it('without dynamic registration and CIMD, neither is advertised', async () => {
    const meta = (await (await fetch(`${noReg.origin}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>;
    expect(meta.registration_endpoint).toBeUndefined();
    expect(meta.client_id_metadata_document_supported).toBeUndefined();
  });

  it('/jwks publishes the ES256 public key that verifies issued tokens, no private part', async () => {
    const jwks = (await (await fetch(`${as.origin}/jwks`)).json()) as { keys: Record<string, unknown>[] };
    expect(jwks.keys.length).toBeGreaterThan(0);
    expect(jwks.keys[0]).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
    expect(jwks.keys.some((k) => 'd' in k)).toBe(false);
  });
});

const register = (body: unknown, origin = as.origin, contentType = 'application/json') =>
  fetch(`${origin}/register`, { method: 'POST', headers: { 'Content-Type': contentType }, body: typeof body === 'string' ? body : JSON.stringify(body) });

describe('RFC 7591 dynamic registration', () => {
  it('a public client (default auth method none): 201 with its metadata, no secret', async () => {
    const res = await register({
      client_name: 'Claude Code',
      redirect_uris: ['http://localhost:54212/callback'],
      grant_types: ['authorization_code', 'refresh_token'],
    });
    expect(res.status).toBe(201);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      client_name: 'Claude Code',
      redirect_uris: ['http://localhost:54212/callback'],
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
    });
    expect(body.client_id).toMatch(/^dyn_/);
    expect(typeof body.client_id_issued_at).toBe('number');
    expect(body.client_secret).toBeUndefined();
    expect(await shared.store.getClient(body.client_id as string)).toMatchObject({
      source: 'dynamic',
      clientName: 'Claude Code',
      tokenEndpointAuthMethod: 'none',
    });
  });

  it('a confidential client gets a secret once; the store keeps only its hash; custom schemes and https are accepted', async () => {
    const res = await register({
      client_name: 'Cursor',
      redirect_uris: ['cursor://anysphere.cursor-retrieval/oauth/callback', 'https://app.example/cb'],
      token_endpoint_auth_method: 'client_secret_post',
    });
    expect(res.status).toBe(201);
    const body = (await res.json()) as Record<string, any>;
    expect(body.client_secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(body.client_secret_expires_at).toBe(0);
    const stored = await shared.store.getClient(body.client_id);
    expect(stored!.clientSecretHash).toBeTruthy();
    expect(JSON.stringify(stored)).not.toContain(body.client_secret);
  });

  it.each([
    ['no redirect_uris', { client_name: 'x' }, 'invalid_redirect_uri', /non-empty array/],
    ['empty redirect_uris', { redirect_uris: [] }, 'invalid_redirect_uri', /non-empty array/],
    ['http on a public host', { redirect_uris: ['http://evil.example/cb'] }, 'invalid_redirect_uri', /loopback/],
    ['a fragment', { redirect_uris: ['https://app.example/cb#x'] }, 'invalid_redirect_uri', /fragment/],
    ['javascript: scheme', { redirect_uris: ['javascript:alert(1)'] }, 'invalid_redirect_uri', /not allowed/],
    ['a relative URI', { redirect_uris: ['/cb'] }, 'invalid_redirect_uri', /absolute/],
    [
      'auth method private_key_jwt',
      { redirect_uris: ['https://a.example/cb'], token_endpoint_auth_method: 'private_key_jwt' },
      'invalid_client_metadata',
      /token_endpoint_auth_method/,
    ],
    [
      'grant type client_credentials',
      { redirect_uris: ['https://a.example/cb'], grant_types: ['client_credentials'] },
      'invalid_client_metadata',
      /not supported/,
    ],
    ['response type token', { redirect_uris: ['https://a.example/cb'], response_types: ['token'] }, 'invalid_client_metadata', /code/],
    ['client_name not a string', { redirect_uris: ['https://a.example/cb'], client_name: 42 }, 'invalid_client_metadata', /client_name/],
    ['a JSON array', [], 'invalid_client_metadata', /JSON object/],
    ['not JSON', '{nope', 'invalid_client_metadata', /not valid JSON/],
  ])('%s -> 400 %s', async (_name, body, error, description) => {
    const res = await register(body);
    expect(res.status).toBe(400);
    const json = (await res.json()) as Record<string, string>;
    expect(json.error).toBe(error);
    expect(json.error_description).toMatch(description);
  });

  // MCP 2026-07-28 "Application Type and Redirect URI Constraints", OpenID Connect Registration §2:
  // native apps use loopback http or a private-use scheme, web apps https. Without application_type
  // (2025 clients) the redirect URIs decide it, and a mixed set stays registered without one.
  it.each([
    ['native, loopback IP', 'native', 'native', ['http://127.0.0.1:7001/cb']],
    ['native, localhost', 'native', 'native', ['http://localhost:7001/cb']],
    ['native, IPv6 loopback', 'native', 'native', ['http://[::1]:7001/cb']],
    ['native, private-use scheme', 'native', 'native', ['com.example.app:/oauth/cb']],
    ['web, https', 'web', 'web', ['https://app.example/cb']],
    ['web, https on localhost', 'web', 'web', ['https://localhost:8443/cb']],
    ['omitted, loopback', 'native', undefined, ['http://127.0.0.1:7001/cb']],
    ['omitted, private-use scheme', 'native', undefined, ['cursor://anysphere.cursor-retrieval/oauth/callback']],
    ['omitted, https', 'web', undefined, ['https://app.example/cb']],
    ['omitted, mixed', undefined, undefined, ['https://app.example/cb', 'http://127.0.0.1:7001/cb']],
  ])('application_type %s -> 201, registered as %s', async (_name, registered, applicationType, redirectUris) => {
    const res = await register({ client_name: 'Typed', redirect_uris: redirectUris, ...(applicationType ? { application_type: applicationType } : {}) });
    expect(res.status).toBe(201);
    const body = (await res.json()) as Record<string, any>;
    expect(body.application_type).toBe(registered);
    expect(body.redirect_uris).toEqual(redirectUris);
    expect((await shared.store.getClient(body.client_id))!.metadata.application_type).toBe(registered);
  });

  it.each([
    [
      'native with an https redirect URI',
      { application_type: 'native', redirect_uris: ['https://app.example/cb'] },
      'invalid_redirect_uri',
      'redirect_uris[0] is not allowed for a native client: use a loopback http URI (127.0.0.1, [::1] or localhost) or a private-use scheme (OpenID Connect Registration §2, RFC 8252 §7); register https redirect URIs as application_type "web"',
    ],
    [
      'native with a mixed set',
      { application_type: 'native', redirect_uris: ['http://127.0.0.1:7001/cb', 'https://app.example/cb'] },
      'invalid_redirect_uri',
      'redirect_uris[1] is not allowed for a native client: use a loopback http URI (127.0.0.1, [::1] or localhost) or a private-use scheme (OpenID Connect Registration §2, RFC 8252 §7); register https redirect URIs as application_type "web"',
    ],
    [
      'web with a loopback http redirect URI',
      { application_type: 'web', redirect_uris: ['http://127.0.0.1:7001/cb'] },
      'invalid_redirect_uri',
      'redirect_uris[0] is not allowed for a web client: use https (OpenID Connect Registration §2); an app on the user\'s computer registers as application_type "native"',
    ],
    [
      'web with a private-use scheme',
      { application_type: 'web', redirect_uris: ['com.example.app:/cb'] },
      'invalid_redirect_uri',
      'redirect_uris[0] is not allowed for a web client: use https (OpenID Connect Registration §2); an app on the user\'s computer registers as application_type "native"',
    ],
    [
      'an unknown application_type',
      { application_type: 'desktop', redirect_uris: ['http://127.0.0.1:7001/cb'] },
      'invalid_client_metadata',
      'application_type must be "web" or "native"',
    ],
    [
      'a non-string application_type',
      { application_type: 1, redirect_uris: ['http://127.0.0.1:7001/cb'] },
      'invalid_client_metadata',
      'application_type must be "web" or "native"',
    ],
  ])('%s -> 400 %s', async (_name, body, error, description) => {
    const res = await register(body);
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error, error_description: description });
  });

  it('a form body -> 400 invalid_client_metadata', async () => {
    const res = await register('redirect_uris=https://a.example/cb', as.origin, 'application/x-www-form-urlencoded');
    expect([res.status, ((await res.json()) as Record<string, string>).error]).toEqual([400, 'invalid_client_metadata']);
  });

  it('turned off -> 404 with a clear error', async () => {
    const res = await register({ redirect_uris: ['https://a.example/cb'] }, noReg.origin);
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: 'invalid_request', error_description: expect.stringMatching(/dynamic client registration is turned off/) });
  });
});

describe('Client ID Metadata Documents', () => {
  const doc = (clientId: string, extra: Record<string, unknown> = {}) =>
    JSON.stringify({
      client_id: clientId,
      client_name: 'Doc Agent',
      redirect_uris: ['http://127.0.0.1:6111/cb'],
      token_endpoint_auth_method: 'none',
      ...extra,
    });

  it('fetched from its URL (loopback allowed: publicUrl is loopback), cached per Cache-Control, marked unverified; full code flow works', async () => {
    const clientId = `${docs.origin}/agents/ok.json`;
    docs.set('/agents/ok.json', { body: doc(clientId), headers: { 'Cache-Control': 'max-age=60' } });
    const before = docs.requests.length;
    const { verifier, challenge } = pkce();
    const browser = new Browser();
    const r = await signIn(browser, as, { clientId, redirectUri: 'http://127.0.0.1:6111/cb', challenge });
    if (r.kind !== 'consent') throw new Error('expected consent');
    const text = pageText(r.html);
    expect(text).toContain('Allow Doc Agent');
    expect(text).toContain(`Not verified by your organization: it describes itself at ${new URL(docs.origin).host}`);
    const stored = await shared.store.getClient(clientId);
    expect(stored).toMatchObject({ source: 'cimd', clientName: 'Doc Agent', redirectUris: ['http://127.0.0.1:6111/cb'], tokenEndpointAuthMethod: 'none' });
    // max-age=60 is below the 5-minute floor.
    expect(stored!.expiresAt! - stored!.createdAt).toBe(5 * 60_000);
    const allow = await browser.postForm(`${as.origin}/oauth/consent`, { request_id: r.requestId, csrf: r.csrf, decision: 'allow' });
    const code = new URL(allow.headers.get('location')!).searchParams.get('code')!;
    const tok = await postToken(as, {
      grant_type: 'authorization_code',
      code,
      code_verifier: verifier,
      redirect_uri: 'http://127.0.0.1:6111/cb',
      client_id: clientId,
    });
    expect(tok.status, JSON.stringify(tok.body)).toBe(200);
    expect((await as.tokens.verify(tok.body.access_token)).client_id).toBe(clientId);
    // One fetch for /authorize, none for the callback, consent and token (cached).
    expect(docs.requests.length - before).toBe(1);
  });

  it.each([
    ['client_id in the document differs', (id: string) => ({ body: doc(id.replace('.json', '-other.json')) }), /does not equal the URL/],
    ['oversized (> 64 KiB)', (id: string) => ({ body: doc(id, { padding: 'x'.repeat(70 * 1024) }) }), /larger than 65536 bytes/],
    ['no redirect_uris', (id: string) => ({ body: JSON.stringify({ client_id: id, client_name: 'x' }) }), /redirect_uris/],
    ['a shared-secret auth method', (id: string) => ({ body: doc(id, { token_endpoint_auth_method: 'client_secret_basic' }) }), /shared secret/],
    [
      'a redirect (not followed)',
      () => ({ status: 302, body: '', headers: { Location: 'http://169.254.169.254/latest' } }),
      /HTTP 302 \(redirects are not followed\)/,
    ],
    ['not JSON', () => ({ body: '<html>', headers: { 'Content-Type': 'text/html' } }), /not application\/json/],
    ['a 404', null, /HTTP 404/],
  ])('%s -> HTML 400 at /authorize, no redirect', async (name, serve, reason) => {
    const path = `/agents/bad-${name.replace(/\W+/g, '-')}.json`;
    const clientId = `${docs.origin}${path}`;
    if (serve) docs.set(path, serve(clientId));
    const res = await fetch(authorizeUrl(as, { clientId, redirectUri: 'http://127.0.0.1:6111/cb', challenge: pkce().challenge }), { redirect: 'manual' });
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
    expect(pageText(await res.text())).toMatch(reason);
    expect(await shared.store.getClient(clientId)).toBeUndefined();
  });

  it('application_type in a document is honoured like at registration: native with loopback redirects is stored', async () => {
    const clientId = `${docs.origin}/agents/native.json`;
    docs.set('/agents/native.json', { body: doc(clientId, { application_type: 'native' }) });
    const res = await fetch(authorizeUrl(as, { clientId, redirectUri: 'http://127.0.0.1:6111/cb', challenge: pkce().challenge }), { redirect: 'manual' });
    expect(res.status).toBe(302);
    expect((await shared.store.getClient(clientId))!.metadata.application_type).toBe('native');
  });

  it.each([
    [
      'native with an https redirect URI',
      { application_type: 'native', redirect_uris: ['https://app.example/cb'] },
      'https://app.example/cb',
      /redirect_uris\[0\] is not allowed for a native client/,
    ],
    ['web with a loopback redirect URI', { application_type: 'web' }, 'http://127.0.0.1:6111/cb', /redirect_uris\[0\] is not allowed for a web client/],
    ['an unknown application_type', { application_type: 'tv' }, 'http://127.0.0.1:6111/cb', /application_type must be "web" or "native"/],
  ])('a document with %s -> HTML 400 at /authorize, not stored', async (name, extra, redirectUri, reason) => {
    const path = `/agents/type-${name.replace(/\W+/g, '-')}.json`;
    const clientId = `${docs.origin}${path}`;
    docs.set(path, { body: doc(clientId, extra) });
    const res = await fetch(authorizeUrl(as, { clientId, redirectUri, challenge: pkce().challenge }), { redirect: 'manual' });
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
    expect(pageText(await res.text())).toMatch(reason);
    expect(await shared.store.getClient(clientId)).toBeUndefined();
  });

  it('a redirect_uri not in the document -> HTML 400', async () => {
    const clientId = `${docs.origin}/agents/ok2.json`;
    docs.set('/agents/ok2.json', { body: doc(clientId) });
    const res = await fetch(authorizeUrl(as, { clientId, redirectUri: 'http://127.0.0.1:6111/other', challenge: pkce().challenge }), { redirect: 'manual' });
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
  });

  // A gateway with a public publicUrl: client-chosen URLs must be https and public; nothing is fetched otherwise.
  it.each([
    ['http (not https)', (o: string) => `${o}/agents/remote.json`, /must be an https URL/],
    [
      'https to a loopback IP',
      (o: string) => `${o.replace('http:', 'https:')}/agents/ok.json`,
      /127\.0\.0\.1 is a private, loopback, link-local or reserved address/,
    ],
    [
      'https to a name that resolves to loopback',
      (o: string) => `${o.replace('http://127.0.0.1', 'https://localhost')}/agents/ok.json`,
      /resolves to .*(loopback|reserved)/,
    ],
    ['https to a private IP', () => 'https://10.1.2.3/client.json', /10\.1\.2\.3 is a private/],
    ['https to the cloud metadata address', () => 'https://169.254.169.254/latest/meta-data', /169\.254\.169\.254 is a private/],
    ['https to an IPv6 ULA', () => 'https://[fd00::1]/client.json', /fd00::1 is a private/],
    ['no path', () => 'https://example.com/', /must have a path/],
  ])('%s -> refused without fetching', async (_name, url, reason) => {
    const before = docs.connections;
    const res = await remote.app.request(
      authorizeUrl({ origin: 'https://gateway.example' }, { clientId: url(docs.origin), redirectUri: 'http://127.0.0.1:6111/cb', challenge: pkce().challenge }),
    );
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
    expect(pageText(await res.text())).toMatch(reason);
    expect(docs.connections).toBe(before);
  });

  it('turned off -> an https client_id is an unknown client (HTML 400)', async () => {
    const clientId = `${docs.origin}/agents/ok.json`;
    const res = await fetch(authorizeUrl(noReg, { clientId, redirectUri: 'http://127.0.0.1:6111/cb', challenge: pkce().challenge }), { redirect: 'manual' });
    expect(res.status).toBe(400);
    expect(pageText(await res.text())).toMatch(/does not accept Client ID Metadata Documents/);
  });

  it.each([
    ['', 3600],
    ['max-age=60', 300],
    ['public, max-age=7200', 7200],
    ['max-age=999999', 86400],
    ['no-store', 300],
  ])('cache lifetime for Cache-Control "%s" is %i s', (header, ttl) => {
    expect(cacheLifetimeSeconds(header)).toBe(ttl);
  });

  it.each([
    ['8.8.8.8', false, undefined],
    ['127.0.0.1', false, 'private'],
    ['127.0.0.1', true, undefined],
    ['10.0.0.1', true, 'private'],
    ['172.16.5.4', false, 'private'],
    ['192.168.1.1', false, 'private'],
    ['100.64.0.1', false, 'private'],
    ['::1', false, 'private'],
    ['::ffff:10.0.0.1', false, 'private'],
    ['fe80::1', false, 'private'],
    ['2606:4700::1111', false, undefined],
    ['::ffff:8.8.8.8', false, undefined],
    ['64:ff9b::a00:1', false, 'private'],
  ])('address %s (dev loopback %s) -> %s', (address, allowLoopback, problem) => {
    const result = addressProblem(address, { allowLoopback });
    if (problem) expect(result).toMatch(problem);
    else expect(result).toBeUndefined();
  });
});
