import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';

/**
 * hono's bodyLimit, without its cost on the common request. hono's middleware first reads
 * `req.body`, which makes @hono/node-server build a full web Request with a ReadableStream for every
 * request, including those that have no body or declare their length; the gateway then reads the
 * body with `req.text()`, which @hono/node-server serves straight from the socket when the stream
 * was never touched. So: GET, HEAD and DELETE carry no body worth limiting (MCP sends none); a body
 * with a Content-Length and no Transfer-Encoding is judged by that header (Node's parser delivers
 * exactly that many bytes, RFC 9112 §6.3); only a chunked body is counted as it streams, by hono's.
 */
export function bodyLimitCheap(maxSize: () => number, onError: (c: Context) => Response): MiddlewareHandler {
  return (c, next) => {
    const method = c.req.method;
    if (method === 'GET' || method === 'HEAD' || method === 'DELETE') return next();
    const length = c.req.header('content-length');
    if (length !== undefined && c.req.header('transfer-encoding') === undefined) {
      // RFC 9110 §8.6: 1*DIGIT. Anything else is left to the streaming check (Node's parser refuses it first).
      if (/^\d+$/.test(length)) return Number(length) > maxSize() ? Promise.resolve(onError(c)) : next();
    }
    return bodyLimit({ maxSize: maxSize(), onError })(c, next);
  };
}
