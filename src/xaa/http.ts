import * as oauth from 'oauth4webapi';
import type { Deps } from '../deps.js';
import { DEFAULT_TIMEOUT_MS } from './constants.js';
import { isLoopbackHttp } from '../security.js';

export function isAllowedUrl(url: URL): boolean {
  return url.protocol === 'https:' || isLoopbackHttp(url);
}

export function parseUrl(value: string): URL | undefined {
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
}

/** The request never reached the peer or got no answer: refused, DNS, TLS, reset, timeout. */
export class NetworkFailure extends Error {
  override readonly name = 'NetworkFailure';
  constructor(cause: unknown) {
    super(describeNetworkError(cause), { cause });
  }
}

/** A short, secret-free reason: the errno code (ECONNREFUSED...) or "timed out". */
export function describeNetworkError(e: unknown): string {
  if (e instanceof Error && (e.name === 'TimeoutError' || e.name === 'AbortError')) return 'timed out';
  const cause = e instanceof Error ? (e.cause as { code?: unknown } | undefined) : undefined;
  const code = (e as { code?: unknown } | null)?.code ?? cause?.code;
  if (typeof code === 'string') return code;
  return e instanceof Error ? e.message : String(e);
}

/** "timed out" becomes "timed out after 4000 ms (idp.timeoutMs)": the cause and the setting to look at. */
export function withTimeout(reason: string, timeoutMs: number | undefined, setting: string): string {
  return reason === 'timed out' && timeoutMs !== undefined ? `timed out after ${timeoutMs} ms (${setting})` : reason;
}

/** deps.fetch, with transport failures marked so they are told apart from protocol errors. */
export function markingFetch(deps: Pick<Deps, 'fetch'>): typeof fetch {
  return async (input, init) => {
    try {
      return await deps.fetch(input, init);
    } catch (e) {
      throw new NetworkFailure(e);
    }
  };
}

/** oauth4webapi request options: injected fetch, timeout, http only for loopback. */
export function oauthHttpOptions(
  url: URL,
  deps: Pick<Deps, 'fetch'>,
  timeoutMs = DEFAULT_TIMEOUT_MS,
): oauth.HttpRequestOptions<'GET'> & oauth.HttpRequestOptions<'POST', URLSearchParams> {
  return {
    [oauth.customFetch]: markingFetch(deps),
    [oauth.allowInsecureRequests]: isLoopbackHttp(url),
    signal: AbortSignal.timeout(timeoutMs),
  };
}

/** Replace every secret that might be echoed by a peer (a token, an assertion, a client secret). */
export function redact(text: string, secrets: readonly (string | undefined)[]): string {
  let out = text;
  for (const s of secrets) if (s && s.length >= 4) out = out.split(s).join('[redacted]');
  return out.length > 300 ? `${out.slice(0, 300)}…` : out;
}
