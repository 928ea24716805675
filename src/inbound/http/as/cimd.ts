import type { RegisteredClient } from '../../../store/types.js';
import { describeNetworkError } from '../../../xaa/http.js';
import { oauthError } from './http.js';
import { applicationTypeProblem, parseApplicationType, redirectUriProblem } from './redirect-uri.js';
import { guardedGet, ResponseTooLarge, SsrfRefused } from './ssrf.js';

/**
 * Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document, MCP authorization
 * 2025-11-25): the client_id is an https URL and the document served there is the registration.
 */

export const CIMD_TIMEOUT_MS = 5_000;
export const CIMD_MAX_BYTES = 64 * 1024;
/** Cache lifetime bounds: HTTP caching headers are honoured within them. */
export const CIMD_MIN_TTL_S = 5 * 60;
export const CIMD_MAX_TTL_S = 24 * 60 * 60;
const CIMD_DEFAULT_TTL_S = 60 * 60;

/** Auth methods a metadata document may not use: there is no one to share a secret with (draft §4.1). */
const SHARED_SECRET_METHODS = new Set(['client_secret_basic', 'client_secret_post', 'client_secret_jwt']);

export function looksLikeCimdClientId(clientId: string): boolean {
  return /^https?:\/\//i.test(clientId);
}

/** The client_id URL rules (draft §3): https (http only for a loopback dev gateway), a path, no fragment, credentials or dot segments. */
export function cimdUrlProblem(clientId: string, allowLoopbackHttp: boolean): string | undefined {
  if (!URL.canParse(clientId)) return 'is not a URL';
  const u = new URL(clientId);
  const loopbackHttp = u.protocol === 'http:' && ['127.0.0.1', '[::1]', 'localhost'].includes(u.hostname);
  if (u.protocol !== 'https:' && !(allowLoopbackHttp && loopbackHttp)) return 'must be an https URL';
  if (u.pathname === '/' || !u.pathname) return 'must have a path';
  if (u.hash || clientId.includes('#')) return 'must not have a fragment';
  if (u.username || u.password) return 'must not contain a user name or password';
  const rawPath = clientId.replace(/^[a-z]+:\/\/[^/]*/i, '').split(/[?#]/)[0] ?? '';
  if (rawPath.split('/').some((s) => s === '.' || s === '..')) return 'must not contain . or .. path segments';
  if (u.href !== clientId) return `must be in normal form (${u.href})`;
  return undefined;
}

export interface CimdFetchOptions {
  /** The gateway runs on loopback (development): loopback http client_ids and addresses are allowed. */
  devLoopback: boolean;
  now: number;
}

/** Fetches, validates and returns the client; every refusal is an `invalid_client` GatewayError naming the reason. */
export async function fetchClientMetadata(clientId: string, opts: CimdFetchOptions): Promise<RegisteredClient> {
  const refuse = (reason: string) => oauthError('invalid_client', `client metadata document ${clientId}: ${reason}`, 401);
  const urlProblem = cimdUrlProblem(clientId, opts.devLoopback);
  if (urlProblem) throw refuse(`the client_id URL ${urlProblem}`);
  let res;
  try {
    res = await guardedGet(new URL(clientId), {
      allowLoopback: opts.devLoopback,
      timeoutMs: CIMD_TIMEOUT_MS,
      maxBytes: CIMD_MAX_BYTES,
      accept: 'application/json',
    });
  } catch (e) {
    if (e instanceof SsrfRefused) throw refuse(`refused to fetch: ${e.message}`);
    if (e instanceof ResponseTooLarge) throw refuse(`${e.message} (limit ${CIMD_MAX_BYTES} bytes)`);
    throw refuse(`cannot fetch it (${describeNetworkError(e)})`);
  }
  // Draft §4: only 200 is accepted; redirects are not followed (each hop would need the same checks).
  if (res.status !== 200) throw refuse(`the server answered HTTP ${res.status}${res.status >= 300 && res.status < 400 ? ' (redirects are not followed)' : ''}`);
  const type = String(res.headers['content-type'] ?? '');
  if (!/^application\/([a-z0-9.+-]*\+)?json\b/i.test(type)) throw refuse(`the content type is "${type}", not application/json`);
  let doc: unknown;
  try {
    doc = JSON.parse(res.body.toString('utf8'));
  } catch {
    throw refuse('the body is not valid JSON');
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw refuse('the body is not a JSON object');
  const d = doc as Record<string, unknown>;
  if (d.client_id !== clientId) throw refuse('"client_id" in the document does not equal the URL it was fetched from');
  if (!Array.isArray(d.redirect_uris) || d.redirect_uris.length === 0) throw refuse('"redirect_uris" must be a non-empty array');
  for (const [i, uri] of d.redirect_uris.entries()) {
    const problem = redirectUriProblem(uri);
    if (problem) throw refuse(`redirect_uris[${i}] ${problem}`);
  }
  // A document is the client's registration (draft §4.1, RFC 7591 metadata): its application_type
  // binds its redirect URIs as at dynamic registration (register.ts). None given: none assumed.
  const applicationType = parseApplicationType(d.application_type);
  if (applicationType === 'invalid') throw refuse('application_type must be "web" or "native"');
  if (applicationType) {
    for (const [i, uri] of (d.redirect_uris as string[]).entries()) {
      const problem = applicationTypeProblem(applicationType, uri);
      if (problem) throw refuse(`redirect_uris[${i}] ${problem}`);
    }
  }
  const method = d.token_endpoint_auth_method ?? 'none';
  if (typeof method === 'string' && SHARED_SECRET_METHODS.has(method))
    throw refuse(`token_endpoint_auth_method "${method}" needs a shared secret, which a metadata document cannot have`);
  if (method !== 'none') throw refuse(`token_endpoint_auth_method "${String(method)}" is not supported (use "none" with PKCE)`);
  if ('client_secret' in d) throw refuse('a metadata document must not contain a client_secret');
  if (d.client_name !== undefined && (typeof d.client_name !== 'string' || d.client_name.length > 200))
    throw refuse('"client_name" must be a string of at most 200 characters');
  if (d.dpop_bound_access_tokens !== undefined && typeof d.dpop_bound_access_tokens !== 'boolean')
    throw refuse('"dpop_bound_access_tokens" must be a boolean (RFC 9449 §5.2)');
  const ttl = cacheLifetimeSeconds(String(res.headers['cache-control'] ?? ''));
  return {
    clientId,
    source: 'cimd',
    ...(typeof d.client_name === 'string' && d.client_name.trim() ? { clientName: d.client_name.trim() } : {}),
    redirectUris: d.redirect_uris as string[],
    tokenEndpointAuthMethod: 'none',
    metadata: pick(d, [
      'client_id',
      'client_name',
      'client_uri',
      'logo_uri',
      'redirect_uris',
      'application_type',
      'grant_types',
      'response_types',
      'token_endpoint_auth_method',
      'scope',
      'software_id',
      'software_version',
      'dpop_bound_access_tokens',
    ]),
    createdAt: opts.now,
    expiresAt: opts.now + ttl * 1000,
  };
}

/** RFC 9111 max-age, clamped to [5 min, 24 h]; no-store / no-cache still cache for the minimum. */
export function cacheLifetimeSeconds(cacheControl: string): number {
  const directives = cacheControl.toLowerCase();
  if (/\b(no-store|no-cache)\b/.test(directives)) return CIMD_MIN_TTL_S;
  const m = /\bmax-age=(\d+)/.exec(directives);
  const ttl = m ? Number(m[1]) : CIMD_DEFAULT_TTL_S;
  return Math.min(CIMD_MAX_TTL_S, Math.max(CIMD_MIN_TTL_S, ttl));
}

function pick(d: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(keys.filter((k) => d[k] !== undefined).map((k) => [k, d[k]]));
}
