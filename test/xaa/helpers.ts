import { SignJWT, generateKeyPair, type JWTPayload } from 'jose';
import type { Deps } from '../../src/deps.js';
import type { GatewayError } from '../../src/errors.js';

export const NOW = Date.UTC(2026, 0, 15, 12, 0, 0);
export const IDP = 'https://idp.example.com';
export const AS = 'https://as.saas.example';
export const IDP_META = { issuer: IDP, token_endpoint: `${IDP}/oauth2/token` };
export const AS_META = { issuer: AS, token_endpoint: `${AS}/token` };

export type Handler = (req: Request) => Response | Promise<Response>;

/** A fetch that records each Request and answers from `handler`; no network. */
export function fakeFetch(handler: Handler) {
  const requests: Request[] = [];
  const fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const req = new Request(input, init);
    requests.push(req.clone());
    return handler(req);
  }) as typeof globalThis.fetch;
  const deps: Deps = { fetch, now: () => NOW };
  return { fetch, deps, requests };
}

export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });
}

export async function form(req: Request): Promise<Record<string, string>> {
  return Object.fromEntries(new URLSearchParams(await req.text()));
}

const signingKey = generateKeyPair('ES256');

export async function makeIdJag(claims: JWTPayload = {}, header: Record<string, unknown> = { typ: 'oauth-id-jag+jwt' }, omit: string[] = []): Promise<string> {
  const { privateKey } = await signingKey;
  const payload: JWTPayload = {
    iss: IDP,
    sub: 'user-123',
    aud: AS,
    client_id: 'gw-at-saas',
    jti: 'jti-1',
    iat: NOW / 1000,
    exp: NOW / 1000 + 300,
    resource: 'https://api.saas.example/',
    scope: 'calendar.read',
    ...claims,
  };
  for (const k of omit) delete payload[k];
  return new SignJWT(payload).setProtectedHeader({ alg: 'ES256', ...header }).sign(privateKey);
}

/** Run and return the GatewayError it throws (fails the test if nothing is thrown). */
export async function caught(p: Promise<unknown>): Promise<GatewayError> {
  try {
    await p;
  } catch (e) {
    return e as GatewayError;
  }
  throw new Error('expected a rejection');
}

/** Every string an error exposes: message, descriptions, details. */
export function exposed(e: GatewayError): string {
  return [e.message, e.oauthError ?? '', e.oauthErrorDescription ?? '', JSON.stringify(e.details ?? {})].join('\n');
}

export function econnrefused(): Error {
  const cause = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' });
  return new TypeError('fetch failed', { cause });
}

/** Decode `Authorization: Basic` as an AS does (RFC 6749 §2.3.1: form-urlencoded id and secret). */
export function basicCredentials(req: Request): [string, string] | undefined {
  const h = req.headers.get('authorization');
  if (!h?.startsWith('Basic ')) return undefined;
  const raw = atob(h.slice(6));
  const i = raw.indexOf(':');
  const dec = (v: string) => decodeURIComponent(v.replace(/\+/g, ' '));
  return [dec(raw.slice(0, i)), dec(raw.slice(i + 1))];
}
