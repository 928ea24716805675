import type { HttpOperation } from '../config/schema.js';
import { BodyTooLarge, defaultFetch, type Deps, type HttpAnswer, type HttpClient } from '../deps.js';
import { GatewayError } from '../errors.js';
import { isResourceNonceChallenge, type DpopClient } from '../dpop/index.js';
import { fetchHttp } from './fetch-http.js';
import { nodeHttp } from './node-http.js';

/**
 * A tool backed by one HTTP API operation: build the request from the config and the validated
 * arguments (pure), then send it with the brokered access token and read the answer under the
 * operation's time and size limits. Mapping the answer to an MCP result is tool-result.ts.
 *
 * The destination always comes from the config (docs/security.md: no SSRF): arguments only fill URL-encoded
 * path parameters, the query and the JSON body, and the final URL's origin is asserted to be the
 * template's. The token is only ever sent to that origin.
 */

export interface DownstreamRequest {
  method: HttpOperation['method'];
  url: URL;
  /** Lower-case names. */
  headers: Record<string, string>;
  body?: string;
}

export interface DownstreamResult {
  status: number;
  ok: boolean;
  contentType?: string;
  /** The body as text, with any occurrence of the access token removed. */
  bodyText: string;
  /** The parsed body when the response is JSON (application/json or any +json type). */
  json?: unknown;
  /** Final URL (after same-origin redirects). */
  url: string;
  method: string;
  wwwAuthenticate?: string;
  /** Retry-After header (RFC 9110 §10.2.3): seconds or an HTTP date. */
  retryAfter?: string;
}

export interface ExecuteOptions {
  /** Cancels the call (e.g. the MCP client cancelled the request). */
  signal?: AbortSignal;
  /** buildDownstreamRequest(op, args) already made by the caller (the gateway audits its target first): not built again. */
  request?: DownstreamRequest;
  /**
   * The token is DPoP-bound to this key (RFC 9449): `Authorization: DPoP`, a fresh proof on every
   * request (each redirect hop too, for its own method and URL), one retry with the server's nonce (§9).
   */
  dpop?: DpopClient;
}

/** Redirects followed within the template's origin; any other origin is refused outright. */
export const MAX_REDIRECTS = 3;

const PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_]*)\}/g;
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);
// WHATWG URL treats these as "." and ".." segments and would resolve them away (URL Standard, path state).
const DOT_SEGMENT = /^(?:\.|%2e){1,2}$/i;
/** Stateless between calls (no `stream` option), so one decoder serves every call. */
const UTF8 = new TextDecoder();

/** Names of the `{arg}` placeholders of a URL template, in order. */
export function pathParameterNames(urlTemplate: string): string[] {
  return [...urlTemplate.matchAll(PLACEHOLDER)].map((m) => m[1] ?? '');
}

/**
 * Builds the downstream request. Pure. Throws `invalid_arguments` when an argument cannot be
 * placed safely in the path (missing, empty, not a scalar, a dot segment) or when the result would
 * leave the template's origin.
 *
 * Defaults when the maps are absent: GET/DELETE put every argument not used in the path (or in an
 * explicit body map) into the query; POST/PUT/PATCH put every argument not used in the path or the query into a JSON body.
 */
export function buildDownstreamRequest(op: HttpOperation, args: Record<string, unknown>): DownstreamRequest {
  const templateOrigin = new URL(op.url).origin;
  const queryStart = op.url.indexOf('?');
  const inPath = new Set<string>();

  // Substitute segment by segment: encoded values contain no "/", so segments stay aligned with
  // the template's and each substituted segment can be checked on its own.
  const url = op.url
    .split('/')
    .map((segment, i, all) => {
      const offset = all.slice(0, i).reduce((n, s) => n + s.length + 1, 0);
      const isPathSegment = queryStart < 0 || offset < queryStart;
      let placed = false;
      const out = segment.replace(PLACEHOLDER, (_, name: string) => {
        inPath.add(name);
        placed = true;
        return encodePathValue(name, args[name]);
      });
      if (placed && isPathSegment && DOT_SEGMENT.test(out.split('?')[0] ?? '')) {
        throw new GatewayError('invalid_arguments', `path parameters of ${describeTemplate(op)} must not form a "." or ".." segment`);
      }
      return out;
    })
    .join('/');

  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (e) {
    throw new GatewayError('invalid_arguments', `the arguments do not make a valid URL for ${describeTemplate(op)}`, { cause: e });
  }
  if (parsed.origin !== templateOrigin) {
    throw new GatewayError('invalid_arguments', `the arguments would send the request to ${parsed.origin} instead of ${templateOrigin}`);
  }

  const present = Object.keys(args).filter((k) => args[k] !== undefined);
  const inExplicitBody = new Set(Object.values(op.body ?? {}));
  const queryMap = op.query ?? (BODY_METHODS.has(op.method) ? {} : identityMap(present.filter((k) => !inPath.has(k) && !inExplicitBody.has(k))));
  for (const [param, argName] of Object.entries(queryMap)) {
    appendQuery(parsed.searchParams, param, args[argName]);
  }

  const inQuery = new Set(Object.values(queryMap));
  const bodyMap = op.body ?? (BODY_METHODS.has(op.method) ? identityMap(present.filter((k) => !inPath.has(k) && !inQuery.has(k))) : undefined);
  if (bodyMap && op.method === 'GET') {
    throw new GatewayError('config_invalid', `${describeTemplate(op)}: a GET request cannot have a body; map the arguments to "query"`);
  }
  let body: string | undefined;
  if (bodyMap) {
    const fields: Record<string, unknown> = {};
    for (const [field, argName] of Object.entries(bodyMap)) {
      if (args[argName] !== undefined) fields[field] = args[argName];
    }
    body = JSON.stringify(fields);
  }

  const headers: Record<string, string> = { accept: 'application/json' };
  for (const [name, value] of Object.entries(op.headers ?? {})) headers[name.toLowerCase()] = value;
  if (body !== undefined && headers['content-type'] === undefined) headers['content-type'] = 'application/json';
  // Only executeHttpOperation sets it, from the brokered token (the schema refuses it as well).
  delete headers.authorization;

  return body === undefined ? { method: op.method, url: parsed, headers } : { method: op.method, url: parsed, headers, body };
}

/**
 * The client tool operations are sent with: deps.http, else node:http when deps.fetch is the default
 * one, else the injected fetch (tests that watch or steer the calls through it keep doing so).
 */
export function httpClientOf(deps: Pick<Deps, 'fetch' | 'http'>): HttpClient {
  if (deps.http) return deps.http;
  return deps.fetch === defaultFetch ? (sharedHttp ??= nodeHttp()) : fetchHttp(deps.fetch);
}

/** One per process, as fetch's global dispatcher: its connections are shared by every tool of every origin. */
let sharedHttp: HttpClient | undefined;

/**
 * Sends the operation with `Authorization: Bearer <accessToken>` and reads the answer. Non-2xx
 * answers are returned (ok false), including 401, which toToolResult turns into
 * `downstream_unauthorized`. Throws `downstream_timeout`, `downstream_unreachable`,
 * `downstream_redirect` (another origin, or too many redirects) and `downstream_too_large`.
 */
export async function executeHttpOperation(
  op: HttpOperation,
  args: Record<string, unknown>,
  accessToken: string,
  deps: Pick<Deps, 'fetch' | 'http'>,
  options: ExecuteOptions = {},
): Promise<DownstreamResult> {
  const request = options.request ?? buildDownstreamRequest(op, args);
  // Checked here so that Headers never echoes a malformed token in its own error message.
  if (!B64TOKEN.test(accessToken)) {
    throw new GatewayError('internal', 'the brokered access token is not a valid bearer token (RFC 6750 §2.1 b64token)');
  }
  const host = request.url.host;
  // A timer of its own, cleared once the answer is read (finally, below). AbortSignal.timeout's cannot be
  // cleared: each call's signal, and the request state fetch hangs on it, stayed alive for timeoutMs.
  const deadline = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    deadline.abort(new DOMException(`no answer within ${op.timeoutMs} ms`, 'TimeoutError'));
  }, op.timeoutMs).unref();
  const signal = options.signal ? AbortSignal.any([deadline.signal, options.signal]) : deadline.signal;
  try {
    return await exchange(request, op, accessToken, httpClientOf(deps), signal, options.dpop, (e, doing) => {
      if (e instanceof GatewayError) return e;
      if (timedOut) {
        return new GatewayError('downstream_timeout', `${host} did not answer within ${op.timeoutMs} ms (timeoutMs of the operation)`, {
          cause: e,
          details: { host, timeoutMs: op.timeoutMs },
        });
      }
      if (options.signal?.aborted) {
        return new GatewayError('downstream_error', `the call to ${host} was cancelled`, { cause: e, details: { host } });
      }
      return new GatewayError('downstream_unreachable', `could not reach ${host} while ${doing}: ${redact(networkReason(e), accessToken)}`, {
        cause: e,
        details: { host },
      });
    });
  } finally {
    clearTimeout(timer);
  }
}

/** The request, its same-origin redirects and the answer's body, under `signal`; `failure` names what went wrong. */
async function exchange(
  request: DownstreamRequest,
  op: HttpOperation,
  accessToken: string,
  client: HttpClient,
  signal: AbortSignal,
  dpop: DpopClient | undefined,
  failure: (e: unknown, doing: string) => GatewayError,
): Promise<DownstreamResult> {
  const origin = request.url.origin;
  const host = request.url.host;
  let { method, body } = request;
  let url = request.url;
  const headers: Record<string, string> = { ...request.headers, authorization: `${dpop ? 'DPoP' : 'Bearer'} ${accessToken}` };
  const send = async (): Promise<HttpAnswer> => {
    if (dpop) headers.dpop = await dpop.proof(method, url, accessToken);
    const answer = await client(body === undefined ? { method, url, headers, signal } : { method, url, headers, body, signal });
    dpop?.rememberNonce(answer.header('dpop-nonce'), url);
    return answer;
  };

  for (let redirects = 0; ; redirects++) {
    let answer: HttpAnswer;
    try {
      answer = await send();
      if (dpop && isResourceNonceChallenge(answer.status, answer.header('dpop-nonce'), answer.header('www-authenticate'))) {
        await answer.discard();
        answer = await send();
      }
    } catch (e) {
      throw failure(e, 'sending the request');
    }

    const { status } = answer;
    const location = answer.header('location');
    if (isRedirect(status) && location !== undefined) {
      await answer.discard();
      let next: URL;
      try {
        next = new URL(location, url);
      } catch (e) {
        throw new GatewayError('downstream_redirect', `${host} answered HTTP ${status} with an invalid Location`, { cause: e, status });
      }
      if (next.origin !== origin) {
        // Following would hand the user's token to a host the config never named.
        throw new GatewayError(
          'downstream_redirect',
          `${host} redirected to another host, ${next.host}; not followed (the access token is only sent to ${host})`,
          { status, details: { from: host, to: next.host } },
        );
      }
      if (redirects >= MAX_REDIRECTS) {
        throw new GatewayError('downstream_redirect', `${host} redirected more than ${MAX_REDIRECTS} times`, { status, details: { host } });
      }
      // Fetch Standard, HTTP-redirect fetch step 12: 303 (and 301/302 after POST) become GET without a body.
      if ((status === 303 && method !== 'GET') || ((status === 301 || status === 302) && method === 'POST')) {
        method = 'GET';
        body = undefined;
        delete headers['content-type'];
      }
      url = next;
      continue;
    }

    let bytes: Uint8Array;
    try {
      bytes = await answer.read(op.maxResponseBytes);
    } catch (e) {
      if (e instanceof BodyTooLarge) {
        // The SaaS cannot make the gateway hold more than the config allows.
        throw new GatewayError(
          'downstream_too_large',
          `the response of ${host} is larger than ${op.maxResponseBytes} bytes (${e.size}; maxResponseBytes of the operation)`,
          {
            status,
            details: { host, maxResponseBytes: op.maxResponseBytes },
          },
        );
      }
      throw failure(e, 'reading the response');
    }
    const contentType = answer.header('content-type');
    const bodyText = redact(UTF8.decode(bytes), accessToken);
    const wwwAuthenticate = answer.header('www-authenticate');
    const retryAfter = answer.header('retry-after');
    const result: DownstreamResult = { status, ok: status >= 200 && status <= 299, bodyText, url: url.toString(), method };
    if (contentType !== undefined) result.contentType = contentType;
    if (isJsonType(contentType) && bodyText.trim() !== '') {
      try {
        result.json = JSON.parse(bodyText);
      } catch {
        // Declared JSON but is not: the text is still returned.
      }
    }
    if (wwwAuthenticate !== undefined) result.wwwAuthenticate = redact(wwwAuthenticate, accessToken);
    if (retryAfter !== undefined) result.retryAfter = retryAfter;
    return result;
  }
}

/**
 * Removes every occurrence of `secret` (raw, JSON-escaped, URL-encoded) from `text`. A SaaS may
 * echo the request, Authorization header included; tool results and messages must never carry it.
 */
export function redact(text: string, secret: string): string {
  if (secret.length < 8) return text;
  let out = text;
  // includes() first: the common answer holds no form, and split/join would copy it four times.
  for (const form of formsOf(secret)) {
    if (out.includes(form)) out = out.split(form).join('[redacted]');
  }
  return out;
}

/**
 * The forms of the last secret redacted. A brokered token serves many calls in a row, and encoding a
 * JWT of a kilobyte three ways on each of them cost more than the searches.
 */
let lastForms: { secret: string; forms: string[] } | undefined;

function formsOf(secret: string): string[] {
  if (lastForms?.secret !== secret) {
    const escaped = JSON.stringify(secret).slice(1, -1);
    lastForms = { secret, forms: [...new Set([secret, escaped, escaped.replace(/\//g, '\\/'), encodeURIComponent(secret)])] };
  }
  return lastForms.forms;
}

/** application/json, application/problem+json, any other +json type (RFC 6839 §3.1). */
export function isJsonType(contentType: string | undefined): boolean {
  if (!contentType) return false;
  const essence = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  return essence === 'application/json' || /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]*\+json$/.test(essence);
}

function encodePathValue(name: string, value: unknown): string {
  if (value === undefined || value === null) {
    throw new GatewayError('invalid_arguments', `path parameter {${name}} is missing`);
  }
  if (typeof value !== 'string' && typeof value !== 'boolean' && !(typeof value === 'number' && Number.isFinite(value))) {
    throw new GatewayError('invalid_arguments', `path parameter {${name}} must be a string, number or boolean`);
  }
  const text = String(value);
  // "/items/{id}" with an empty id would address the collection instead of an item.
  if (text === '') throw new GatewayError('invalid_arguments', `path parameter {${name}} must not be empty`);
  return encodeURIComponent(text);
}

function appendQuery(params: URLSearchParams, name: string, value: unknown): void {
  if (value === undefined || value === null) return;
  if (Array.isArray(value)) {
    for (const item of value) appendQuery(params, name, item);
    return;
  }
  params.append(name, typeof value === 'object' ? JSON.stringify(value) : String(value));
}

function identityMap(names: string[]): Record<string, string> {
  return Object.fromEntries(names.map((n) => [n, n]));
}

function describeTemplate(op: HttpOperation): string {
  return `${op.method} ${op.url}`;
}

function isRedirect(status: number): boolean {
  return status === 301 || status === 302 || status === 303 || status === 307 || status === 308;
}

function networkReason(e: unknown): string {
  // node:http's errors carry the code themselves ("ECONNREFUSED"); fetch's are "fetch failed" with it on the cause.
  const own = (e as { code?: unknown } | undefined)?.code;
  if (typeof own === 'string') return own;
  const cause = e instanceof Error ? (e.cause as { code?: unknown; message?: unknown } | undefined) : undefined;
  if (cause && typeof cause.code === 'string') return cause.code;
  if (cause && typeof cause.message === 'string') return cause.message;
  return e instanceof Error ? e.message : String(e);
}
