import { describe, expect, it } from 'vitest';
import { exportJWK, exportPKCS8, generateKeyPair, jwtVerify } from 'jose';
import { buildTokenExchangeParams, processTokenExchangeResponse, requestIdJag, type IdJagRequest, type TokenEndpointClient } from '../../src/xaa/index.js';
import { AS, IDP, IDP_META, NOW, basicCredentials, caught, econnrefused, exposed, fakeFetch, form, json, makeIdJag } from './helpers.js';

const SUBJECT = 'eyJ.subject-id-token.sig';
const SECRET = 's3cr3t-idp-client';

function request(over: Partial<IdJagRequest> = {}): IdJagRequest {
  return {
    idp: IDP_META,
    client: { clientId: 'gw-at-idp', auth: { method: 'client_secret_basic', clientSecret: SECRET } },
    subjectToken: SUBJECT,
    audience: AS,
    resource: 'https://api.saas.example/',
    scopes: ['calendar.read', 'calendar.write'],
    ...over,
  };
}

async function okBody(over: Record<string, unknown> = {}) {
  return {
    access_token: await makeIdJag(),
    issued_token_type: 'urn:ietf:params:oauth:token-type:id-jag',
    token_type: 'N_A',
    expires_in: 300,
    ...over,
  };
}

describe('buildTokenExchangeParams (RFC 8693 §2.1)', () => {
  const cases: { name: string; req: IdJagRequest; want: Record<string, string> }[] = [
    {
      name: 'every field, id_token subject',
      req: request(),
      want: {
        grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
        requested_token_type: 'urn:ietf:params:oauth:token-type:id-jag',
        audience: AS,
        resource: 'https://api.saas.example/',
        scope: 'calendar.read calendar.write',
        subject_token: SUBJECT,
        subject_token_type: 'urn:ietf:params:oauth:token-type:id_token',
      },
    },
    {
      name: 'refresh_token subject, no resource, duplicate scopes dropped',
      req: request({
        subjectTokenType: 'urn:ietf:params:oauth:token-type:refresh_token',
        resource: undefined,
        scopes: ['a', 'a', ' b '],
      }),
      want: {
        grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
        requested_token_type: 'urn:ietf:params:oauth:token-type:id-jag',
        audience: AS,
        scope: 'a b',
        subject_token: SUBJECT,
        subject_token_type: 'urn:ietf:params:oauth:token-type:refresh_token',
      },
    },
    {
      name: 'no scopes: scope omitted (an empty scope is invalid, RFC 6749 §3.3)',
      req: request({ scopes: [] }),
      want: {
        grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
        requested_token_type: 'urn:ietf:params:oauth:token-type:id-jag',
        audience: AS,
        resource: 'https://api.saas.example/',
        subject_token: SUBJECT,
        subject_token_type: 'urn:ietf:params:oauth:token-type:id_token',
      },
    },
  ];
  it.each(cases)('$name', ({ req, want }) => {
    expect(Object.fromEntries(buildTokenExchangeParams(req))).toEqual(want);
  });
});

describe('requestIdJag: the HTTP request and client authentication', () => {
  it('client_secret_basic: Basic header, form body, POST to the token endpoint', async () => {
    const f = fakeFetch(async () => json(await okBody()));
    await requestIdJag(request(), f.deps);
    const req = f.requests[0]!;
    expect(req.method).toBe('POST');
    expect(req.url).toBe(IDP_META.token_endpoint);
    expect(req.headers.get('content-type')).toMatch(/^application\/x-www-form-urlencoded/);
    expect(basicCredentials(req)).toEqual(['gw-at-idp', SECRET]);
    const body = await form(req);
    expect(body).toEqual(Object.fromEntries(buildTokenExchangeParams(request())));
    expect(body).not.toHaveProperty('client_secret');
  });

  it('client_secret_basic form-urlencodes id and secret (RFC 6749 §2.3.1)', async () => {
    const f = fakeFetch(async () => json(await okBody()));
    await requestIdJag(request({ client: { clientId: 'a b:c', auth: { method: 'client_secret_basic', clientSecret: 'p@ss word' } } }), f.deps);
    const header = f.requests[0]!.headers.get('authorization')!;
    expect(atob(header.slice(6))).toBe('a+b%3Ac:p%40ss+word');
    expect(basicCredentials(f.requests[0]!)).toEqual(['a b:c', 'p@ss word']);
  });

  it('client_secret_post: id and secret in the body, no Authorization header', async () => {
    const f = fakeFetch(async () => json(await okBody()));
    await requestIdJag(request({ client: { clientId: 'gw-at-idp', auth: { method: 'client_secret_post', clientSecret: SECRET } } }), f.deps);
    const req = f.requests[0]!;
    expect(req.headers.get('authorization')).toBeNull();
    const body = await form(req);
    expect(body.client_id).toBe('gw-at-idp');
    expect(body.client_secret).toBe(SECRET);
    expect(body.grant_type).toBe('urn:ietf:params:oauth:grant-type:token-exchange');
  });

  it('none (public client): client_id only', async () => {
    const f = fakeFetch(async () => json(await okBody()));
    await requestIdJag(request({ client: { clientId: 'pub', auth: { method: 'none' } } }), f.deps);
    const body = await form(f.requests[0]!);
    expect(body.client_id).toBe('pub');
    expect(body).not.toHaveProperty('client_secret');
    expect(f.requests[0]!.headers.get('authorization')).toBeNull();
  });

  const keyCases = [
    { name: 'JWK', alg: 'ES256', pem: false },
    { name: 'PKCS#8 PEM', alg: 'RS256', pem: true },
    { name: 'PKCS#8 PEM, PS256', alg: 'PS256', pem: true },
  ];
  it.each(keyCases)('private_key_jwt with a $name key: assertion claims (RFC 7523 §3)', async ({ alg, pem }) => {
    const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
    const material = pem ? await exportPKCS8(privateKey) : { ...(await exportJWK(privateKey)), kid: 'k1' };
    const client: TokenEndpointClient = {
      clientId: 'gw-at-idp',
      auth: { method: 'private_key_jwt', privateKey: material, alg, ...(pem ? { kid: 'k2' } : {}) },
    };
    const f = fakeFetch(async () => json(await okBody()));
    await requestIdJag(request({ client }), f.deps);
    const body = await form(f.requests[0]!);
    expect(body.client_id).toBe('gw-at-idp');
    expect(body.client_assertion_type).toBe('urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
    expect(f.requests[0]!.headers.get('authorization')).toBeNull();
    const { payload, protectedHeader } = await jwtVerify(body.client_assertion!, publicKey, {
      issuer: 'gw-at-idp',
      subject: 'gw-at-idp',
      audience: IDP,
      currentDate: new Date(NOW),
    });
    expect(protectedHeader.alg).toBe(alg);
    expect(protectedHeader.kid).toBe(pem ? 'k2' : 'k1');
    expect(payload.iat).toBe(NOW / 1000);
    expect(payload.exp).toBe(NOW / 1000 + 60);
    expect(typeof payload.jti).toBe('string');
  });

  it('private_key_jwt with bad key material: config_secret, no key in the message', async () => {
    const f = fakeFetch(async () => json(await okBody()));
    const e = await caught(
      requestIdJag(request({ client: { clientId: 'c', auth: { method: 'private_key_jwt', privateKey: 'not-a-pem-key-material', alg: 'RS256' } } }), f.deps),
    );
    expect(e.code).toBe('config_secret');
    expect(e.message).not.toContain('not-a-pem-key-material');
    expect(f.requests).toHaveLength(0);
  });

  it('refuses a plain-http token endpoint that is not loopback', async () => {
    const f = fakeFetch(async () => json(await okBody()));
    const e = await caught(requestIdJag(request({ idp: { issuer: 'http://idp.example', token_endpoint: 'http://idp.example/token' } }), f.deps));
    expect(e.code).toBe('token_exchange_failed');
    expect(f.requests).toHaveLength(0);
  });
});

describe('processTokenExchangeResponse (RFC 8693 §2.2, ID-JAG §3.1)', () => {
  const ctx = { idp: IDP_META, clientId: 'gw-at-idp', audience: AS };
  const deps = { now: () => NOW };

  it('happy path: ID-JAG, jti, expiry from expires_in, scopes from the response', async () => {
    const body = await okBody({ expires_in: 120, scope: 'calendar.read' });
    const r = await processTokenExchangeResponse(json(body), ctx, deps);
    expect(r).toEqual({ idJag: body.access_token, jti: 'jti-1', expiresAt: NOW + 120_000, scopes: ['calendar.read'] });
  });

  const accepted: { name: string; over: Record<string, unknown>; expiresAt: number; scopes?: string[] }[] = [
    { name: 'missing expires_in: expiry from the ID-JAG exp', over: { expires_in: undefined }, expiresAt: NOW + 300_000, scopes: ['calendar.read'] },
    { name: 'token_type N_A', over: { token_type: 'N_A' }, expiresAt: NOW + 300_000, scopes: ['calendar.read'] },
    { name: 'token_type n_a (case-insensitive)', over: { token_type: 'n_a' }, expiresAt: NOW + 300_000, scopes: ['calendar.read'] },
    { name: 'token_type Bearer', over: { token_type: 'Bearer' }, expiresAt: NOW + 300_000, scopes: ['calendar.read'] },
    { name: 'expires_in longer than exp: exp wins', over: { expires_in: 3600 }, expiresAt: NOW + 300_000, scopes: ['calendar.read'] },
  ];
  it.each(accepted)('accepts $name', async ({ over, expiresAt, scopes }) => {
    const r = await processTokenExchangeResponse(json(await okBody(over)), ctx, deps);
    expect(r.expiresAt).toBe(expiresAt);
    expect(r.scopes).toEqual(scopes);
  });

  const refused: {
    name: string;
    body: () => Promise<Record<string, unknown>>;
    ctx?: Partial<typeof ctx & { expectedClientId: string }>;
    claim: string;
  }[] = [
    { name: 'wrong issued_token_type', body: () => okBody({ issued_token_type: 'urn:ietf:params:oauth:token-type:access_token' }), claim: 'issued_token_type' },
    { name: 'missing issued_token_type', body: () => okBody({ issued_token_type: undefined }), claim: 'issued_token_type' },
    { name: 'wrong typ', body: async () => okBody({ access_token: await makeIdJag({}, { typ: 'JWT' }) }), claim: 'typ' },
    { name: 'missing typ', body: async () => okBody({ access_token: await makeIdJag({}, {}) }), claim: 'typ' },
    { name: 'wrong aud', body: async () => okBody({ access_token: await makeIdJag({ aud: 'https://other.example' }) }), claim: 'aud' },
    { name: 'aud with two values', body: async () => okBody({ access_token: await makeIdJag({ aud: [AS, 'https://other.example'] }) }), claim: 'aud' },
    { name: 'missing client_id', body: async () => okBody({ access_token: await makeIdJag({}, undefined, ['client_id']) }), claim: 'client_id' },
    { name: 'client_id other than expected', body: () => okBody(), ctx: { expectedClientId: 'someone-else' }, claim: 'client_id' },
    { name: 'missing jti', body: async () => okBody({ access_token: await makeIdJag({}, undefined, ['jti']) }), claim: 'jti' },
    { name: 'missing exp', body: async () => okBody({ access_token: await makeIdJag({}, undefined, ['exp']) }), claim: 'exp' },
    { name: 'exp in the past', body: async () => okBody({ access_token: await makeIdJag({ exp: NOW / 1000 - 1 }) }), claim: 'exp' },
    { name: 'wrong iss', body: async () => okBody({ access_token: await makeIdJag({ iss: 'https://evil.example' }) }), claim: 'iss' },
    { name: 'not a JWT', body: () => okBody({ access_token: 'opaque-token-value' }), claim: 'access_token' },
  ];
  it.each(refused)('refuses $name -> invalid_token_response naming $claim', async ({ body, ctx: over, claim }) => {
    const b = await body();
    const e = await caught(processTokenExchangeResponse(json(b), { ...ctx, ...over }, deps));
    expect(e.code).toBe('invalid_token_response');
    expect(e.message).toContain(claim);
    expect(exposed(e)).not.toContain(String(b.access_token));
  });

  it('accepts client_id equal to the expected one', async () => {
    const r = await processTokenExchangeResponse(json(await okBody()), { ...ctx, expectedClientId: 'gw-at-saas' }, deps);
    expect(r.jti).toBe('jti-1');
  });

  const malformed: { name: string; response: () => Promise<Response> }[] = [
    { name: 'missing token_type', response: async () => json(await okBody({ token_type: undefined })) },
    { name: 'unknown token_type', response: async () => json(await okBody({ token_type: 'mac' })) },
    { name: 'missing access_token', response: async () => json(await okBody({ access_token: undefined })) },
    { name: 'HTML with status 200', response: async () => new Response('<html>hi</html>', { status: 200, headers: { 'content-type': 'text/html' } }) },
    { name: 'JSON array', response: async () => json([1, 2]) },
  ];
  it.each(malformed)('malformed success ($name) -> invalid_token_response', async ({ response }) => {
    const e = await caught(processTokenExchangeResponse(await response(), ctx, deps));
    expect(e.code).toBe('invalid_token_response');
    expect(e.status).toBe(200);
  });
});

describe('requestIdJag: error mapping', () => {
  const cases: {
    name: string;
    respond: () => Response | Promise<Response>;
    code: string;
    oauthError?: string;
    status?: number;
  }[] = [
    {
      name: 'invalid_grant',
      respond: () => json({ error: 'invalid_grant', error_description: 'subject token expired' }, 400),
      code: 'token_exchange_failed',
      oauthError: 'invalid_grant',
      status: 400,
    },
    { name: 'invalid_target', respond: () => json({ error: 'invalid_target' }, 400), code: 'token_exchange_failed', oauthError: 'invalid_target', status: 400 },
    {
      name: 'access_denied',
      respond: () => json({ error: 'access_denied', error_description: 'policy' }, 403),
      code: 'token_exchange_failed',
      oauthError: 'access_denied',
      status: 403,
    },
    {
      name: 'insufficient_user_authentication',
      respond: () => json({ error: 'insufficient_user_authentication', error_description: 'MFA required' }, 400),
      code: 'step_up_required',
      oauthError: 'insufficient_user_authentication',
      status: 400,
    },
    {
      name: 'invalid_client 401 with WWW-Authenticate',
      respond: () => json({ error: 'invalid_client' }, 401, { 'www-authenticate': 'Basic realm="idp"' }),
      code: 'token_exchange_failed',
      oauthError: 'invalid_client',
      status: 401,
    },
    {
      name: 'invalid_client 401 without challenge',
      respond: () => json({ error: 'invalid_client' }, 401),
      code: 'token_exchange_failed',
      oauthError: 'invalid_client',
      status: 401,
    },
    {
      name: '500 with an HTML body',
      respond: () => new Response('<html>oops</html>', { status: 500, headers: { 'content-type': 'text/html' } }),
      code: 'token_exchange_failed',
      status: 500,
    },
    {
      name: '400 with an HTML body',
      respond: () => new Response('<html>bad</html>', { status: 400, headers: { 'content-type': 'text/html' } }),
      code: 'token_exchange_failed',
      status: 400,
    },
    { name: '503 (IdP down)', respond: () => new Response('down', { status: 503 }), code: 'idp_unreachable', status: 503 },
    {
      name: 'IdP echoing the subject token and secret in the description',
      respond: () => json({ error: 'invalid_grant', error_description: `bad token ${SUBJECT} for ${SECRET}` }, 400),
      code: 'token_exchange_failed',
      oauthError: 'invalid_grant',
      status: 400,
    },
  ];
  it.each(cases)('$name -> $code', async ({ respond, code, oauthError, status }) => {
    const f = fakeFetch(respond);
    const e = await caught(requestIdJag(request(), f.deps));
    expect(e.code).toBe(code);
    expect(e.oauthError).toBe(oauthError);
    expect(e.status).toBe(status);
    expect(e.message).toContain(IDP);
    if (oauthError) expect(e.message).toContain(oauthError);
    expect(exposed(e)).not.toContain(SUBJECT);
    expect(exposed(e)).not.toContain(SECRET);
  });

  it('names the error description', async () => {
    const f = fakeFetch(() => json({ error: 'invalid_grant', error_description: 'subject token expired' }, 400));
    const e = await caught(requestIdJag(request(), f.deps));
    expect(e.oauthErrorDescription).toBe('subject token expired');
    expect(e.message).toContain('subject token expired');
  });

  const network: { name: string; thrown: () => unknown; reason: string }[] = [
    { name: 'ECONNREFUSED', thrown: econnrefused, reason: 'ECONNREFUSED' },
    { name: 'timeout', thrown: () => new DOMException('The operation was aborted due to timeout', 'TimeoutError'), reason: 'timed out' },
  ];
  it.each(network)('fetch throwing $name -> idp_unreachable', async ({ thrown, reason }) => {
    const f = fakeFetch(() => {
      throw thrown();
    });
    const e = await caught(requestIdJag(request(), f.deps));
    expect(e.code).toBe('idp_unreachable');
    expect(e.message).toContain(reason);
    expect(e.message).toContain(IDP);
    expect(e.oauthError).toBeUndefined();
    expect(exposed(e)).not.toContain(SUBJECT);
  });
});
