/**
 * A `fetch` for one bench client: its own keep-alive connection(s) (node:http Agent), so N clients
 * are N connections as N MCP clients on N machines would be, not N callers sharing the global
 * fetch's pool. It also remembers the status and Retry-After of the client's last POST: the SDK
 * clients throw on a 503 with a message of their own making, and the bench classifies the refusal
 * by what the server actually sent.
 */
import { Agent, request, type IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';

export interface LastAnswer {
  status: number;
  retryAfter: string | null;
}

export interface ClientFetch {
  fetch: typeof fetch;
  /** The last POST's answer (one call in flight per client, so it is the failed call's). */
  last(): LastAnswer | undefined;
  /** Forgets the last answer (before a call, so a network failure is not taken for the previous call's answer). */
  reset(): void;
  /** Closes the client's sockets. */
  close(): void;
}

const NO_BODY = new Set([204, 205, 304]);

function toHeaders(res: IncomingMessage): Headers {
  const h = new Headers();
  for (const [k, v] of Object.entries(res.headers)) {
    if (Array.isArray(v)) for (const x of v) h.append(k, x);
    else if (v !== undefined) h.set(k, v);
  }
  return h;
}

export function clientFetch(): ClientFetch {
  // One socket is enough for calls made one after the other; a 2025 client's held GET stream takes a second.
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  let last: LastAnswer | undefined;
  const f = async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    let url: URL;
    let method = init.method;
    let headers = new Headers(init.headers);
    let body = init.body;
    if (input instanceof Request) {
      url = new URL(input.url);
      method ??= input.method;
      if (!init.headers) headers = new Headers(input.headers);
      body ??= input.body ? await input.text() : undefined;
    } else {
      url = new URL(String(input));
    }
    method = (method ?? 'GET').toUpperCase();
    if (body !== undefined && body !== null && typeof body !== 'string') {
      if (body instanceof URLSearchParams) {
        if (!headers.has('content-type')) headers.set('content-type', 'application/x-www-form-urlencoded;charset=UTF-8');
        body = body.toString();
      } else {
        throw new TypeError(`bench client fetch: unsupported body type ${Object.prototype.toString.call(body)}`);
      }
    }
    const payload = typeof body === 'string' ? Buffer.from(body) : undefined;
    if (payload) headers.set('content-length', String(payload.length));
    const signal = init.signal ?? undefined;
    signal?.throwIfAborted();
    const send = (retried: boolean) =>
      new Promise<Response>((resolve, reject) => {
        let answered = false;
        const req = request(url, { method, agent, headers: Object.fromEntries(headers) }, (res) => {
          answered = true;
          const status = res.statusCode ?? 0;
          if (method === 'POST') last = { status, retryAfter: (res.headers['retry-after'] as string | undefined) ?? null };
          const noBody = NO_BODY.has(status) || method === 'HEAD';
          if (noBody) res.resume();
          resolve(
            new Response(noBody ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>), {
              status,
              statusText: res.statusMessage ?? '',
              headers: toHeaders(res),
            }),
          );
        });
        const onAbort = () => req.destroy(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
        signal?.addEventListener('abort', onAbort, { once: true });
        req.on('close', () => signal?.removeEventListener('abort', onAbort));
        req.on('error', (e) => {
          // A kept-alive socket the server closed for idleness while this request was being written to it
          // (its keepAliveTimeout, e.g. 5 s between two cells) before reading it: send it
          // again once on a new socket, as Node's documentation of `request.reusedSocket` does.
          const code = (e as NodeJS.ErrnoException).code;
          if (!retried && !answered && req.reusedSocket && (code === 'ECONNRESET' || code === 'EPIPE') && !signal?.aborted) {
            resolve(send(true));
            return;
          }
          reject(new TypeError('fetch failed', { cause: e }));
        });
        req.end(payload);
      });
    return send(false);
  };
  return {
    fetch: f as typeof fetch,
    last: () => last,
    reset: () => void (last = undefined),
    close: () => agent.destroy(),
  };
}
