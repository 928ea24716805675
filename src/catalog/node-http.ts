import http from 'node:http';
import https from 'node:https';
import type { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { urlToHttpOptions } from 'node:url';
import zlib from 'node:zlib';
import { BodyTooLarge, type HttpAnswer, type HttpClient, type HttpRequest } from '../deps.js';

/**
 * The default HTTP client of tool operations (the port: HttpClient in deps.ts): node:http and node:https with
 * keep-alive agents, one pair per client. HTTP/1.1, as Node's fetch.
 */

/** The content codings (RFC 9110 §8.4.1) decoded here, as fetch does; sent in Accept-Encoding unless the operation sets its own. */
const ACCEPT_ENCODING = 'gzip, deflate, br';
/** RFC 9110 §9.2.2: requests that may be sent again when a connection fails before their answer. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']);
/** How a kept-alive connection that the server closed fails the next request sent on it. */
const STALE_CONNECTION = new Set(['ECONNRESET', 'EPIPE']);
/** A body dropped unread is drained up to this size (the connection is kept); a larger one closes its connection. */
const DRAIN_MAX = 64 * 1024;
/** Stacked content codings decoded at most; more is refused (each one is a decompressor to run). */
const MAX_CODINGS = 5;
/** Idle connections are closed after this long: below the 5 s of Node's servers and the minutes of most others, so a request does not meet a server's close. */
const IDLE_MS = 4000;
/** fetch's choice for truncated compressed bodies: decode what arrived instead of failing. */
const ZLIB_FLUSH = { flush: zlib.constants.Z_SYNC_FLUSH, finishFlush: zlib.constants.Z_SYNC_FLUSH };
const DECODERS: Record<string, () => Transform> = {
  gzip: () => zlib.createGunzip(ZLIB_FLUSH),
  'x-gzip': () => zlib.createGunzip(ZLIB_FLUSH),
  deflate: () => zlib.createInflate(ZLIB_FLUSH),
  br: () => zlib.createBrotliDecompress({ flush: zlib.constants.BROTLI_OPERATION_FLUSH, finishFlush: zlib.constants.BROTLI_OPERATION_FLUSH }),
};
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);

export function nodeHttp(): HttpClient {
  const agents: Record<string, http.Agent> = {
    'http:': new http.Agent({ keepAlive: true, timeout: IDLE_MS, scheduling: 'lifo' }),
    'https:': new https.Agent({ keepAlive: true, timeout: IDLE_MS, scheduling: 'lifo' }),
  };
  return (request) => {
    const agent = agents[request.url.protocol];
    if (!agent) return Promise.reject(new TypeError(`unsupported protocol ${request.url.protocol}`));
    return send(request, agent, true);
  };
}

function send(request: HttpRequest, agent: http.Agent, mayRetry: boolean): Promise<HttpAnswer> {
  const { method, url, body, signal } = request;
  if (signal.aborted) return Promise.reject(signal.reason);
  const headers: http.OutgoingHttpHeaders = { 'accept-encoding': ACCEPT_ENCODING, 'user-agent': 'xaa-gateway', ...request.headers };
  if (body !== undefined) headers['content-length'] = Buffer.byteLength(body);
  else if (BODY_METHODS.has(method)) headers['content-length'] = 0; // not chunked: some APIs refuse that
  // Only the address parts: credentials in the URL are refused by the config, and never turned into Basic auth here.
  const { protocol, hostname, port, path } = urlToHttpOptions(url);
  return new Promise((resolve, reject) => {
    const outgoing = (protocol === 'https:' ? https : http).request({ protocol, hostname, port, path, method, headers, agent });
    let answered = false;
    const onAbort = () => outgoing.destroy(signal.reason as Error);
    const release = () => signal.removeEventListener('abort', onAbort);
    signal.addEventListener('abort', onAbort, { once: true });
    outgoing.once('response', (res) => {
      answered = true;
      resolve(answerOf(res, release));
    });
    // Kept for the request's life: a second 'error' without a listener would throw.
    outgoing.on('error', (e: NodeJS.ErrnoException) => {
      if (answered) return; // the body's reader reports it
      release();
      // Node's documented case (http.request, request.reusedSocket): the server closed an idle kept-alive
      // connection as this request went out on it. Nothing was answered; an idempotent request goes again once.
      // Not one with a DPoP proof: the server may have seen it, and a proof's jti is single use (RFC 9449 §11.1).
      if (
        mayRetry &&
        outgoing.reusedSocket &&
        !signal.aborted &&
        IDEMPOTENT.has(method) &&
        request.headers.dpop === undefined &&
        STALE_CONNECTION.has(e.code ?? '')
      ) {
        resolve(send(request, agent, false));
        return;
      }
      reject(e);
    });
    outgoing.end(body);
  });
}

function answerOf(res: http.IncomingMessage, release: () => void): HttpAnswer {
  // The readers below listen while they read; an error after them (the connection reset later) must not throw.
  res.on('error', () => undefined);
  return {
    status: res.statusCode ?? 0,
    header: (name) => {
      const value = res.headers[name.toLowerCase()];
      return Array.isArray(value) ? value.join(', ') : value;
    },
    read: (max) => readBody(res, max).finally(release),
    discard: () => drop(res).finally(release),
  };
}

async function readBody(res: http.IncomingMessage, max: number): Promise<Uint8Array> {
  const declared = Number(res.headers['content-length'] ?? NaN);
  if (declared > max) {
    res.destroy();
    throw new BodyTooLarge(`Content-Length ${declared}`);
  }
  const decoders = decodersFor(res.headers['content-encoding']);
  if (!decoders.length) return collect(res, max);
  // The cap is on the decoded bytes: a small compressed body can decode to gigabytes. Past it, collect
  // destroys the last decoder, and the pipeline every stage before it, the connection included.
  const [bytes] = await Promise.all([collect(decoders.at(-1)!, max), pipeline([res, ...decoders])]);
  return bytes;
}

/** RFC 9110 §8.4: codings are listed in the order applied, so decoded last to first. */
function decodersFor(contentEncoding: string | undefined): Transform[] {
  if (!contentEncoding) return [];
  const codings = contentEncoding
    .toLowerCase()
    .split(',')
    .map((c) => c.trim())
    .filter((c) => c && c !== 'identity');
  if (codings.length > MAX_CODINGS) throw new Error(`the response has ${codings.length} content codings (at most ${MAX_CODINGS} are decoded)`);
  // A coding this client does not know: the bytes as they came, as fetch hands them over.
  if (!codings.every((c) => c in DECODERS)) return [];
  return codings.reverse().map((c) => DECODERS[c]!());
}

/** The body's chunks, at most `max` bytes; the stream is destroyed (its connection closed) past that. */
function collect(stream: Readable, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const settle = (error?: Error) => {
      stream.off('data', onData).off('end', onEnd).off('error', settle).off('close', onClose);
      if (error) reject(error);
      else resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total));
    };
    const onData = (chunk: Buffer) => {
      total += chunk.length;
      if (total <= max) return void chunks.push(chunk);
      stream.destroy();
      settle(new BodyTooLarge(`more than ${max} bytes streamed`));
    };
    const onEnd = () => settle();
    const onClose = () => settle(new Error('the connection closed before the response body ended'));
    stream.on('data', onData).on('end', onEnd).on('error', settle).on('close', onClose);
  });
}

/** Drains a small body (its connection stays in the pool); closes the connection of a larger or unknown one. */
async function drop(res: http.IncomingMessage): Promise<void> {
  if (res.complete && res.readableEnded) return;
  const declared = Number(res.headers['content-length'] ?? NaN);
  if (!(declared <= DRAIN_MAX)) {
    res.destroy();
    return;
  }
  await collect(res, DRAIN_MAX).catch(() => undefined);
}
