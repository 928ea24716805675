import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executeHttpOperation, redact, type DownstreamResult } from '../../src/catalog/http-operation.js';
import { toToolResult } from '../../src/catalog/tool-result.js';
import { HttpOperation } from '../../src/config/schema.js';
import { nodeHttp } from '../../src/catalog/node-http.js';
import { defaultFetch, type Deps, type HttpClient } from '../../src/deps.js';
import { GatewayError, isGatewayError } from '../../src/errors.js';

/** Real HTTP on loopback: the SaaS (origin) and another host (the second port is another origin). */

const TOKEN = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXNlY3JldC8rPQ';

interface Seen {
  method: string;
  path: string;
  authorization?: string;
  contentType?: string;
  body: string;
}

function recordingServer(handle: (req: IncomingMessage, res: ServerResponse, body: string) => void) {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', path: req.url ?? '', authorization: req.headers.authorization, contentType: req.headers['content-type'], body });
      handle(req, res, body);
    });
  });
  return { server, seen };
}

function json(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(value));
}

let other: string; // origin of the second server
const saas = recordingServer((req, res, body) => {
  const path = (req.url ?? '').split('?')[0];
  switch (path) {
    case '/ok':
      return json(res, 200, { id: 'm1', title: 'Standup' });
    case '/list':
      return json(res, 200, [{ id: 1 }, { id: 2 }]);
    case '/text':
      res.writeHead(200, { 'content-type': 'text/plain' });
      return res.end('hello');
    case '/create':
      return json(res, 201, { created: JSON.parse(body || 'null'), query: req.url?.split('?')[1] ?? '' });
    case '/nocontent':
      res.writeHead(204);
      return res.end();
    case '/bad':
      return json(res, 400, { error: 'invalid_request', error_description: 'title is too long' });
    case '/scope':
      return json(res, 403, { error: 'insufficient_scope' }, { 'www-authenticate': 'Bearer error="insufficient_scope", scope="calendar.write"' });
    case '/missing':
      return json(res, 404, { message: 'no such meeting' });
    case '/conflict':
      return json(res, 409, { message: 'slot already booked' });
    case '/limited':
      return json(res, 429, { message: 'slow down' }, { 'retry-after': '30' });
    case '/boom':
      res.writeHead(500, { 'content-type': 'text/html' });
      return res.end('<html>oops</html>');
    case '/unauth':
      return json(res, 401, { error: 'invalid_token' }, { 'www-authenticate': 'Bearer error="invalid_token"' });
    case '/hang':
      return; // never answers
    case '/stalled-body':
      // Headers and half the declared body, then nothing: the deadline covers reading the body too.
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
      return res.write('{"id":');
    case '/huge-declared':
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(10_000) });
      return res.end('x'.repeat(10_000));
    case '/huge-gzip': {
      // 100 KB of JSON in a few hundred bytes: the Content-Length is of the compressed body.
      const zipped = gzipSync(JSON.stringify({ pad: 'x'.repeat(100_000) }));
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': String(zipped.length) });
      return res.end(zipped);
    }
    case '/gzip':
    case '/br': {
      const text = JSON.stringify({ coded: path.slice(1), acceptEncoding: req.headers['accept-encoding'] });
      const coded = path === '/gzip' ? gzipSync(text) : brotliCompressSync(text);
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': path.slice(1), 'content-length': String(coded.length) });
      return res.end(coded);
    }
    case '/headers':
      return json(res, 200, { ...req.headers, port: req.socket.remotePort, body });
    case '/unknown-coding':
      res.writeHead(200, { 'content-type': 'text/plain', 'content-encoding': 'x-custom' });
      return res.end('as sent');
    case '/huge-streamed': {
      res.writeHead(200, { 'content-type': 'application/json' }); // chunked, no Content-Length
      let n = 0;
      const timer = setInterval(() => {
        if (res.destroyed || n++ > 1000) {
          clearInterval(timer);
          return res.end();
        }
        res.write('x'.repeat(1024));
      }, 1);
      return;
    }
    case '/echo':
      return json(res, 200, { youSent: req.headers.authorization, raw: req.headers.authorization?.slice(7) });
    case '/echo-401':
      return json(
        res,
        401,
        { error: `bad token ${req.headers.authorization}` },
        { 'www-authenticate': `Bearer error="invalid_token", error_description="${TOKEN}"` },
      );
    case '/echo-text':
      res.writeHead(400, { 'content-type': 'text/plain' });
      return res.end(`rejected ${req.headers.authorization} (${encodeURIComponent(TOKEN)})`);
    case '/redirect-same':
      res.writeHead(302, { location: '/ok' });
      return res.end();
    case '/redirect-303':
      res.writeHead(303, { location: '/ok' });
      return res.end();
    case '/redirect-loop':
      res.writeHead(307, { location: '/redirect-loop' });
      return res.end();
    case '/redirect-cross':
      res.writeHead(302, { location: `${other}/steal` });
      return res.end();
    default:
      return json(res, 404, { error: 'no route' });
  }
});
const elsewhere = recordingServer((_req, res) => json(res, 200, { stolen: true }));

let base: string;
const fetched: string[] = [];
const recordingFetch: typeof fetch = (input, init) => {
  fetched.push(String(input));
  return globalThis.fetch(input, init);
};
const node = nodeHttp();
const recordingNode: HttpClient = (request) => {
  fetched.push(request.url.toString());
  return node(request);
};
/** Every test of the first block runs over both adapters of the HTTP client port. */
const clients: Record<string, Pick<Deps, 'fetch' | 'http'>> = {
  'node:http (the default)': { fetch: recordingFetch, http: recordingNode },
  'an injected fetch': { fetch: recordingFetch },
};
let deps: Pick<Deps, 'fetch' | 'http'>;

function listen(server: Server): Promise<string> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}
function close(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

beforeAll(async () => {
  base = await listen(saas.server);
  other = await listen(elsewhere.server);
});
afterAll(async () => {
  await close(saas.server);
  await close(elsewhere.server);
});

const tool = { name: 'calendar_create_meeting', scopes: ['calendar.read'] };
const op = (method: string, path: string, extra: Record<string, unknown> = {}) => HttpOperation.parse({ method, url: `${base}${path}`, ...extra });
const call = (method: string, path: string, args: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) =>
  executeHttpOperation(op(method, path, extra), args, TOKEN, deps);

async function failure(p: Promise<unknown>): Promise<GatewayError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof GatewayError) return e;
    throw e;
  }
  throw new Error('expected a GatewayError');
}

describe.each(Object.keys(clients))('executeHttpOperation + toToolResult against a loopback SaaS, over %s', (client) => {
  beforeAll(() => {
    deps = clients[client]!;
  });

  it('200 JSON -> text and structuredContent; sends the token as Bearer', async () => {
    const before = saas.seen.length;
    const result = await call('GET', '/ok', { q: 'x' });
    expect(result).toEqual({
      status: 200,
      ok: true,
      contentType: 'application/json',
      bodyText: '{"id":"m1","title":"Standup"}',
      json: { id: 'm1', title: 'Standup' },
      url: `${base}/ok?q=x`,
      method: 'GET',
    });
    expect(saas.seen[before]).toMatchObject({ method: 'GET', path: '/ok?q=x', authorization: `Bearer ${TOKEN}` });
    expect(toToolResult(result, tool)).toEqual({
      content: [{ type: 'text', text: '{"id":"m1","title":"Standup"}' }],
      structuredContent: { id: 'm1', title: 'Standup' },
    });
  });

  it.each([
    [
      'JSON array -> structuredContent.items',
      'GET',
      '/list',
      {},
      { content: [{ type: 'text', text: JSON.stringify([{ id: 1 }, { id: 2 }]) }], structuredContent: { items: [{ id: 1 }, { id: 2 }] } },
    ],
    ['non-JSON 2xx -> text', 'GET', '/text', {}, { content: [{ type: 'text', text: 'hello' }] }],
    ['204 -> short text', 'DELETE', '/nocontent', {}, { content: [{ type: 'text', text: 'calendar_create_meeting succeeded (HTTP 204 No Content)' }] }],
    [
      '201 POST body',
      'POST',
      '/create',
      { title: 'T' },
      {
        content: [{ type: 'text', text: JSON.stringify({ created: { title: 'T' }, query: '' }) }],
        structuredContent: { created: { title: 'T' }, query: '' },
      },
    ],
  ])('%s', async (_, method, path, args, expected) => {
    expect(toToolResult(await call(method, path, args), tool)).toEqual(expected);
  });

  it.each([
    [400, '/bad', 'The SaaS rejected the request as invalid (HTTP 400 from HOST): invalid_request: title is too long'],
    [
      403,
      '/scope',
      'The SaaS refused the call: the access token lacks a required scope (HTTP 403 from HOST insufficient_scope). It requires scope "calendar.write"; an administrator must add it to the "scopes" of tool "calendar_create_meeting" in mcp.config.json (currently: calendar.read)',
    ],
    [404, '/missing', 'Not found at the SaaS (HTTP 404 from HOST): no such meeting'],
    [409, '/conflict', 'The SaaS reported a conflict with the current state of the resource (HTTP 409 from HOST): slot already booked'],
    [429, '/limited', 'Rate limited by the SaaS (HTTP 429 from HOST); retry after 30 seconds: slow down'],
    [500, '/boom', 'The SaaS failed (HTTP 500 from HOST); try again later'],
  ])('HTTP %i -> tool error', async (status, path, message) => {
    const result = await call('GET', path);
    expect(result.status).toBe(status);
    expect(result.ok).toBe(false);
    expect(toToolResult(result, tool)).toEqual({ isError: true, content: [{ type: 'text', text: message.replace('HOST', new URL(base).host) }] });
  });

  it('401 -> returned, then toToolResult throws downstream_unauthorized', async () => {
    const result = await call('GET', '/unauth');
    expect(result).toMatchObject({ status: 401, ok: false, wwwAuthenticate: 'Bearer error="invalid_token"' });
    const error = await failure(Promise.resolve().then(() => toToolResult(result, tool)));
    expect(error.code).toBe('downstream_unauthorized');
    expect(error.status).toBe(401);
    expect(error.message).toBe(`${new URL(base).host} rejected the access token (HTTP 401 invalid_token)`);
  });

  it('a server that never answers -> downstream_timeout naming host and timeout', async () => {
    const started = Date.now();
    const error = await failure(call('GET', '/hang', {}, { timeoutMs: 200 }));
    expect(error.code).toBe('downstream_timeout');
    expect(error.message).toBe(`${new URL(base).host} did not answer within 200 ms (timeoutMs of the operation)`);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('a body that stops halfway -> downstream_timeout, the deadline covering the read', async () => {
    const error = await failure(call('GET', '/stalled-body', {}, { timeoutMs: 200 }));
    expect(error.code).toBe('downstream_timeout');
    expect(error.message).toBe(`${new URL(base).host} did not answer within 200 ms (timeoutMs of the operation)`);
  });

  it('the caller signal cancels the call', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const error = await failure(executeHttpOperation(op('GET', '/hang'), {}, TOKEN, deps, { signal: controller.signal }));
    expect(error.code).toBe('downstream_error');
    expect(error.message).toBe(`the call to ${new URL(base).host} was cancelled`);
  });

  it.each([
    ['Content-Length over the cap', '/huge-declared', 'Content-Length 10000'],
    ['streamed body over the cap', '/huge-streamed', 'more than 4096 bytes streamed'],
    ['compressed body within the cap by its Content-Length, over it decoded', '/huge-gzip', 'more than 4096 bytes streamed'],
  ])('%s -> downstream_too_large', async (_, path, how) => {
    const error = await failure(call('GET', path, {}, { maxResponseBytes: 4096 }));
    expect(error.code).toBe('downstream_too_large');
    expect(error.message).toBe(`the response of ${new URL(base).host} is larger than 4096 bytes (${how}; maxResponseBytes of the operation)`);
  });

  it('a connection error -> downstream_unreachable naming the host, not the token', async () => {
    const closed = createServer();
    const url = await listen(closed);
    await close(closed);
    const error = await failure(executeHttpOperation(HttpOperation.parse({ method: 'GET', url: `${url}/x` }), {}, TOKEN, deps));
    expect(error.code).toBe('downstream_unreachable');
    expect(error.message).toBe(`could not reach ${new URL(url).host} while sending the request: ECONNREFUSED`);
  });

  it('refuses a malformed token without sending it or naming it', async () => {
    fetched.length = 0;
    const error = await failure(executeHttpOperation(op('GET', '/ok'), {}, 'abc\r\nX-Evil: 1', deps));
    expect(error.code).toBe('internal');
    expect(error.message).toBe('the brokered access token is not a valid bearer token (RFC 6750 §2.1 b64token)');
    expect(fetched).toEqual([]);
  });

  it('follows a same-origin redirect, re-sending the token', async () => {
    const before = saas.seen.length;
    const result = await call('GET', '/redirect-same');
    expect(result).toMatchObject({ status: 200, url: `${base}/ok`, json: { id: 'm1', title: 'Standup' } });
    expect(saas.seen.slice(before).map((s) => [s.method, s.path, s.authorization])).toEqual([
      ['GET', '/redirect-same', `Bearer ${TOKEN}`],
      ['GET', '/ok', `Bearer ${TOKEN}`],
    ]);
  });

  it('303 after POST continues as GET without a body', async () => {
    const before = saas.seen.length;
    const result = await call('POST', '/redirect-303', { title: 'T' });
    expect(result).toMatchObject({ status: 200, method: 'GET', url: `${base}/ok` });
    expect(saas.seen.slice(before).map((s) => [s.method, s.path, s.contentType, s.body])).toEqual([
      ['POST', '/redirect-303', 'application/json', '{"title":"T"}'],
      ['GET', '/ok', undefined, ''],
    ]);
  });

  it('stops after 3 redirects -> downstream_redirect', async () => {
    const before = saas.seen.length;
    const error = await failure(call('GET', '/redirect-loop'));
    expect(error.code).toBe('downstream_redirect');
    expect(error.message).toBe(`${new URL(base).host} redirected more than 3 times`);
    expect(saas.seen.length - before).toBe(4);
  });

  it('a cross-origin redirect -> downstream_redirect naming both hosts; the other host receives nothing', async () => {
    fetched.length = 0;
    const error = await failure(call('GET', '/redirect-cross'));
    expect(error.code).toBe('downstream_redirect');
    expect(error.message).toBe(
      `${new URL(base).host} redirected to another host, ${new URL(other).host}; not followed (the access token is only sent to ${new URL(base).host})`,
    );
    expect(error.details).toEqual({ from: new URL(base).host, to: new URL(other).host });
    expect(elsewhere.seen).toEqual([]);
    // The Authorization header went to the configured origin only.
    expect(fetched.map((u) => new URL(u).origin)).toEqual([base]);
  });

  it('redact: each of two tokens used in turn is removed in every form (raw, JSON-escaped, URL-encoded)', () => {
    const a = 'eyJhbGciOi.aaaa/bbbb+cccc=';
    const b = 'eyJhbGciOi.dddd/eeee+ffff=';
    const text = (t: string) => `${t} ${JSON.stringify(t)} ${JSON.stringify(t).replace(/\//g, '\\/')} ${encodeURIComponent(t)}`;
    for (const [secret, other] of [
      [a, b],
      [b, a],
      [a, b],
    ] as const) {
      expect(redact(text(secret) + ' ' + other, secret)).toBe(`[redacted] "[redacted]" "[redacted]" [redacted] ${other}`);
    }
  });

  it('a token echoed by the SaaS is redacted from the result and the tool result', async () => {
    const result = await call('GET', '/echo');
    expect(result.json).toEqual({ youSent: 'Bearer [redacted]', raw: '[redacted]' });
    const tr = toToolResult(result, tool);
    expect(JSON.stringify(tr)).not.toContain(TOKEN);
    expect(tr.structuredContent).toEqual({ youSent: 'Bearer [redacted]', raw: '[redacted]' });

    const text = await call('GET', '/echo-text');
    expect(text.bodyText).toBe('rejected Bearer [redacted] ([redacted])');
    expect(toToolResult(text, tool)).toEqual({
      isError: true,
      content: [
        { type: 'text', text: `The SaaS rejected the request as invalid (HTTP 400 from ${new URL(base).host}): rejected Bearer [redacted] ([redacted])` },
      ],
    });

    const unauthorized = await call('GET', '/echo-401');
    expect(unauthorized.wwwAuthenticate).toBe('Bearer error="invalid_token", error_description="[redacted]"');
    expect(unauthorized.bodyText).toBe('{"error":"bad token Bearer [redacted]"}');
    const error = await failure(Promise.resolve().then(() => toToolResult(unauthorized, tool)));
    expect(JSON.stringify({ m: error.message, d: error.details })).not.toContain(TOKEN);
  });

  it.each([
    ['gzip', '/gzip'],
    ['br', '/br'],
  ])('a %s body is decoded, as fetch does', async (coding, path) => {
    const result = await call('GET', path);
    expect(result.json).toMatchObject({
      coded: coding,
      acceptEncoding: expect.stringContaining(coding === 'br' && client !== 'node:http (the default)' ? 'gzip' : coding),
    });
  });

  it('a body in a coding neither knows is handed over as it came', async () => {
    expect((await call('GET', '/unknown-coding')).bodyText).toBe('as sent');
  });
});

/** A server that drops the second request of each connection unanswered: a kept-alive connection closed under a request. */
function droppingServer() {
  const perConnection = new WeakMap<object, number>();
  const seen: string[] = [];
  const server = createServer((req, res) => {
    const n = (perConnection.get(req.socket) ?? 0) + 1;
    perConnection.set(req.socket, n);
    seen.push(`${req.method} ${n}`);
    req.resume();
    req.on('end', () => (n === 2 ? req.socket.destroy() : json(res, 200, { n })));
  });
  return { server, seen };
}

describe('the node:http client', () => {
  beforeAll(() => {
    deps = clients['node:http (the default)']!;
  });

  it('keeps the connection for the next call', async () => {
    const first = await call('GET', '/headers');
    const second = await call('GET', '/headers');
    expect((second.json as { port: number }).port).toBe((first.json as { port: number }).port);
  });

  it.each<[string, string, Record<string, unknown>, Record<string, unknown>, Record<string, unknown>]>([
    ['GET', 'GET', {}, {}, { 'user-agent': 'xaa-gateway', 'accept-encoding': 'gzip, deflate, br', accept: 'application/json', body: '' }],
    [
      'POST with a body: its length, not chunked',
      'POST',
      { title: 'T' },
      {},
      { 'content-length': '13', 'content-type': 'application/json', body: '{"title":"T"}' },
    ],
    [
      "the operation's headers win",
      'GET',
      {},
      { headers: { 'User-Agent': 'acme-agent/2', 'Accept-Encoding': 'identity' } },
      { 'user-agent': 'acme-agent/2', 'accept-encoding': 'identity' },
    ],
  ])('sends %s', async (_, method, args, extra, expected) => {
    const result = await executeHttpOperation(op(method, '/headers', extra), args, TOKEN, { fetch: recordingFetch, http: nodeHttp() });
    expect(result.json).toMatchObject({ ...expected, authorization: 'Bearer [redacted]' });
    expect(result.json).not.toHaveProperty('transfer-encoding');
  });

  it.each<[string, () => Pick<Deps, 'fetch' | 'http'>, string, boolean]>([
    ['deps.http when given', () => ({ fetch: recordingFetch, http: recordingNode }), 'xaa-gateway', true],
    ['node:http with the default fetch', () => ({ fetch: defaultFetch }), 'xaa-gateway', false],
    ['an injected fetch otherwise (tests keep steering calls through it)', () => ({ fetch: recordingFetch }), 'node', true],
  ])('goes out with %s', async (_, make, userAgent, recorded) => {
    fetched.length = 0;
    const result = await executeHttpOperation(op('GET', '/headers'), {}, TOKEN, make());
    expect(result.json).toMatchObject({ 'user-agent': userAgent });
    expect(fetched.length).toBe(recorded ? 1 : 0);
  });

  it('sends an idempotent request again once when a kept-alive connection closes under it; a POST is not sent twice', async () => {
    const { server, seen } = droppingServer();
    const url = await listen(server);
    const http = nodeHttp();
    const get = HttpOperation.parse({ method: 'GET', url: `${url}/x` });
    try {
      expect((await executeHttpOperation(get, {}, TOKEN, { fetch: recordingFetch, http })).json).toEqual({ n: 1 });
      // The kept connection is dropped under the second GET: sent again on a new one.
      expect((await executeHttpOperation(get, {}, TOKEN, { fetch: recordingFetch, http })).json).toEqual({ n: 1 });
      expect(seen).toEqual(['GET 1', 'GET 2', 'GET 1']);
      const post = HttpOperation.parse({ method: 'POST', url: `${url}/x` });
      const error = await failure(executeHttpOperation(post, { a: 1 }, TOKEN, { fetch: recordingFetch, http }));
      expect(error.code).toBe('downstream_unreachable');
      expect(error.message).toBe(`could not reach ${new URL(url).host} while sending the request: ECONNRESET`);
      expect(seen).toEqual(['GET 1', 'GET 2', 'GET 1', 'POST 2']);
    } finally {
      await close(server);
    }
  });

  it('does not send a request with a DPoP proof again: the proof is single use (RFC 9449 §11.1)', async () => {
    const { server, seen } = droppingServer();
    const url = new URL(`${await listen(server)}/x`);
    const http = nodeHttp();
    const send = () => http({ method: 'GET', url, headers: { dpop: 'proof' }, signal: new AbortController().signal });
    try {
      expect(JSON.parse(new TextDecoder().decode(await (await send()).read(1024)))).toEqual({ n: 1 });
      await expect(send()).rejects.toMatchObject({ code: 'ECONNRESET' });
      expect(seen).toEqual(['GET 1', 'GET 2']);
    } finally {
      await close(server);
    }
  });
});

describe('toToolResult (mapping table)', () => {
  const r = (status: number, extra: Partial<DownstreamResult> = {}): DownstreamResult => ({
    status,
    ok: status >= 200 && status < 300,
    bodyText: extra.json === undefined ? '' : JSON.stringify(extra.json),
    url: 'https://api.example.com/v1/x',
    method: 'GET',
    ...extra,
  });
  const t = { name: 'docs_write', scopes: ['docs.read', 'docs.write'] };
  it.each<[string, DownstreamResult, string]>([
    [
      '403 scope from body (array), missing from tool',
      r(403, { json: { error: 'insufficient_scope', scope: ['docs.admin'] } }),
      'The SaaS refused the call: the access token lacks a required scope (HTTP 403 from api.example.com insufficient_scope). It requires scope "docs.admin"; an administrator must add it to the "scopes" of tool "docs_write" in mcp.config.json (currently: docs.read docs.write)',
    ],
    [
      '403 scope requested but not granted',
      r(403, { wwwAuthenticate: 'Bearer realm="x", error="insufficient_scope", scope="docs.write"' }),
      'The SaaS refused the call: the access token lacks a required scope (HTTP 403 from api.example.com insufficient_scope). It requires "docs.write", which the tool requests but the authorization server did not grant; an administrator must allow it for the gateway\'s client at the SaaS',
    ],
    [
      '403 insufficient_scope without a scope',
      r(403, { wwwAuthenticate: 'Bearer error=insufficient_scope' }),
      'The SaaS refused the call: the access token lacks a required scope (HTTP 403 from api.example.com insufficient_scope). The SaaS did not say which scope; an administrator must add the required scope to the "scopes" of tool "docs_write" in mcp.config.json (currently: docs.read docs.write)',
    ],
    [
      '403 plain',
      r(403, { json: { message: 'not a member of this workspace' } }),
      'The SaaS refused the call (HTTP 403 from api.example.com): not a member of this workspace; the user may lack permission for this in the SaaS',
    ],
    [
      '422 problem details',
      r(422, { contentType: 'application/problem+json', json: { title: 'Unprocessable', detail: 'due date is in the past' } }),
      'The SaaS could not process the request (HTTP 422 from api.example.com): due date is in the past',
    ],
    [
      '400 nested error.message',
      r(400, { json: { error: { code: 400, message: 'bad field' } } }),
      'The SaaS rejected the request as invalid (HTTP 400 from api.example.com): bad field',
    ],
    ['429 without Retry-After', r(429), 'Rate limited by the SaaS (HTTP 429 from api.example.com); retry later'],
    [
      '429 with an HTTP date',
      r(429, { retryAfter: 'Wed, 21 Oct 2026 07:28:00 GMT' }),
      'Rate limited by the SaaS (HTTP 429 from api.example.com); retry after Wed, 21 Oct 2026 07:28:00 GMT',
    ],
    ['503 with message', r(503, { json: { message: 'maintenance' } }), 'The SaaS failed (HTTP 503 from api.example.com): maintenance; try again later'],
    ['405 other', r(405), 'The SaaS answered HTTP 405 from api.example.com'],
  ])('%s', (_, result, text) => {
    expect(toToolResult(result, t)).toEqual({ isError: true, content: [{ type: 'text', text }] });
  });

  it.each<[string, DownstreamResult, unknown]>([
    ['200 empty body', r(200), { content: [{ type: 'text', text: 'docs_write succeeded (HTTP 200, empty response)' }] }],
    ['200 JSON scalar: no structuredContent', r(200, { json: 5 }), { content: [{ type: 'text', text: '5' }] }],
  ])('%s', (_, result, expected) => {
    expect(toToolResult(result, t)).toEqual(expected);
  });

  it('401 throws downstream_unauthorized', () => {
    expect(() => toToolResult(r(401), t)).toThrow(expect.objectContaining({ code: 'downstream_unauthorized' }));
    try {
      toToolResult(r(401), t);
    } catch (e) {
      expect(isGatewayError(e, 'downstream_unauthorized')).toBe(true);
    }
  });
});
