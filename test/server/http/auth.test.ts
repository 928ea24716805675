import { createPublicKey } from 'node:crypto';
import { base64url, exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SigningKey, UserSession } from '../../../src/store/index.js';
import { AGENT_A, initializeBody, openSession, post, startHarness, type Harness } from './harness.js';

/**
 * The protected resource's front door (MCP authorization 2025-06-18 / 2025-11-25, RFC 6750 §3,
 * RFC 9728 §5.1): each hostile token is refused with 401 and the exact challenge, and nothing
 * behind the door runs: no audit record, no IdP or SaaS call, no MCP session created.
 */

let h: Harness;
let alice: UserSession;
let signedOut: UserSession;
let key: SigningKey;
let sessionId: string;
let protocolHeaders: Record<string, string>;

beforeAll(async () => {
  h = await startHarness();
  alice = await h.signIn('alice');
  signedOut = await h.store.createUserSession({ iss: alice.iss, sub: alice.sub, idToken: alice.idToken, idTokenExpiresAt: alice.idTokenExpiresAt });
  const good = await h.token(alice);
  key = (await h.store.listSigningKeys())[0]!;
  // A live session of alice's: each hostile request below carries its id and a tools/call, so a
  // token that slipped through would reach the pipeline.
  const s = await openSession(h.mcpUrl, good);
  sessionId = s.sessionId;
  protocolHeaders = { 'Mcp-Session-Id': sessionId, 'MCP-Protocol-Version': s.result.protocolVersion };
});
afterAll(() => h?.close());

const now = () => Math.floor(Date.now() / 1000);

function claims(over: Record<string, unknown> = {}) {
  return {
    iss: h.origin,
    aud: `${h.origin}/mcp`,
    sub: alice.sub,
    idp_iss: alice.iss,
    client_id: AGENT_A.clientId,
    sid: alice.id,
    scope: 'mcp:tools',
    jti: crypto.randomUUID(),
    iat: now(),
    exp: now() + 300,
    ...over,
  };
}

async function sign(payload: Record<string, unknown>, opts: { jwk?: JWK; kid?: string; typ?: string } = {}): Promise<string> {
  const k = await importJWK(opts.jwk ?? (key.privateJwk as JWK), 'ES256');
  return new SignJWT(payload).setProtectedHeader({ alg: 'ES256', kid: opts.kid ?? key.kid, typ: opts.typ ?? 'at+jwt' }).sign(k);
}

const b64 = (o: unknown) => base64url.encode(JSON.stringify(o));

/** Each case yields the Authorization header value (or none) and the error_description expected. */
const HOSTILE: Array<{ name: string; header: () => Promise<string>; description: string }> = [
  {
    name: 'alg none',
    header: async () => `Bearer ${b64({ alg: 'none', typ: 'at+jwt', kid: key.kid })}.${b64(claims())}.`,
    description: 'unsupported alg none',
  },
  {
    name: 'HS256 signed with the public key as the secret',
    header: async () => {
      const secret = new TextEncoder().encode(
        createPublicKey({ key: key.publicJwk as JWK & { kty: string }, format: 'jwk' })
          .export({ format: 'pem', type: 'spki' })
          .toString(),
      );
      return `Bearer ${await new SignJWT(claims()).setProtectedHeader({ alg: 'HS256', kid: key.kid, typ: 'at+jwt' }).sign(secret)}`;
    },
    description: 'unsupported alg HS256',
  },
  {
    name: 'unknown kid',
    header: async () => {
      const { privateKey } = await generateKeyPair('ES256', { extractable: true });
      return `Bearer ${await sign(claims(), { jwk: await exportJWK(privateKey), kid: 'not-a-gateway-key' })}`;
    },
    description: 'unknown signing key',
  },
  {
    name: 'right kid, another key',
    header: async () => {
      const { privateKey } = await generateKeyPair('ES256', { extractable: true });
      return `Bearer ${await sign(claims(), { jwk: await exportJWK(privateKey) })}`;
    },
    description: 'bad signature',
  },
  {
    name: 'bad signature (one byte flipped)',
    header: async () => {
      const [hd, pl, sig] = (await sign(claims())).split('.');
      const bytes = base64url.decode(sig!);
      bytes[10] = bytes[10]! ^ 0x01;
      return `Bearer ${hd}.${pl}.${base64url.encode(bytes)}`;
    },
    description: 'bad signature',
  },
  { name: 'expired', header: async () => `Bearer ${await sign(claims({ iat: now() - 3600, exp: now() - 1800 }))}`, description: 'token expired' },
  { name: 'nbf in the future', header: async () => `Bearer ${await sign(claims({ nbf: now() + 3600 }))}`, description: "claim 'nbf' is not accepted" },
  {
    name: 'wrong aud',
    header: async () => `Bearer ${await sign(claims({ aud: 'https://attacker.example/mcp' }))}`,
    description: "claim 'aud' is not accepted",
  },
  {
    name: 'aud a list naming this resource and another',
    header: async () => `Bearer ${await sign(claims({ aud: [`${h.origin}/mcp`, 'https://other.example/api'] }))}`,
    description: "claim 'aud' must name this resource only",
  },
  {
    name: 'iat a year in the future',
    header: async () => `Bearer ${await sign(claims({ iat: now() + 365 * 86400, exp: now() + 365 * 86400 + 300 }))}`,
    description: "claim 'iat' is in the future",
  },
  {
    name: 'a lifetime of a day',
    header: async () => `Bearer ${await sign(claims({ exp: now() + 86400 }))}`,
    description: 'lifetime (exp - iat) longer than 900 s',
  },
  {
    name: 'exp ten years away',
    header: async () => `Bearer ${await sign(claims({ exp: now() + 10 * 365 * 86400 }))}`,
    description: 'lifetime (exp - iat) longer than 900 s',
  },
  { name: 'wrong iss', header: async () => `Bearer ${await sign(claims({ iss: 'https://attacker.example' }))}`, description: "claim 'iss' is not accepted" },
  {
    name: 'a token for another resource (the demo CRM API)',
    header: async () => `Bearer ${await sign(claims({ aud: `${h.env.demo.urls.crm}/api` }))}`,
    description: "claim 'aud' is not accepted",
  },
  {
    name: 'not an access token (typ JWT, e.g. an ID token shape)',
    header: async () => `Bearer ${await sign(claims(), { typ: 'JWT' })}`,
    description: 'not an access token (typ)',
  },
  {
    name: 'revoked token',
    header: async () => {
      const { token, claims: c } = await h.tokens.issue({ sub: alice.sub, idp_iss: alice.iss, client_id: AGENT_A.clientId, sid: alice.id, scope: 'mcp:tools' });
      await h.store.revokeAccessToken(c.jti, c.exp * 1000);
      return `Bearer ${token}`;
    },
    description: 'token revoked',
  },
  {
    name: 'session signed out',
    header: async () => {
      const token = await h.token(signedOut);
      await h.store.revokeUserSession(signedOut.id, Date.now());
      return `Bearer ${token}`;
    },
    description: 'session signed out',
  },
  { name: 'malformed header: "Bearer" alone', header: async () => 'Bearer', description: "malformed Authorization header; expected 'Bearer <token>'" },
  { name: 'malformed header: Basic scheme', header: async () => 'Basic x', description: "malformed Authorization header; expected 'Bearer <token>'" },
  {
    name: 'malformed header: two tokens',
    header: async () => `Bearer ${await h.token(alice)} ${await h.token(alice)}`,
    description: "malformed Authorization header; expected 'Bearer <token>'",
  },
  {
    name: 'malformed header: two Bearer credentials',
    header: async () => `Bearer ${await h.token(alice)}, Bearer ${await h.token(alice)}`,
    description: "malformed Authorization header; expected 'Bearer <token>'",
  },
  { name: 'oversized token (> 4 KiB)', header: async () => `Bearer ${await sign(claims({ pad: 'x'.repeat(5000) }))}`, description: 'token too large' },
];

function snapshot() {
  const s = h.env.demo.stats;
  return {
    audit: h.sink.records.length,
    exchanges: s.tokenExchanges,
    grants: { ...s.jwtBearerGrants },
    api: { ...s.apiCalls },
    sessions: h.http.sessions.size,
  };
}

/** Without credentials both schemes are offered, Bearer first (RFC 9110 §11.6.1; DPoP: RFC 9449 §7.1). */
const noCredentialsChallenge = () =>
  `Bearer resource_metadata="${h.resourceMetadataUrl}", scope="mcp:tools", ` +
  `DPoP algs="ES256 ES384 PS256 RS256 EdDSA", resource_metadata="${h.resourceMetadataUrl}", scope="mcp:tools"`;

describe('hostile tokens at /mcp', () => {
  it.each(HOSTILE)('$name -> 401 invalid_token, nothing called', async ({ header, description }) => {
    const before = snapshot();
    const res = await post(
      h.mcpUrl,
      { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'calendar_free_slots', arguments: { date: '2026-12-05' } } },
      { ...protocolHeaders, Authorization: await header() },
    );
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe(
      `Bearer error="invalid_token", error_description="${description}", resource_metadata="${h.resourceMetadataUrl}", scope="mcp:tools"`,
    );
    expect(await res.json()).toEqual({ error: 'invalid_token', error_description: description });
    // And the same token cannot open a session either.
    const init = await post(h.mcpUrl, initializeBody(), { Authorization: await header() });
    expect(init.status).toBe(401);
    expect(init.headers.get('mcp-session-id')).toBeNull();
    expect(snapshot()).toEqual(before);
  });

  it.each([
    ['aud the list of this resource alone', () => claims({ aud: [`${h.origin}/mcp`] })],
    ['the longest lifetime the config allows (900 s), iat within the clock skew', () => claims({ iat: now() + 20, exp: now() + 920 })],
  ])('accepted: %s', async (_name, payload) => {
    const res = await post(
      h.mcpUrl,
      { jsonrpc: '2.0', id: 8, method: 'tools/list', params: {} },
      { ...protocolHeaders, Authorization: `Bearer ${await sign(payload())}` },
    );
    expect(res.status).toBe(200);
    await res.body?.cancel();
  });

  it('no Authorization header -> 401 with resource_metadata and scope, no error code', async () => {
    const before = snapshot();
    const res = await post(h.mcpUrl, initializeBody());
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe(noCredentialsChallenge());
    for (const method of ['GET', 'DELETE']) {
      const r = await fetch(h.mcpUrl, { method, headers: { Accept: 'text/event-stream', 'Mcp-Session-Id': sessionId } });
      expect(r.status).toBe(401);
    }
    expect(snapshot()).toEqual(before);
  });

  it('a token in the query string is not a bearer method here (header only)', async () => {
    const res = await post(`${h.mcpUrl}?access_token=${await h.token(alice)}`, initializeBody());
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe(noCredentialsChallenge());
  });

  it('a token without the mcp:tools scope -> 403 insufficient_scope naming the scope', async () => {
    const before = snapshot();
    const token = await h.token(alice, AGENT_A, 'profile');
    const res = await post(
      h.mcpUrl,
      { jsonrpc: '2.0', id: 8, method: 'tools/call', params: { name: 'calendar_free_slots', arguments: { date: '2026-12-05' } } },
      { ...protocolHeaders, Authorization: `Bearer ${token}` },
    );
    expect(res.status).toBe(403);
    const description = "this token lacks the scope mcp:tools; authorize again with scope 'mcp:tools'";
    expect(res.headers.get('www-authenticate')).toBe(
      `Bearer error="insufficient_scope", error_description="${description}", resource_metadata="${h.resourceMetadataUrl}", scope="mcp:tools"`,
    );
    expect(await res.json()).toEqual({ error: 'insufficient_scope', error_description: description });
    expect(snapshot()).toEqual(before);
  });

  it('the session id alone is nothing: the good session still works with a good token', async () => {
    const res = await post(h.mcpUrl, { jsonrpc: '2.0', id: 9, method: 'tools/list' }, { ...protocolHeaders, Authorization: `Bearer ${await h.token(alice)}` });
    expect(res.status).toBe(200);
  });
});

describe('RFC 9728 protected resource metadata', () => {
  const expected = () => ({
    resource: `${h.origin}/mcp`,
    authorization_servers: [h.origin],
    scopes_supported: ['mcp:tools'],
    bearer_methods_supported: ['header'],
    resource_name: 'xaa-gateway',
    dpop_signing_alg_values_supported: ['ES256', 'ES384', 'PS256', 'RS256', 'EdDSA'],
  });

  it.each(['/.well-known/oauth-protected-resource/mcp', '/.well-known/oauth-protected-resource'])('GET %s', async (path) => {
    const res = await fetch(`${h.origin}${path}`, { headers: { Origin: 'https://any-browser-client.example' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(await res.json()).toEqual(expected());
  });

  it('names the mounted authorization server, whose metadata advertises the same scopes and offline_access (the AS only: MCP 2026-07-28 "Refresh Tokens")', async () => {
    const as = await (await fetch(`${h.origin}/.well-known/oauth-authorization-server`)).json();
    expect(as.issuer).toBe(expected().authorization_servers[0]);
    expect(as.scopes_supported).toEqual([...expected().scopes_supported, 'offline_access']);
  });

  it('the 401 challenge points at the document, and the document names the URL the client used', async () => {
    const res = await post(h.mcpUrl, initializeBody());
    const url = /resource_metadata="([^"]+)"/.exec(res.headers.get('www-authenticate')!)![1]!;
    const doc = await (await fetch(url)).json();
    expect(doc.resource).toBe(h.mcpUrl);
  });
});
