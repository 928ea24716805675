/**
 * What the core takes from the outside world. Tests inject them; nothing in src/ reads the global
 * `fetch` or `Date.now()` directly except through these defaults.
 */
export interface Deps {
  fetch: typeof fetch;
  /** Milliseconds since the epoch. */
  now: () => number;
  /**
   * The client tool operations go out with. When absent: node:http if `fetch` is the default one,
   * else `fetch` (so a test that injects a fetch still sees and steers every call).
   */
  http?: HttpClient;
}

/** The global fetch, called late (a test may replace it). */
export const defaultFetch: typeof fetch = (input, init) => globalThis.fetch(input, init);

export const defaultDeps: Deps = {
  fetch: defaultFetch,
  now: () => Date.now(),
};

export function withDeps(partial: Partial<Deps> = {}): Deps {
  return { ...defaultDeps, ...partial };
}

/**
 * The client a tool's HTTP operation is sent with (catalog/http-operation.ts): a port with two
 * adapters. catalog/node-http.ts (node:http with keep-alive agents) is the default; catalog/fetch-http.ts
 * serves any fetch (an injected one in tests, a runtime without node:http). Measured on loopback, Node
 * 20: node:http took about half of fetch's CPU per call (160 against 340 µs, client side) and 150 µs
 * less wall time, on the path every tool call takes. The adapter only moves bytes: redirects, DPoP,
 * the token and its redaction stay in http-operation.ts.
 */
export interface HttpRequest {
  method: string;
  /** From the config only (docs/security.md); http-operation.ts checks its origin. */
  url: URL;
  /** Lower-case names. */
  headers: Record<string, string>;
  body?: string;
  /** Ends the exchange, the body's read included: the request fails with the signal's reason. */
  signal: AbortSignal;
}

export interface HttpAnswer {
  status: number;
  /** A header of the answer by name (any case); undefined when absent. */
  header(name: string): string | undefined;
  /**
   * The body, decoded from its Content-Encoding as fetch does (gzip, deflate, br; a coding it does not know is
   * left as it came), at most `max` bytes: rejects with BodyTooLarge when the Content-Length says more,
   * or as soon as more arrives, without reading the rest.
   */
  read(max: number): Promise<Uint8Array>;
  /** Drops the body unread (a redirect, a DPoP nonce challenge). */
  discard(): Promise<void>;
}

export type HttpClient = (request: HttpRequest) => Promise<HttpAnswer>;

/** A body over the reader's limit; `size` says how it was found ("Content-Length 5000000", "more than 1024 bytes streamed"). */
export class BodyTooLarge extends Error {
  constructor(readonly size: string) {
    super(`response body too large: ${size}`);
    this.name = 'BodyTooLarge';
  }
}
