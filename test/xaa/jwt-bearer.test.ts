import { describe, expect, it } from 'vitest';
import { exportJWK, generateKeyPair, jwtVerify, SignJWT } from 'jose';
import { buildJwtBearerParams, processJwtBearerResponse, redeemIdJag, type JwtBearerRequest } from '../../src/xaa/index.js';
import { AS, AS_META, NOW, basicCredentials, caught, econnrefused, exposed, fakeFetch, form, json } from './helpers.js';

const ID_JAG = 'eyJhbGciOiJFUzI1NiJ9.id-jag-payload.signature';
const SECRET = 'saas-client-secret-value';
const TOKEN = 'at-0123456789abcdef';

function request(over: Partial<JwtBearerRequest> = {}): JwtBearerRequest {
  return {
    as: AS_META,
    client: { clientId: 'gw-at-saas', auth: { method: 'client_secret_basic', clientSecret: SECRET } },
    idJag: ID_JAG,
    scopes: ['calendar.read'],
    ...over,
  };
}

describe('buildJwtBearerParams (RFC 7523 §2.1)', () => {
  const cases = [
    {
      name: 'assertion and scope',
      scopes: ['calendar.read', 'calendar.write'],
      want: { grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion: ID_JAG, scope: 'calendar.read calendar.write' },
    },
    { name: 'no scopes: no scope', scopes: [], want: { grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion: ID_JAG } },
  ];
  it.each(cases)('$name', ({ scopes, want }) => {
    expect(Object.fromEntries(buildJwtBearerParams({ idJag: ID_JAG, scopes }))).toEqual(want);
  });
});

describe('redeemIdJag: request and client authentication at the AS', () => {
  const ok = () => json({ access_token: TOKEN, token_type: 'Bearer', expires_in: 600, scope: 'calendar.read' });

  it('client_secret_basic', async () => {
    const f = fakeFetch(ok);
    await redeemIdJag(request(), f.deps);
    const req = f.requests[0]!;
    expect(req.method).toBe('POST');
    expect(req.url).toBe(AS_META.token_endpoint);
    expect(basicCredentials(req)).toEqual(['gw-at-saas', SECRET]);
    expect(await form(req)).toEqual({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion: ID_JAG, scope: 'calendar.read' });
  });

  it('client_secret_post', async () => {
    const f = fakeFetch(ok);
    await redeemIdJag(request({ client: { clientId: 'gw-at-saas', auth: { method: 'client_secret_post', clientSecret: SECRET } } }), f.deps);
    const req = f.requests[0]!;
    expect(req.headers.get('authorization')).toBeNull();
    expect(await form(req)).toEqual({
      grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
      assertion: ID_JAG,
      scope: 'calendar.read',
      client_id: 'gw-at-saas',
      client_secret: SECRET,
    });
  });

  it('private_key_jwt: assertion audience is the AS issuer', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const f = fakeFetch(ok);
    await redeemIdJag(
      request({ client: { clientId: 'gw-at-saas', auth: { method: 'private_key_jwt', privateKey: await exportJWK(privateKey), alg: 'ES256', kid: 'crm-1' } } }),
      f.deps,
    );
    const body = await form(f.requests[0]!);
    expect(body.assertion).toBe(ID_JAG);
    expect(body.client_assertion_type).toBe('urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
    const { payload, protectedHeader } = await jwtVerify(body.client_assertion!, publicKey, {
      issuer: 'gw-at-saas',
      subject: 'gw-at-saas',
      audience: AS,
      currentDate: new Date(NOW),
    });
    expect(protectedHeader).toMatchObject({ alg: 'ES256', kid: 'crm-1' });
    expect(payload.exp! - payload.iat!).toBe(60);
  });
});

describe('processJwtBearerResponse (RFC 6749 §5.1)', () => {
  const ctx = { as: AS_META, clientId: 'gw-at-saas', requestedScopes: ['a', 'b'] };
  const deps = { now: () => NOW };
  const jwtToken = () => new SignJWT({ exp: NOW / 1000 + 900 }).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode('k'.repeat(32)));

  const cases: { name: string; body: () => Promise<Record<string, unknown>>; want: { expiresAt?: number; scopes: string[]; tokenType: string } }[] = [
    {
      name: 'scope granted narrower',
      body: async () => ({ access_token: TOKEN, token_type: 'Bearer', expires_in: 600, scope: 'a' }),
      want: { expiresAt: NOW + 600_000, scopes: ['a'], tokenType: 'Bearer' },
    },
    {
      name: 'scope omitted: the requested ones',
      body: async () => ({ access_token: TOKEN, token_type: 'bearer', expires_in: 60 }),
      want: { expiresAt: NOW + 60_000, scopes: ['a', 'b'], tokenType: 'Bearer' },
    },
    {
      name: 'no expires_in, opaque token: unknown expiry',
      body: async () => ({ access_token: TOKEN, token_type: 'Bearer' }),
      want: { scopes: ['a', 'b'], tokenType: 'Bearer' },
    },
    {
      name: 'no expires_in, JWT token: its exp',
      body: async () => ({ access_token: await jwtToken(), token_type: 'Bearer' }),
      want: { expiresAt: NOW + 900_000, scopes: ['a', 'b'], tokenType: 'Bearer' },
    },
  ];
  it.each(cases)('$name', async ({ body, want }) => {
    const b = await body();
    const r = await processJwtBearerResponse(json(b), ctx, deps);
    expect(r).toEqual({ accessToken: b.access_token, ...want });
  });

  it('token_type N_A is not an access token here -> invalid_token_response', async () => {
    const e = await caught(processJwtBearerResponse(json({ access_token: TOKEN, token_type: 'N_A' }), ctx, deps));
    expect(e.code).toBe('invalid_token_response');
    expect(exposed(e)).not.toContain(TOKEN);
  });
});

describe('redeemIdJag: error mapping', () => {
  const cases: { name: string; respond: () => Response; code: string; oauthError?: string; status?: number }[] = [
    {
      name: 'invalid_grant',
      respond: () => json({ error: 'invalid_grant', error_description: 'jti replayed' }, 400),
      code: 'jwt_bearer_failed',
      oauthError: 'invalid_grant',
      status: 400,
    },
    { name: 'invalid_scope', respond: () => json({ error: 'invalid_scope' }, 400), code: 'jwt_bearer_failed', oauthError: 'invalid_scope', status: 400 },
    {
      name: 'insufficient_user_authentication',
      respond: () => json({ error: 'insufficient_user_authentication' }, 400),
      code: 'step_up_required',
      oauthError: 'insufficient_user_authentication',
      status: 400,
    },
    {
      name: 'invalid_client 401',
      respond: () => json({ error: 'invalid_client' }, 401, { 'www-authenticate': 'Basic realm="saas"' }),
      code: 'jwt_bearer_failed',
      oauthError: 'invalid_client',
      status: 401,
    },
    {
      name: '500 with an HTML body',
      respond: () => new Response('<html>err</html>', { status: 500, headers: { 'content-type': 'text/html' } }),
      code: 'jwt_bearer_failed',
      status: 500,
    },
    { name: '503 at the AS', respond: () => new Response('down', { status: 503 }), code: 'jwt_bearer_failed', status: 503 },
    {
      name: 'non-JSON success',
      respond: () => new Response('ok', { status: 200, headers: { 'content-type': 'text/plain' } }),
      code: 'invalid_token_response',
      status: 200,
    },
    {
      name: 'AS echoing the assertion',
      respond: () => json({ error: 'invalid_grant', error_description: `cannot use ${ID_JAG}` }, 400),
      code: 'jwt_bearer_failed',
      oauthError: 'invalid_grant',
      status: 400,
    },
  ];
  it.each(cases)('$name -> $code', async ({ respond, code, oauthError, status }) => {
    const f = fakeFetch(respond);
    const e = await caught(redeemIdJag(request(), f.deps));
    expect(e.code).toBe(code);
    expect(e.oauthError).toBe(oauthError);
    expect(e.status).toBe(status);
    expect(e.message).toContain(AS);
    expect(exposed(e)).not.toContain(ID_JAG);
    expect(exposed(e)).not.toContain(SECRET);
  });

  it('fetch throwing ECONNREFUSED -> jwt_bearer_failed "could not reach"', async () => {
    const f = fakeFetch(() => {
      throw econnrefused();
    });
    const e = await caught(redeemIdJag(request(), f.deps));
    expect(e.code).toBe('jwt_bearer_failed');
    expect(e.message).toMatch(/^Could not reach the authorization server https:\/\/as\.saas\.example token endpoint: ECONNREFUSED$/);
    expect(e.oauthError).toBeUndefined();
  });
});
