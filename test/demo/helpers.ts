import { createHash, randomBytes } from 'node:crypto';
import { exportJWK, generateKeyPair, importJWK, SignJWT, type JWK, type JWTPayload } from 'jose';
import { completeDemoLogin, type DemoAppName, type DemoEnterprise } from '../../tools/demo/index.js';
import { listen, type Listener } from '../../tools/demo/listen.js';
import { APP_DEFINITIONS, SEED_IDP_CLIENTS } from '../../tools/demo/seed.js';
import { readDemoJwk, readDemoSecret } from '../../tools/demo/secrets.js';

export const TE = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const ID_JAG = 'urn:ietf:params:oauth:token-type:id-jag';
export const ID_TOKEN = 'urn:ietf:params:oauth:token-type:id_token';
export const REFRESH_TOKEN = 'urn:ietf:params:oauth:token-type:refresh_token';
export const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

export const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

/** A seeded IdP client's secret (tools/demo/secrets/, by the file SEED_IDP_CLIENTS names). */
export const idpSecret = (clientId = 'xaa-gateway') => {
  const client = SEED_IDP_CLIENTS.find((c) => c.clientId === clientId);
  if (!client) throw new Error(`"${clientId}" is not a seeded IdP client`);
  return readDemoSecret(client.secretFile);
};

export async function postForm(url: string, form: Record<string, string>, headers: Record<string, string> = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(form),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: (text ? JSON.parse(text) : {}) as Record<string, any> };
}

/** Authorization code + PKCE against the demo IdP, as the gateway's `login` will do it. */
export async function loginAtIdp(
  demo: DemoEnterprise,
  username: string,
  opts: { clientId?: string; scope?: string; password?: string } = {},
): Promise<{ id_token: string; refresh_token?: string; access_token: string; [k: string]: unknown }> {
  const clientId = opts.clientId ?? 'xaa-gateway';
  const verifier = randomBytes(32).toString('base64url');
  const redirectUri = 'http://127.0.0.1:53682/callback';
  const authorize = new URL(`${demo.urls.idp}/authorize`);
  const params = {
    response_type: 'code',
    client_id: clientId,
    redirect_uri: redirectUri,
    scope: opts.scope ?? 'openid profile email offline_access',
    state: 'st-' + randomBytes(4).toString('hex'),
    nonce: 'n-123',
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
  };
  for (const [k, v] of Object.entries(params)) authorize.searchParams.set(k, v);
  const password = opts.password ?? (await import('../../tools/demo/index.js')).DEMO_USERS.find((u) => u.username === username)!.password;
  const location = new URL(await completeDemoLogin(authorize.toString(), username, password));
  const code = location.searchParams.get('code');
  if (!code) throw new Error(`login failed: ${location}`);
  const res = await postForm(
    `${demo.urls.idp}/token`,
    { grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier },
    { Authorization: basic(clientId, idpSecret(clientId)) },
  );
  if (res.status !== 200) throw new Error(`token: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body as never;
}

export function exchange(
  demo: DemoEnterprise,
  subjectToken: string,
  app: DemoAppName,
  opts: { params?: Record<string, string | undefined>; clientId?: string; secret?: string } = {},
) {
  const clientId = opts.clientId ?? 'xaa-gateway';
  const all: Record<string, string | undefined> = {
    grant_type: TE,
    requested_token_type: ID_JAG,
    audience: demo.urls[app],
    resource: `${demo.urls[app]}/api`,
    scope: APP_DEFINITIONS[app].scopes[0],
    subject_token: subjectToken,
    subject_token_type: ID_TOKEN,
    ...opts.params,
  };
  const form = Object.fromEntries(Object.entries(all).filter((e): e is [string, string] => e[1] !== undefined));
  return postForm(`${demo.urls.idp}/token`, form, { Authorization: basic(clientId, opts.secret ?? idpSecret(clientId)) });
}

/** The gateway's client authentication at an app's AS, by the method that app registered. */
export async function appClientAuth(app: DemoAppName, origin: string): Promise<{ form: Record<string, string>; headers: Record<string, string> }> {
  const a = APP_DEFINITIONS[app].clientAuth;
  if (a.method === 'client_secret_basic') return { form: {}, headers: { Authorization: basic('xaa-gateway', readDemoSecret(a.secretFile)) } };
  if (a.method === 'client_secret_post') return { form: { client_id: 'xaa-gateway', client_secret: readDemoSecret(a.secretFile) }, headers: {} };
  if (a.method !== 'private_key_jwt') throw new Error('unreachable');
  const key = await importJWK(readDemoJwk(a.privateKeyFile), 'ES256');
  const assertion = await new SignJWT({})
    .setProtectedHeader({ alg: 'ES256', kid: a.kid })
    .setIssuer('xaa-gateway')
    .setSubject('xaa-gateway')
    .setAudience(`${origin}/token`)
    .setIssuedAt()
    .setExpirationTime('2m')
    .setJti(randomBytes(12).toString('base64url'))
    .sign(key);
  return {
    form: { client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion },
    headers: {},
  };
}

export async function jwtBearer(
  app: DemoAppName,
  origin: string,
  assertion: string,
  extra: Record<string, string> = {},
  auth?: { form: Record<string, string>; headers: Record<string, string> },
) {
  const a = auth ?? (await appClientAuth(app, origin));
  return postForm(`${origin}/token`, { grant_type: JWT_BEARER, assertion, ...a.form, ...extra }, a.headers);
}

/** A stand-in IdP (metadata + JWKS) whose key the test holds, to forge ID-JAGs claim by claim. */
export interface FakeIdp {
  issuer: string;
  sign(claims: JWTPayload, header?: { typ?: string; otherKey?: boolean }): Promise<string>;
  close(): Promise<void>;
}

export async function startFakeIdp(): Promise<FakeIdp> {
  const l: Listener = await listen('127.0.0.1', 0);
  const trusted = await generateKeyPair('ES256', { extractable: true });
  const other = await generateKeyPair('ES256', { extractable: true });
  const jwk: JWK = { ...(await exportJWK(trusted.publicKey)), kid: 'k1', alg: 'ES256' };
  l.setHandler((req) => {
    const path = new URL(req.url).pathname;
    if (path === '/.well-known/oauth-authorization-server') return Response.json({ issuer: l.origin, jwks_uri: `${l.origin}/jwks` });
    if (path === '/jwks') return Response.json({ keys: [jwk] });
    return new Response('not found', { status: 404 });
  });
  return {
    issuer: l.origin,
    sign: (claims, header = {}) =>
      new SignJWT(claims)
        // "other key" keeps the trusted kid: the signature itself must be what fails.
        .setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: header.typ ?? 'oauth-id-jag+jwt' })
        .sign(header.otherKey ? other.privateKey : trusted.privateKey),
    close: () => l.close(),
  };
}

export function decodePart(jwt: string, i: 0 | 1): Record<string, any> {
  return JSON.parse(Buffer.from(jwt.split('.')[i]!, 'base64url').toString('utf8'));
}
