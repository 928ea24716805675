import { request as httpRequest, createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * The auth-adding proxy of the conformance run: the suite's server scenarios speak unauthenticated
 * MCP, the gateway's /mcp is an OAuth protected resource. This loopback proxy forwards every request
 * byte for byte (bodies and SSE streams are piped, not buffered) and adds
 * `Authorization: Bearer <gateway access token>` of a signed-in demo user.
 * It is transparent to Host/Origin checks: its own authority is rewritten to the gateway's (so the
 * suite's "valid localhost Host" reaches the gateway as its publicUrl host), any other Host or
 * Origin (the suite's DNS-rebinding probe, evil.example.com) is passed through unchanged.
 */

export interface AuthProxy {
  /** http://127.0.0.1:<port> */
  origin: string;
  /** Requests seen, as "METHOD path -> status". */
  log: string[];
  close(): Promise<void>;
}

// RFC 9110 §7.6.1: connection-specific fields are not forwarded.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer']);

export async function startAuthProxy(target: string, token: () => string): Promise<AuthProxy> {
  const to = new URL(target);
  const log: string[] = [];
  let self = '';
  const server: Server = createServer((req, res) => {
    const headers: IncomingHttpHeaders = {};
    for (const [k, v] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(k) && v !== undefined) headers[k] = v;
    if (headers.host === self) headers.host = to.host;
    if (headers.origin === `http://${self}`) headers.origin = to.origin;
    headers.authorization = `Bearer ${token()}`;
    const upstream = httpRequest({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers }, (up) => {
      log.push(`${req.method} ${req.url} -> ${up.statusCode}`);
      const out: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(up.headers)) if (!HOP_BY_HOP.has(k) && v !== undefined) out[k] = v;
      res.writeHead(up.statusCode ?? 502, out);
      // SSE: flush each chunk as it comes.
      res.flushHeaders();
      up.pipe(res);
    });
    upstream.on('error', (e) => {
      log.push(`${req.method} ${req.url} -> proxy error ${e.message}`);
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end();
    });
    // The suite cancels SSE readers: tear the gateway side down too.
    res.on('close', () => upstream.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  self = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin: `http://${self}`,
    log,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
