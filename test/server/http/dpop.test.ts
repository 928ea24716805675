import { decodeJwt, importJWK, SignJWT, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DpopClient, DpopNonces, generateDpopKey, signProof, type DpopKey } from '../../../src/dpop/index.js';
import { sha256 } from '../../../src/inbound/http/as/http.js';
import { dpopNonceSecret } from '../../../src/inbound/http/dpop.js';
import { basic, Browser, pkce, postToken, signIn } from '../../inbound/http/as-harness.js';
import { ALLOWED_ORIGIN, ENCRYPTION_KEY, initializeBody, post, rpcMessage, serverSection, startHarness, type Harness } from './harness.js';

/**
 * Inbound DPoP (RFC 9449) over loopback, against the demo enterprise: the gateway's /token binds
 * access tokens (and public clients' refresh tokens) to the key of the client's proof, and /mcp
 * takes a bound token only as `DPoP <token>` with a proof of that key for that request. Every
 * refusal is checked for its exact status, challenge and body, and for reaching nothing behind the
 * door (no audit record, no MCP session).
 */

const ALGS = 'ES256 ES384 PS256 RS256 EdDSA';
const MANY = { windowSeconds: 60, perAddress: 1000, perClient: 1000 };
const REDIRECT = 'http://127.0.0.1:5555/cb';
/** Pre-registered in the config with dpopBoundAccessTokens. */
const CONFIG_DPOP_CLIENT = 'dpop-desktop';

let h: Harness;
const tokenUrl = () => `${h.origin}/token`;

/** The server section with `server.dpop` as given (hot-reloaded: every check reads it per request). */
function configure(dpop: { required?: boolean; nonce?: boolean } = {}): void {
  h.env.writeConfig((c) => {
    c.server = {
      ...serverSection(h.origin, h.env.dir),
      rateLimits: { register: MANY, authorize: MANY, token: MANY },
      clients: [{ clientId: CONFIG_DPOP_CLIENT, clientName: 'DPoP Desktop', redirectUris: [REDIRECT], dpopBoundAccessTokens: true }],
      dpop,
    };
  });
  h.config.reload();
  expect(h.config.current.config.server!.dpop).toMatchObject({ required: false, nonce: false, proofMaxAgeSeconds: 60, ...dpop });
}

beforeAll(async () => {
  h = await startHarness();
  configure();
});
afterAll(() => h?.close());

interface Client {
  clientId: string;
  secret?: string;
}

async function register(meta: Record<string, unknown> = {}): Promise<Client> {
  const res = await fetch(`${h.origin}/register`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ client_name: 'DPoP Test Agent', redirect_uris: [REDIRECT], ...meta }),
  });
  const body = (await res.json()) as { client_id: string; client_secret?: string };
  expect(res.status, JSON.stringify(body)).toBe(201);
  return { clientId: body.client_id, ...(body.client_secret ? { secret: body.client_secret } : {}) };
}

/** /authorize -> the IdP's form -> consent -> the code at the redirect URI. */
async function authorize(client: Client, user = 'alice'): Promise<{ code: string; verifier: string }> {
  const browser = new Browser();
  const { verifier, challenge } = pkce();
  const outcome = await signIn(browser, h, { clientId: client.clientId, redirectUri: REDIRECT, challenge, user });
  let location: URL;
  if (outcome.kind === 'consent') {
    const allow = await browser.postForm(
      `${h.origin}/oauth/consent`,
      { request_id: outcome.requestId, csrf: outcome.csrf, decision: 'allow' },
      { Origin: h.origin },
    );
    expect(allow.status).toBe(303);
    location = new URL(allow.headers.get('location')!);
  } else {
    location = outcome.location;
  }
  return { code: location.searchParams.get('code')!, verifier };
}

/** Client authentication as the client registered: HTTP Basic when it has a secret, client_id otherwise. */
function auth(client: Client): { form: Record<string, string>; headers: Record<string, string> } {
  return client.secret
    ? { form: {}, headers: { Authorization: basic(client.clientId, client.secret) } }
    : { form: { client_id: client.clientId }, headers: {} };
}

function codeGrant(client: Client, grant: { code: string; verifier: string }, dpop?: string) {
  const a = auth(client);
  return postToken(
    h,
    { grant_type: 'authorization_code', code: grant.code, redirect_uri: REDIRECT, code_verifier: grant.verifier, ...a.form },
    { ...a.headers, ...(dpop !== undefined ? { DPoP: dpop } : {}) },
  );
}

function refreshGrant(client: Client, refreshToken: string, dpop?: string) {
  const a = auth(client);
  return postToken(h, { grant_type: 'refresh_token', refresh_token: refreshToken, ...a.form }, { ...a.headers, ...(dpop !== undefined ? { DPoP: dpop } : {}) });
}

/** A sign-in with a proof of `dpop`'s key: the token response. */
async function dpopSignIn(client: Client, dpop: DpopClient) {
  const res = await codeGrant(client, await authorize(client), await dpop.proof('POST', tokenUrl()));
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body as { access_token: string; refresh_token?: string; token_type: string };
}

const mcp = (authorization: string | undefined, proof?: string, body: unknown = initializeBody(), headers: Record<string, string> = {}) =>
  post(h.mcpUrl, body, { ...(authorization ? { Authorization: authorization } : {}), ...(proof !== undefined ? { DPoP: proof } : {}), ...headers });

/** What a refused request must not have changed. */
const snapshot = () => ({ audit: h.sink.records.length, sessions: h.http.sessions.size });

/** The exact challenge of a refusal at /mcp. */
function challenge(scheme: 'Bearer' | 'DPoP', error: string, description: string): string {
  const algs = scheme === 'DPoP' ? `algs="${ALGS}", ` : '';
  return `${scheme} error="${error}", error_description="${description}", ${algs}resource_metadata="${h.resourceMetadataUrl}", scope="mcp:tools"`;
}

async function expectRefused(res: Response, scheme: 'Bearer' | 'DPoP', error: string, description: string): Promise<void> {
  expect(res.status).toBe(401);
  expect(res.headers.get('www-authenticate')).toBe(challenge(scheme, error, description));
  expect(await res.json()).toEqual({ error, error_description: description });
  expect(res.headers.get('mcp-session-id')).toBeNull();
}

describe('metadata (RFC 9449 §5.1, RFC 9728 §2)', () => {
  it('the AS names the proof algorithms; the resource names them, and not yet a requirement', async () => {
    const as = await (await fetch(`${h.origin}/.well-known/oauth-authorization-server`)).json();
    expect(as.dpop_signing_alg_values_supported).toEqual(ALGS.split(' '));
    const prm = await (await fetch(h.resourceMetadataUrl)).json();
    expect(prm.dpop_signing_alg_values_supported).toEqual(ALGS.split(' '));
    expect(prm).not.toHaveProperty('dpop_bound_access_tokens_required');
  });

  it.each([
    ['/mcp', () => h.mcpUrl],
    ['/token', () => tokenUrl()],
  ])('CORS at %s lets a browser send DPoP and read DPoP-Nonce', async (_, url) => {
    const pre = await fetch(url(), {
      method: 'OPTIONS',
      headers: { Origin: ALLOWED_ORIGIN, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization, dpop' },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-headers')).toMatch(/(^|,)\s*DPoP\s*(,|$)/);
    const res = await fetch(url(), { method: 'POST', headers: { Origin: ALLOWED_ORIGIN, 'Content-Type': 'application/json' }, body: '{}' });
    expect(res.headers.get('access-control-expose-headers')).toMatch(/(^|,)\s*DPoP-Nonce\s*(,|$)/);
  });

  it('registration keeps dpop_bound_access_tokens (RFC 9449 §5.2) and refuses a non-boolean', async () => {
    const ok = await fetch(`${h.origin}/register`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ redirect_uris: [REDIRECT], dpop_bound_access_tokens: true }),
    });
    expect(ok.status).toBe(201);
    expect((await ok.json()).dpop_bound_access_tokens).toBe(true);
    const bad = await fetch(`${h.origin}/register`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ redirect_uris: [REDIRECT], dpop_bound_access_tokens: 'yes' }),
    });
    expect([bad.status, await bad.json()]).toEqual([
      400,
      { error: 'invalid_client_metadata', error_description: 'dpop_bound_access_tokens must be a boolean' },
    ]);
  });
});

describe('a DPoP sign-in and /mcp calls with proofs', () => {
  let key: DpopKey;
  let dpop: DpopClient;
  let client: Client;
  let tokens: { access_token: string; refresh_token?: string; token_type: string };
  let unbound: string;

  beforeAll(async () => {
    unbound = await h.token(await h.signIn('alice'));
    key = await generateDpopKey();
    dpop = new DpopClient(key, Date.now);
    client = await register();
    tokens = await dpopSignIn(client, dpop);
  });

  it('/token answers token_type DPoP with cnf.jkt = the key thumbprint (RFC 9449 §5, §6.1)', async () => {
    expect(tokens.token_type).toBe('DPoP');
    expect(decodeJwt(tokens.access_token)).toMatchObject({ cnf: { jkt: key.jkt }, client_id: client.clientId, sub: 'u-alice' });
    expect(tokens.refresh_token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const record = await h.store.getRefreshToken(sha256(tokens.refresh_token!));
    expect(record?.dpopJkt).toBe(key.jkt);
  });

  it('initialize, initialized and tools/call, each with a fresh proof: served and audited under the agent', async () => {
    const t = tokens.access_token;
    const init = await mcp(`DPoP ${t}`, await dpop.proof('POST', h.mcpUrl, t));
    expect(init.status).toBe(200);
    const sessionId = init.headers.get('mcp-session-id')!;
    const version = (await rpcMessage(init)).result.protocolVersion as string;
    const session = { 'Mcp-Session-Id': sessionId, 'MCP-Protocol-Version': version };
    const ack = await mcp(`DPoP ${t}`, await dpop.proof('POST', h.mcpUrl, t), { jsonrpc: '2.0', method: 'notifications/initialized' }, session);
    expect(ack.status).toBe(202);
    h.sink.records = [];
    const call = await mcp(
      `DPoP ${t}`,
      await dpop.proof('POST', h.mcpUrl, t),
      { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'calendar_free_slots', arguments: { date: '2026-12-05' } } },
      session,
    );
    expect(call.status).toBe(200);
    const msg = await rpcMessage(call);
    expect(msg.result.isError ?? false, JSON.stringify(msg)).toBe(false);
    await h.gateway.flush();
    expect(h.sink.records.map((r) => r.phase)).toEqual(['decision', 'outcome']);
    expect(h.sink.records[0]).toMatchObject({
      decision: 'allow',
      tool: 'calendar_free_slots',
      user: { sub: 'u-alice' },
      agent: { clientId: client.clientId, name: 'DPoP Test Agent' },
    });
    // The session's GET stream and DELETE take proofs of their own method.
    const del = await fetch(h.mcpUrl, { method: 'DELETE', headers: { Authorization: `DPoP ${t}`, DPoP: await dpop.proof('DELETE', h.mcpUrl, t), ...session } });
    expect(del.status).toBe(200);
  });

  /** Each case: the Authorization header, the DPoP header, and the exact refusal (RFC 9449 §7.1, §7.2). */
  const MISUSE: Array<{
    name: string;
    authorization?: () => Promise<string>;
    proof: () => Promise<string | undefined>;
    scheme?: 'Bearer' | 'DPoP';
    error?: string;
    description: () => string;
  }> = [
    {
      name: 'a proof signed with another key',
      proof: async () => signProof(await generateDpopKey(), { htm: 'POST', htu: h.mcpUrl, accessToken: tokens.access_token, now: Date.now() }),
      description: () => 'the proof was signed with another key than the one the token is bound to (cnf.jkt)',
    },
    {
      name: 'a replayed proof',
      proof: async () => {
        const p = await dpop.proof('POST', h.mcpUrl, tokens.access_token);
        const first = await mcp(`DPoP ${tokens.access_token}`, p);
        expect(first.status).toBe(200);
        await first.body?.cancel();
        return p;
      },
      description: () => 'the proof was used before (jti replayed)',
    },
    {
      name: 'a proof for another URL (htu)',
      proof: () => dpop.proof('POST', tokenUrl(), tokens.access_token),
      description: () => `the proof's htu is ${tokenUrl()}, the request went to ${h.mcpUrl}`,
    },
    {
      name: 'a proof for another method (htm)',
      proof: () => dpop.proof('GET', h.mcpUrl, tokens.access_token),
      description: () => "the proof's htm is 'GET', the request's method POST",
    },
    {
      name: 'a proof without ath',
      proof: () => dpop.proof('POST', h.mcpUrl),
      description: () => 'the proof has no ath: a proof sent with an access token must carry its hash',
    },
    {
      name: 'a proof whose ath is of another token',
      proof: () => dpop.proof('POST', h.mcpUrl, `${tokens.access_token}x`),
      description: () => 'the proof was made for another access token (ath)',
    },
    {
      name: 'no proof',
      proof: async () => undefined,
      description: () => 'the DPoP header is missing',
    },
    {
      name: 'two proofs',
      proof: async () => `${await dpop.proof('POST', h.mcpUrl, tokens.access_token)}, ${await dpop.proof('POST', h.mcpUrl, tokens.access_token)}`,
      // RFC 6750 §3: error_description is printable ASCII, so the section sign is dropped.
      description: () => 'the DPoP header must hold exactly one proof JWT (RFC 9449 4.3)',
    },
    {
      name: 'the bound token as a bearer token (RFC 9449 §7.2)',
      authorization: async () => `Bearer ${tokens.access_token}`,
      proof: () => dpop.proof('POST', h.mcpUrl, tokens.access_token),
      scheme: 'DPoP',
      error: 'invalid_token',
      description: () => "this token is DPoP-bound: send it as 'Authorization: DPoP <token>' with a DPoP proof",
    },
    {
      name: 'an unbound token with the DPoP scheme',
      authorization: async () => `DPoP ${unbound}`,
      proof: () => dpop.proof('POST', h.mcpUrl),
      scheme: 'Bearer',
      error: 'invalid_token',
      description: () => "this token is not DPoP-bound: send it as 'Authorization: Bearer <token>'",
    },
    {
      name: 'a malformed DPoP Authorization header',
      authorization: async () => `DPoP ${tokens.access_token} extra`,
      proof: () => dpop.proof('POST', h.mcpUrl, tokens.access_token),
      error: 'invalid_token',
      description: () => "malformed Authorization header; expected 'DPoP <token>'",
    },
  ];

  it('a token signed by the gateway whose cnf is not a key thumbprint -> 401 invalid_token (tokens.ts)', async () => {
    const key = (await h.store.listSigningKeys()).find((k) => !k.retiredAt)!;
    const claims = { ...decodeJwt(tokens.access_token), jti: crypto.randomUUID(), cnf: { jkt: 'short' } };
    const forged = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid: key.kid, typ: 'at+jwt' })
      .sign(await importJWK(key.privateJwk as JWK, 'ES256'));
    const before = snapshot();
    await expectRefused(
      await mcp(`DPoP ${forged}`, await dpop.proof('POST', h.mcpUrl, forged)),
      'DPoP',
      'invalid_token',
      "claim 'cnf' must hold a DPoP key thumbprint (jkt)",
    );
    expect(snapshot()).toEqual(before);
  });

  it.each(MISUSE)('$name -> 401, nothing behind the door', async (c) => {
    const authorization = c.authorization ? await c.authorization() : `DPoP ${tokens.access_token}`;
    const proof = await c.proof();
    const before = snapshot();
    const res = await mcp(authorization, proof);
    await expectRefused(res, c.scheme ?? 'DPoP', c.error ?? 'invalid_dpop_proof', c.description());
    expect(snapshot()).toEqual(before);
  });

  it('refresh: a proof of the same key gets a new bound token; another key or none is refused and spends nothing (RFC 9449 §5)', async () => {
    const other = new DpopClient(await generateDpopKey(), Date.now);
    const refused = [
      [await other.proof('POST', tokenUrl()), 'the refresh token is bound to another DPoP key than the one that signed this proof (RFC 9449 §5)'],
      [undefined, 'the refresh token is bound to a DPoP key: send a DPoP proof signed with that key (RFC 9449 §5)'],
    ] as const;
    for (const [proof, description] of refused) {
      const res = await refreshGrant(client, tokens.refresh_token!, proof);
      expect([res.status, res.body]).toEqual([400, { error: 'invalid_dpop_proof', error_description: description }]);
    }
    const ok = await refreshGrant(client, tokens.refresh_token!, await dpop.proof('POST', tokenUrl()));
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect(ok.body.token_type).toBe('DPoP');
    expect(decodeJwt(ok.body.access_token).cnf).toEqual({ jkt: key.jkt });
    // The rotated token keeps the binding.
    const again = await refreshGrant(client, ok.body.refresh_token, await other.proof('POST', tokenUrl()));
    expect([again.status, again.body.error]).toEqual([400, 'invalid_dpop_proof']);
  });
});

describe('/token refuses bad proofs before spending the code', () => {
  let client: Client;
  let grant: { code: string; verifier: string };
  let key: DpopKey;
  let dpop: DpopClient;

  beforeAll(async () => {
    client = await register();
    grant = await authorize(client);
    key = await generateDpopKey();
    dpop = new DpopClient(key, Date.now);
  });

  const BAD: Array<{ name: string; proof: () => Promise<string>; description: () => string | RegExp }> = [
    { name: 'not a JWT', proof: async () => 'not-a-proof', description: () => 'the DPoP header must hold exactly one proof JWT (RFC 9449 §4.3)' },
    {
      name: 'two proofs',
      proof: async () => `${await dpop.proof('POST', tokenUrl())}, ${await dpop.proof('POST', tokenUrl())}`,
      description: () => 'the DPoP header must hold exactly one proof JWT (RFC 9449 §4.3)',
    },
    { name: 'htu of /mcp', proof: () => dpop.proof('POST', h.mcpUrl), description: () => `the proof's htu is ${h.mcpUrl}, the request went to ${tokenUrl()}` },
    { name: 'htm GET', proof: () => dpop.proof('GET', tokenUrl()), description: () => `the proof's htm is "GET", the request's method POST` },
    {
      name: 'issued two minutes ago',
      proof: () => signProof(key, { htm: 'POST', htu: tokenUrl(), now: Date.now() - 120_000 }),
      description: () => /^the proof is too old \(issued 12\d s ago\)$/,
    },
    {
      name: 'replayed (its first use got invalid_grant)',
      proof: async () => {
        const p = await dpop.proof('POST', tokenUrl());
        const first = await codeGrant(client, { ...grant, code: 'x'.repeat(43) }, p);
        expect([first.status, first.body.error]).toEqual([400, 'invalid_grant']);
        return p;
      },
      description: () => 'the proof was used before (jti replayed)',
    },
  ];

  it.each(BAD)('$name -> 400 invalid_dpop_proof', async ({ proof, description }) => {
    const res = await codeGrant(client, grant, await proof());
    expect(res.status).toBe(400);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.body.error).toBe('invalid_dpop_proof');
    const expected = description();
    if (typeof expected === 'string') expect(res.body.error_description).toBe(expected);
    else expect(res.body.error_description).toMatch(expected);
  });

  it('the code still works with a good proof afterwards', async () => {
    const res = await codeGrant(client, grant, await dpop.proof('POST', tokenUrl()));
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.token_type).toBe('DPoP');
    expect(decodeJwt(res.body.access_token).cnf).toEqual({ jkt: key.jkt });
  });
});

describe('client policy (RFC 9449 §5.2) and Bearer', () => {
  it.each([
    ['registered with dpop_bound_access_tokens (RFC 7591)', () => register({ dpop_bound_access_tokens: true })],
    ['pre-registered with dpopBoundAccessTokens', async (): Promise<Client> => ({ clientId: CONFIG_DPOP_CLIENT })],
  ])('%s: refused at /token without a proof, served with one', async (_, make) => {
    const client = await make();
    const grant = await authorize(client);
    const refused = await codeGrant(client, grant);
    expect([refused.status, refused.body]).toEqual([
      400,
      {
        error: 'invalid_dpop_proof',
        error_description: 'this client registered dpop_bound_access_tokens: send a DPoP proof with every token request (RFC 9449 §5.2)',
      },
    ]);
    const ok = await codeGrant(client, grant, await new DpopClient(await generateDpopKey(), Date.now).proof('POST', tokenUrl()));
    expect([ok.status, ok.body.token_type]).toEqual([200, 'DPoP']);
  });

  it('a client without a proof gets a Bearer token, and /mcp serves it (server.dpop.required false)', async () => {
    const client = await register();
    const res = await codeGrant(client, await authorize(client));
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.token_type).toBe('Bearer');
    expect(decodeJwt(res.body.access_token)).not.toHaveProperty('cnf');
    const init = await mcp(`Bearer ${res.body.access_token}`);
    expect(init.status).toBe(200);
    await init.body?.cancel();
    // Its refresh token is not bound: a refresh without a proof is served.
    const refreshed = await refreshGrant(client, res.body.refresh_token);
    expect([refreshed.status, refreshed.body.token_type]).toEqual([200, 'Bearer']);
  });

  it("a confidential client's refresh token is not bound (RFC 9449 §5): each refresh binds to the proof it carries, if any", async () => {
    const client = await register({ token_endpoint_auth_method: 'client_secret_basic' });
    const first = new DpopClient(await generateDpopKey(), Date.now);
    const tokens = await dpopSignIn(client, first);
    expect(decodeJwt(tokens.access_token).cnf).toEqual({ jkt: first.key.jkt });
    const plain = await refreshGrant(client, tokens.refresh_token!);
    expect([plain.status, plain.body.token_type]).toEqual([200, 'Bearer']);
    const second = new DpopClient(await generateDpopKey(), Date.now);
    const rebound = await refreshGrant(client, plain.body.refresh_token, await second.proof('POST', tokenUrl()));
    expect([rebound.status, rebound.body.token_type]).toEqual([200, 'DPoP']);
    expect(decodeJwt(rebound.body.access_token).cnf).toEqual({ jkt: second.key.jkt });
  });
});

describe('server nonces (server.dpop.nonce, RFC 9449 §8, §9)', () => {
  let dpop: DpopClient;
  let client: Client;
  let bound: string;

  beforeAll(async () => {
    configure();
    dpop = new DpopClient(await generateDpopKey(), Date.now);
    client = await register();
    bound = (await dpopSignIn(client, dpop)).access_token;
    configure({ nonce: true });
  });
  afterAll(() => configure());

  const NONCE = /^[0-9a-z]{1,12}\.[\w-]{43}$/;
  const stale = () => new DpopNonces(dpopNonceSecret(ENCRYPTION_KEY)).issue(Date.now() - 15 * 60_000);

  it.each([
    ['no nonce', () => undefined, 'a DPoP nonce is required'],
    ['a stale nonce (15 minutes old)', stale, 'the DPoP nonce is stale'],
    ['a nonce of another deployment', () => new DpopNonces(Buffer.alloc(32, 7)).issue(Date.now()), 'the DPoP nonce is stale'],
  ])('/mcp with %s -> 401 use_dpop_nonce and a DPoP-Nonce to retry with', async (_, nonce, description) => {
    const n = nonce();
    const proof = await signProof(dpop.key, { htm: 'POST', htu: h.mcpUrl, accessToken: bound, now: Date.now(), ...(n ? { nonce: n } : {}) });
    const before = snapshot();
    const res = await mcp(`DPoP ${bound}`, proof);
    const fresh = res.headers.get('dpop-nonce');
    await expectRefused(res, 'DPoP', 'use_dpop_nonce', description);
    expect(snapshot()).toEqual(before);
    expect(fresh).toMatch(NONCE);
    // The client retries with the nonce it was given (what DpopClient does): served.
    const retry = new DpopClient(dpop.key, Date.now);
    expect(retry.remember(new Response(null, { headers: { 'DPoP-Nonce': fresh! } }), h.mcpUrl)).toBe(true);
    const ok = await mcp(`DPoP ${bound}`, await retry.proof('POST', h.mcpUrl, bound));
    expect(ok.status).toBe(200);
    await ok.body?.cancel();
  });

  it('/token without a nonce -> 400 use_dpop_nonce with DPoP-Nonce; the retry is served, with the next nonce', async () => {
    const fresh = new DpopClient(await generateDpopKey(), Date.now);
    const grant = await authorize(client);
    const first = await codeGrant(client, grant, await fresh.proof('POST', tokenUrl()));
    expect([first.status, first.body]).toEqual([400, { error: 'use_dpop_nonce', error_description: 'a DPoP nonce is required' }]);
    expect(first.headers.get('dpop-nonce')).toMatch(NONCE);
    expect(fresh.remember(new Response(null, { headers: first.headers }), tokenUrl())).toBe(true);
    const stalled = await codeGrant(client, grant, await signProof(fresh.key, { htm: 'POST', htu: tokenUrl(), now: Date.now(), nonce: stale() }));
    expect([stalled.status, stalled.body]).toEqual([400, { error: 'use_dpop_nonce', error_description: 'the DPoP nonce is stale' }]);
    const ok = await codeGrant(client, grant, await fresh.proof('POST', tokenUrl()));
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect(ok.body.token_type).toBe('DPoP');
    expect(ok.headers.get('dpop-nonce')).toMatch(NONCE);
  });
});

describe('server.dpop.required', () => {
  let bearer: string;
  let bound: string;
  let dpop: DpopClient;

  beforeAll(async () => {
    configure();
    bearer = await h.token(await h.signIn('alice'));
    dpop = new DpopClient(await generateDpopKey(), Date.now);
    bound = (await dpopSignIn(await register(), dpop)).access_token;
    configure({ required: true });
  });
  afterAll(() => configure());

  it('the resource metadata says so (RFC 9728 §2), and a request without credentials is offered DPoP only', async () => {
    const prm = await (await fetch(h.resourceMetadataUrl)).json();
    expect(prm.dpop_bound_access_tokens_required).toBe(true);
    const res = await mcp(undefined);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe(`DPoP algs="${ALGS}", resource_metadata="${h.resourceMetadataUrl}", scope="mcp:tools"`);
    expect(await res.json()).toEqual({ error: 'unauthorized', error_description: 'a DPoP-bound access token is required' });
  });

  it('a Bearer token is refused at /mcp; a bound one is served', async () => {
    const before = snapshot();
    await expectRefused(
      await mcp(`Bearer ${bearer}`),
      'DPoP',
      'invalid_token',
      'this gateway accepts only DPoP-bound access tokens (server.dpop.required): get a token with a DPoP proof',
    );
    expect(snapshot()).toEqual(before);
    const ok = await mcp(`DPoP ${bound}`, await dpop.proof('POST', h.mcpUrl, bound));
    expect(ok.status).toBe(200);
    await ok.body?.cancel();
  });

  it('/token refuses a client without a proof', async () => {
    const client = await register();
    const res = await codeGrant(client, await authorize(client));
    expect([res.status, res.body]).toEqual([
      400,
      {
        error: 'invalid_dpop_proof',
        error_description: 'this gateway issues only DPoP-bound access tokens (server.dpop.required): send a DPoP proof (RFC 9449 §5)',
      },
    ]);
  });
});
