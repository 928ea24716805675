import { randomBytes } from 'node:crypto';
import { decodeJwt, exportJWK, generateKeyPair, SignJWT, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listSessionViews } from '../../../src/control/session-view.js';
import { defaultDeps, type Deps } from '../../../src/deps.js';
import { generateDpopKey, signProof } from '../../../src/dpop/index.js';
import { GATEWAY_SCOPE } from '../../../src/inbound/http/as/index.js';
import { basic, CONFIDENTIAL_CLIENT, CONFIDENTIAL_SECRET, postToken, PUBLIC_CLIENT, startAs, startShared, type AsServer, type Shared } from './as-harness.js';

/**
 * Enterprise-managed sign-in at the gateway's authorization server (MCP Enterprise-Managed
 * Authorization, SEP-990): the jwt-bearer grant (RFC 7523 §2.1) with an ID-JAG from the enterprise
 * IdP. The IdP's signing key here is the test's own: its JWKS is served in place of the demo IdP's
 * (through the injected fetch), so every row can be a correctly signed assertion with one thing wrong.
 */

const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const idpKey = await generateKeyPair('ES256');
const otherKey = await generateKeyPair('ES256');
const KID = 'test-idp-key';
const publicJwk = { ...(await exportJWK(idpKey.publicKey)), kid: KID, alg: 'ES256', use: 'sig' };

let shared: Shared;
let as: AsServer;
let off: AsServer;
/** Added to the clock of the AS (not of the assertions' signer) to reach past an ID-JAG's expiry. */
let ahead = 0;
let jwksFetches = 0;

beforeAll(async () => {
  shared = await startShared();
  const jwksUri = `${shared.demo.urls.idp}/jwks`;
  const deps: Deps = {
    now: () => Date.now() + ahead,
    fetch: (input, init) => {
      const url = input instanceof Request ? input.url : String(input);
      if (url === jwksUri) {
        jwksFetches++;
        return Promise.resolve(Response.json({ keys: [publicJwk] }));
      }
      return defaultDeps.fetch(input, init);
    },
  };
  const many = { windowSeconds: 60, perAddress: 10_000, perClient: 10_000 };
  as = await startAs(shared, {
    server: { enterpriseManaged: { enabled: true }, rateLimits: { register: many, authorize: many, token: many } },
    deps,
    name: 'ema',
  });
  off = await startAs(shared, { deps, name: 'ema-off' });
});
afterAll(async () => {
  await Promise.all([as?.close(), off?.close()]);
  await shared?.close();
});

interface Mint {
  claims?: Record<string, unknown>;
  /** Claims to leave out. */
  omit?: string[];
  header?: Record<string, unknown>;
  key?: CryptoKey;
}

/** An ID-JAG for the gateway as the enterprise IdP issues it (draft-ietf-oauth-identity-assertion-authz-grant §3.1), then altered. */
async function mint(m: Mint = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const claims: Record<string, unknown> = {
    iss: shared.demo.urls.idp,
    sub: 'u-alice',
    aud: as.origin,
    client_id: CONFIDENTIAL_CLIENT.clientId,
    jti: randomBytes(12).toString('base64url'),
    iat: now,
    exp: now + 300,
    scope: GATEWAY_SCOPE,
    resource: `${as.origin}/mcp`,
    email: 'alice@acme.example',
    ...m.claims,
  };
  for (const k of m.omit ?? []) delete claims[k];
  return new SignJWT(claims as JWTPayload)
    .setProtectedHeader({ alg: 'ES256', kid: KID, typ: 'oauth-id-jag+jwt', ...m.header })
    .sign(m.key ?? idpKey.privateKey);
}

const confidential = { authorization: basic(CONFIDENTIAL_CLIENT.clientId, CONFIDENTIAL_SECRET) };

function redeem(assertion: string | undefined, opts: { server?: AsServer; form?: Record<string, string>; headers?: Record<string, string> } = {}) {
  return postToken(
    opts.server ?? as,
    { grant_type: JWT_BEARER, ...(assertion !== undefined ? { assertion } : {}), ...opts.form },
    opts.headers ?? confidential,
  );
}

describe('metadata (RFC 8414, draft-ietf-oauth-identity-assertion-authz-grant §7.2)', () => {
  it('advertises the jwt-bearer grant and the id-jag grant profile when server.enterpriseManaged is on', async () => {
    const meta = (await (await fetch(`${as.origin}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>;
    expect(meta.grant_types_supported).toEqual(['authorization_code', 'refresh_token', JWT_BEARER]);
    expect(meta.authorization_grant_profiles_supported).toEqual(['urn:ietf:params:oauth:grant-profile:id-jag']);
  });

  it('off (the default): neither advertised, and the grant is unsupported_grant_type', async () => {
    const meta = (await (await fetch(`${off.origin}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>;
    expect(meta.grant_types_supported).toEqual(['authorization_code', 'refresh_token']);
    expect(meta.authorization_grant_profiles_supported).toBeUndefined();
    const res = await redeem(await mint({ claims: { aud: off.origin, resource: `${off.origin}/mcp` } }), { server: off });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: 'unsupported_grant_type', error_description: 'supported grant types: authorization_code, refresh_token' });
  });
});

describe('redeeming an ID-JAG', () => {
  it('issues an access token for the user that ends no later than the ID-JAG, no refresh token, and keeps the ID-JAG with the session', async () => {
    const assertion = await mint({ claims: { exp: Math.floor(Date.now() / 1000) + 120 } });
    const { exp: idJagExp } = decodeJwt(assertion);
    const sent = Math.floor(Date.now() / 1000);
    const res = await redeem(assertion);
    const answered = Math.ceil(Date.now() / 1000);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.body).toMatchObject({ token_type: 'Bearer', scope: GATEWAY_SCOPE });
    expect(res.body.refresh_token).toBeUndefined();
    // Whatever the machine's speed: the token ends exactly when the ID-JAG does (the TTL is longer).
    expect(res.body.expires_in).toBeGreaterThanOrEqual(idJagExp! - answered);
    expect(res.body.expires_in).toBeLessThanOrEqual(idJagExp! - sent);
    const claims = await as.tokens.verify(res.body.access_token);
    expect(claims).toMatchObject({ sub: 'u-alice', idp_iss: shared.demo.urls.idp, client_id: CONFIDENTIAL_CLIENT.clientId, aud: `${as.origin}/mcp` });
    expect(claims.exp).toBeLessThanOrEqual(idJagExp!);
    const session = await shared.store.getUserSession(claims.sid);
    expect(session).toMatchObject({
      sub: 'u-alice',
      email: 'alice@acme.example',
      subjectTokenType: 'id-jag',
      idToken: assertion,
      idTokenExpiresAt: idJagExp! * 1000,
    });
    // The admin API and console show it as what it is: no refresh grant, ends with the ID-JAG.
    const view = (await listSessionViews(shared.store)).find((v) => v.id === claims.sid);
    expect(view).toMatchObject({ user: { sub: 'u-alice' }, enterpriseManaged: { endsAt: idJagExp! * 1000 }, agents: [] });
  });

  it('an access token asked for by a long-lived configuration still ends with the ID-JAG (60 s left: at most 60 s)', async () => {
    const res = await redeem(await mint({ claims: { exp: Math.floor(Date.now() / 1000) + 60 } }));
    expect(res.status).toBe(200);
    expect(res.body.expires_in).toBeLessThanOrEqual(60);
  });

  it('re-redemption is refused (draft-parecki-oauth-identity-assertion-gateways §4), also when two arrive at once', async () => {
    const assertion = await mint();
    expect((await redeem(assertion)).status).toBe(200);
    const again = await redeem(assertion);
    expect(again.status).toBe(400);
    expect(again.body).toEqual({
      error: 'invalid_grant',
      error_description: 'this ID-JAG was already redeemed: ask the enterprise IdP for a fresh one (each is redeemed once)',
    });
    const racing = await mint();
    const both = await Promise.all([redeem(racing), redeem(racing)]);
    expect(both.map((r) => r.status).sort()).toEqual([200, 400]);
  });

  it('a redeemed ID-JAG stays spent for as long as it could be accepted: past its exp, within the clock skew allowed', async () => {
    const exp = Math.floor(Date.now() / 1000) + 60;
    const assertion = await mint({ claims: { exp } });
    expect((await redeem(assertion)).status).toBe(200);
    try {
      // 15 s past exp: jwtVerify still accepts it (30 s of skew), so only the redemption record refuses it.
      ahead = (exp + 15) * 1000 - Date.now();
      const replay = await redeem(assertion);
      expect(replay.status).toBe(400);
      expect(replay.body.error_description).toBe('this ID-JAG was already redeemed: ask the enterprise IdP for a fresh one (each is redeemed once)');
      // Past the skew it is refused as expired, whatever the record says.
      ahead = (exp + 45) * 1000 - Date.now();
      const late = await redeem(assertion);
      expect(late.status).toBe(400);
      expect(late.body.error).toBe('invalid_grant');
      expect(late.body.error_description).not.toContain('already redeemed');
    } finally {
      ahead = 0;
    }
  });

  it('a refused request does not spend the ID-JAG: the same one is accepted once the request is right', async () => {
    const assertion = await mint();
    expect((await redeem(assertion, { form: { resource: 'https://elsewhere.example/mcp' } })).status).toBe(400);
    expect((await redeem(assertion)).status).toBe(200);
  });

  it('scopes are the intersection of the request and the ID-JAG (MCP EMA §7.2.1)', async () => {
    const res = await redeem(await mint({ claims: { scope: `${GATEWAY_SCOPE} calendar.read` } }), { form: { scope: `${GATEWAY_SCOPE} offline_access` } });
    expect(res.status).toBe(200);
    expect(res.body.scope).toBe(GATEWAY_SCOPE);
    expect(res.body.refresh_token).toBeUndefined();
  });

  it('with a DPoP proof the access token is bound to its key (RFC 9449 §5)', async () => {
    const key = await generateDpopKey();
    const proof = await signProof(key, { htm: 'POST', htu: `${as.origin}/token`, now: Date.now() });
    const res = await redeem(await mint(), { headers: { ...confidential, DPoP: proof } });
    expect(res.status).toBe(200);
    expect(res.body.token_type).toBe('DPoP');
    expect(decodeJwt(res.body.access_token).cnf).toEqual({ jkt: key.jkt });
  });

  it('the ID-JAG is wiped and the session ended once it expires; signing out wipes it at once', async () => {
    const assertion = await mint({ claims: { exp: Math.floor(Date.now() / 1000) + 300 } });
    const res = await redeem(assertion);
    const { sid } = decodeJwt(res.body.access_token) as { sid: string };
    expect(await shared.store.wipeExpiredAssertions(Date.now())).toBe(0);
    expect((await shared.store.getUserSession(sid))?.idToken).toBe(assertion);
    ahead = 400_000;
    try {
      expect(await shared.store.wipeExpiredAssertions(Date.now() + ahead)).toBeGreaterThanOrEqual(1);
    } finally {
      ahead = 0;
    }
    const wiped = await shared.store.getUserSession(sid);
    expect(wiped).toMatchObject({ idToken: '', subjectTokenType: 'id-jag' });
    expect(wiped?.revokedAt).toBeDefined();

    const other = await redeem(await mint());
    const otherSid = (decodeJwt(other.body.access_token) as { sid: string }).sid;
    expect(await shared.store.revokeUserSession(otherSid, Date.now())).toBe(true);
    expect((await shared.store.getUserSession(otherSid))?.idToken).toBe('');
  });
});

const now = () => Math.floor(Date.now() / 1000);

/** One thing wrong per row; every refusal is exact (status, error, description). */
const REFUSALS: Array<{
  name: string;
  mint?: () => Promise<string>;
  assertion?: string;
  form?: Record<string, string>;
  headers?: () => Record<string, string>;
  status: number;
  error: string;
  description: string | RegExp;
}> = [
  {
    name: 'no assertion',
    assertion: undefined,
    status: 400,
    error: 'invalid_request',
    description: 'assertion is required: the ID-JAG from the enterprise IdP (RFC 7523 §2.1)',
  },
  { name: 'not a JWT', assertion: 'not-a-jwt', status: 400, error: 'invalid_grant', description: 'the assertion is not a well-formed signed JWT' },
  {
    name: 'typ JWT (an ID token, not an ID-JAG)',
    mint: () => mint({ header: { typ: 'JWT' } }),
    status: 400,
    error: 'invalid_grant',
    description: 'the assertion is not an ID-JAG: its typ must be oauth-id-jag+jwt',
  },
  {
    name: 'signed by another key',
    mint: () => mint({ key: otherKey.privateKey }),
    status: 400,
    error: 'invalid_grant',
    description: /^the ID-JAG is not signed by the enterprise IdP http:\/\/127\.0\.0\.1:\d+$/,
  },
  {
    name: 'another issuer',
    mint: () => mint({ claims: { iss: 'https://evil.example' } }),
    status: 400,
    error: 'invalid_grant',
    description: /^the ID-JAG's "iss" must be the enterprise IdP /,
  },
  {
    name: 'audience another server',
    mint: () => mint({ claims: { aud: 'https://chat.example' } }),
    status: 400,
    error: 'invalid_grant',
    description: `the ID-JAG's "aud" must be this gateway's authorization server`,
  },
  {
    name: 'audience list naming another server too',
    mint: () => mint({ claims: { aud: [as.origin, 'https://chat.example'] } }),
    status: 400,
    error: 'invalid_grant',
    description: `the ID-JAG's "aud" must name this authorization server only`,
  },
  {
    name: 'issued to another client',
    mint: () => mint({ claims: { client_id: 'someone-else' } }),
    status: 400,
    error: 'invalid_grant',
    description: `the ID-JAG's "client_id" was issued to another client than "acme-agent"`,
  },
  { name: 'no client_id', mint: () => mint({ omit: ['client_id'] }), status: 400, error: 'invalid_grant', description: `the ID-JAG's "client_id" is missing` },
  {
    name: 'another resource',
    mint: () => mint({ claims: { resource: 'https://chat.example/mcp' } }),
    status: 400,
    error: 'invalid_grant',
    description: /^the ID-JAG's "resource" must be http:\/\/127\.0\.0\.1:\d+\/mcp$/,
  },
  {
    name: 'expired',
    mint: () => mint({ claims: { iat: now() - 400, exp: now() - 100 } }),
    status: 400,
    error: 'invalid_grant',
    description: `the ID-JAG's "exp" has passed: the ID-JAG expired`,
  },
  {
    name: 'issued in the future',
    mint: () => mint({ claims: { iat: now() + 3600, exp: now() + 3900 } }),
    status: 400,
    error: 'invalid_grant',
    description: `the ID-JAG's "iat" is in the future`,
  },
  {
    name: 'lifetime over the cap',
    mint: () => mint({ claims: { exp: now() + 3600 } }),
    status: 400,
    error: 'invalid_grant',
    description: `the ID-JAG's "exp" is more than 600 s after iat (server.enterpriseManaged.maxAssertionLifetimeSeconds)`,
  },
  { name: 'no jti', mint: () => mint({ omit: ['jti'] }), status: 400, error: 'invalid_grant', description: `the ID-JAG's "jti" is missing` },
  { name: 'no sub', mint: () => mint({ omit: ['sub'] }), status: 400, error: 'invalid_grant', description: `the ID-JAG's "sub" is missing` },
  {
    name: 'none of the gateway scopes',
    mint: () => mint({ claims: { scope: 'calendar.read' } }),
    status: 400,
    error: 'invalid_scope',
    description: `the ID-JAG grants none of this gateway's scopes (${GATEWAY_SCOPE})`,
  },
  {
    name: 'a resource parameter for another resource',
    mint: () => mint(),
    form: { resource: 'https://chat.example/mcp' },
    status: 400,
    error: 'invalid_target',
    description: /^resource must be http:\/\/127\.0\.0\.1:\d+\/mcp$/,
  },
  {
    name: 'a public client (anyone could redeem a copy)',
    mint: () => mint({ claims: { client_id: PUBLIC_CLIENT.clientId } }),
    form: { client_id: PUBLIC_CLIENT.clientId },
    headers: () => ({}),
    status: 400,
    error: 'unauthorized_client',
    description:
      'the jwt-bearer grant (enterprise-managed sign-in) needs an authenticated client: register the client with a secret (server.clients[].clientSecret)',
  },
  {
    name: 'a wrong client secret',
    mint: () => mint(),
    headers: () => ({ authorization: basic(CONFIDENTIAL_CLIENT.clientId, 'wrong-secret') }),
    status: 401,
    error: 'invalid_client',
    description: 'client authentication failed',
  },
];

describe('refused ID-JAGs (draft-ietf-oauth-identity-assertion-authz-grant §4.4.1, MCP EMA §7.4)', () => {
  it.each(REFUSALS)('$name → $status $error', async (row) => {
    const assertion = row.mint ? await row.mint() : row.assertion;
    const res = await redeem(assertion, { ...(row.form ? { form: row.form } : {}), ...(row.headers ? { headers: row.headers() } : {}) });
    expect(res.status).toBe(row.status);
    expect(res.body.error).toBe(row.error);
    if (typeof row.description === 'string') expect(res.body.error_description).toBe(row.description);
    else expect(res.body.error_description).toMatch(row.description);
    // Never echoed back.
    if (assertion) expect(JSON.stringify(res.body)).not.toContain(assertion);
  });

  it('the IdP keys are fetched once and cached, however many assertions arrive', () => {
    expect(jwksFetches).toBeGreaterThanOrEqual(1);
    expect(jwksFetches).toBeLessThanOrEqual(3);
  });
});
