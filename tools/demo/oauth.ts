import { createHash, timingSafeEqual } from 'node:crypto';
import { decodeJwt, importJWK, jwtVerify, type JWK } from 'jose';

/**
 * OAuth plumbing shared by the demo IdP and the demo apps' authorization servers: the token error
 * response (RFC 6749 §5.2), form parsing and client authentication (RFC 6749 §2.3, RFC 7523 §2.2/§3).
 */

export class OAuthError extends Error {
  constructor(
    readonly error: string,
    readonly description: string,
    readonly status = 400,
    /** Extra response headers (RFC 9449 §8: `DPoP-Nonce` with use_dpop_nonce). */
    readonly headers: Record<string, string> = {},
  ) {
    super(`${error}: ${description}`);
  }
}

const NO_STORE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' };

export function jsonResponse(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json', ...headers },
  });
}

/** Token responses must not be cached (RFC 6749 §5.1). */
export function tokenResponse(body: unknown, headers: Record<string, string> = {}): Response {
  return jsonResponse(body, 200, { ...headers, ...NO_STORE });
}

export function oauthErrorResponse(e: OAuthError): Response {
  const headers: Record<string, string> = { ...e.headers, ...NO_STORE };
  // RFC 6749 §5.2: a 401 invalid_client answers with WWW-Authenticate matching the scheme tried.
  if (e.status === 401) headers['WWW-Authenticate'] = 'Basic realm="token"';
  return jsonResponse({ error: e.error, error_description: e.description }, e.status, headers);
}

/** Runs a token-endpoint handler, mapping OAuthError to its JSON error response. */
export async function handleOAuth(fn: () => Promise<Response>): Promise<Response> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof OAuthError) return oauthErrorResponse(e);
    throw e;
  }
}

export async function readForm(req: Request): Promise<URLSearchParams> {
  const type = req.headers.get('content-type') ?? '';
  if (!type.startsWith('application/x-www-form-urlencoded')) {
    throw new OAuthError('invalid_request', 'the token endpoint takes application/x-www-form-urlencoded (RFC 6749 §3.2)');
  }
  const form = new URLSearchParams(await req.text());
  // RFC 6749 §3.2: parameters must not be repeated.
  for (const key of new Set(form.keys())) {
    if (form.getAll(key).length > 1) throw new OAuthError('invalid_request', `parameter "${key}" is repeated`);
  }
  return form;
}

export function requireParam(form: URLSearchParams, name: string): string {
  const v = form.get(name);
  if (!v) throw new OAuthError('invalid_request', `missing parameter "${name}"`);
  return v;
}

export function splitScope(scope: string | null | undefined): string[] {
  return (scope ?? '').split(' ').filter(Boolean);
}

export function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

export function safeEqual(a: string, b: string): boolean {
  return timingSafeEqual(sha256(a), sha256(b));
}

// ---------------------------------------------------------------------------------------------

export type SecretMethod = 'client_secret_basic' | 'client_secret_post';

/** How a client registered to authenticate: a shared secret (by the listed methods) or a public key. */
export type RegisteredClientAuth = { method: SecretMethod; secret: string; alsoAccept?: SecretMethod[] } | { method: 'private_key_jwt'; publicJwk: JWK };

function acceptsSecret(reg: RegisteredClientAuth | undefined, method: SecretMethod): reg is Extract<RegisteredClientAuth, { secret: string }> {
  return !!reg && reg.method !== 'private_key_jwt' && (reg.method === method || !!reg.alsoAccept?.includes(method));
}

/** Remembers used `jti`s until they expire (single use of assertions, RFC 7523 §3 item 7). */
export class JtiCache {
  private readonly seen = new Map<string, number>();
  /** false when the jti was already used. */
  use(jti: string, expSeconds: number, nowMs = Date.now()): boolean {
    for (const [k, exp] of this.seen) if (exp * 1000 < nowMs - 120_000) this.seen.delete(k);
    if (this.seen.has(jti)) return false;
    this.seen.set(jti, expSeconds);
    return true;
  }
}

const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

export interface ClientAuthOptions {
  lookup: (clientId: string) => RegisteredClientAuth | undefined;
  /** Accepted `aud` of a client assertion: the issuer and the token endpoint (RFC 7523 §3 item 3). */
  assertionAudiences: string[];
  jtis: JtiCache;
}

/** Authenticates the client of a token request; returns its client id or throws invalid_client (401). */
export async function authenticateClient(req: Request, form: URLSearchParams, opts: ClientAuthOptions): Promise<string> {
  const basic = parseBasic(req.headers.get('authorization'));
  const used = [basic, form.has('client_secret'), form.has('client_assertion')].filter(Boolean).length;
  if (used > 1) throw new OAuthError('invalid_request', 'more than one client authentication method used (RFC 6749 §2.3)');

  if (basic) {
    const reg = opts.lookup(basic.id);
    if (!acceptsSecret(reg, 'client_secret_basic')) throw unknownOrWrongMethod(basic.id, reg, 'client_secret_basic');
    if (!safeEqual(basic.secret, reg.secret)) throw new OAuthError('invalid_client', 'client authentication failed', 401);
    if (form.get('client_id') && form.get('client_id') !== basic.id) {
      throw new OAuthError('invalid_request', 'client_id differs from the authenticated client');
    }
    return basic.id;
  }

  if (form.has('client_assertion')) {
    if (form.get('client_assertion_type') !== CLIENT_ASSERTION_TYPE) {
      throw new OAuthError('invalid_client', `client_assertion_type must be ${CLIENT_ASSERTION_TYPE}`, 401);
    }
    return verifyClientAssertion(form.get('client_assertion')!, form.get('client_id'), opts);
  }

  const id = form.get('client_id');
  if (!id) throw new OAuthError('invalid_client', 'client authentication required', 401);
  const reg = opts.lookup(id);
  if (!acceptsSecret(reg, 'client_secret_post')) throw unknownOrWrongMethod(id, reg, 'client_secret_post');
  if (!safeEqual(form.get('client_secret') ?? '', reg.secret)) {
    throw new OAuthError('invalid_client', 'client authentication failed', 401);
  }
  return id;
}

function unknownOrWrongMethod(id: string, reg: RegisteredClientAuth | undefined, tried: string): OAuthError {
  if (!reg) return new OAuthError('invalid_client', `unknown client "${id}"`, 401);
  return new OAuthError('invalid_client', `client "${id}" must authenticate with ${reg.method}, not ${tried}`, 401);
}

/** RFC 6749 §2.3.1: id and secret are form-urlencoded before base64. */
function parseBasic(header: string | null): { id: string; secret: string } | undefined {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  if (!m) return undefined;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  if (i < 0) throw new OAuthError('invalid_client', 'malformed Basic credentials', 401);
  try {
    return { id: decodeURIComponent(decoded.slice(0, i)), secret: decodeURIComponent(decoded.slice(i + 1)) };
  } catch {
    throw new OAuthError('invalid_client', 'malformed Basic credentials', 401);
  }
}

/** private_key_jwt: RFC 7523 §3 checks on the client assertion. */
async function verifyClientAssertion(assertion: string, formClientId: string | null, opts: ClientAuthOptions): Promise<string> {
  let iss: unknown;
  try {
    iss = decodeJwt(assertion).iss;
  } catch {
    throw new OAuthError('invalid_client', 'client_assertion is not a JWT', 401);
  }
  if (typeof iss !== 'string') throw new OAuthError('invalid_client', 'client_assertion has no iss', 401);
  if (formClientId && formClientId !== iss) throw new OAuthError('invalid_client', 'client_id differs from the assertion iss', 401);
  const reg = opts.lookup(iss);
  if (reg?.method !== 'private_key_jwt') throw unknownOrWrongMethod(iss, reg, 'private_key_jwt');
  let payload;
  try {
    const key = await importJWK(reg.publicJwk, reg.publicJwk.alg ?? 'ES256');
    ({ payload } = await jwtVerify(assertion, key, {
      issuer: iss,
      subject: iss,
      audience: opts.assertionAudiences,
      clockTolerance: 60,
      requiredClaims: ['exp', 'jti'],
    }));
  } catch (e) {
    throw new OAuthError('invalid_client', `client_assertion rejected: ${(e as Error).message}`, 401);
  }
  if (!opts.jtis.use(payload.jti!, payload.exp!)) throw new OAuthError('invalid_client', 'client_assertion jti was already used', 401);
  return iss;
}
