import { isIP } from 'node:net';
import type { MiddlewareHandler } from 'hono';
import { validateHostHeader } from '@modelcontextprotocol/server';
import { GatewayError } from '../../errors.js';
import { jsonRpcRefusal } from './errors.js';

/**
 * DNS rebinding guard on `Host` (MCP Streamable HTTP, Security Warning; the SDK's
 * hostHeaderValidationResponse). A page that rebinds its own name to the gateway's address still
 * sends its own name in `Host`, so only the names the gateway is reached by pass: publicUrl's
 * hostname and `server.allowedHosts`. Ports are not compared (the attack is in the name). Refusals
 * are 403 with the SDK's message ("Invalid Host: evil.example").
 */
export function allowedHostnames(publicUrl: string, extra: readonly string[] = []): string[] {
  const names = new Set([new URL(publicUrl).hostname]);
  for (const h of extra) {
    try {
      names.add(new URL(`http://${h}`).hostname);
    } catch {
      // unparseable entries never match
    }
  }
  return [...names];
}

/**
 * `loopbackAndIpLiterals`: also let through a Host that is an IP literal or `localhost` (for
 * /metrics, which Prometheus scrapes by instance address): a rebinding page cannot send those,
 * since its requests carry its own hostname.
 */
export function hostGuard(allowed: () => string[], opts: { loopbackAndIpLiterals?: boolean } = {}): MiddlewareHandler {
  return async (c, next) => {
    // @hono/node-server builds the request URL from Host; in-process requests (tests) carry it only there.
    const host = c.req.header('Host') ?? new URL(c.req.url).host;
    if (opts.loopbackAndIpLiterals) {
      const hostname = safeHostname(host);
      if (hostname !== undefined && (hostname === 'localhost' || isIP(hostname.replace(/^\[|\]$/g, '')) !== 0)) return next();
    }
    const verdict = validateHostHeader(host, allowed());
    if (!verdict.ok)
      return jsonRpcRefusal(
        new GatewayError(
          'forbidden_host',
          `Forbidden: ${verdict.message.slice(0, 200)}; clients must use the host of server.publicUrl (or one in server.allowedHosts)`,
        ),
      );
    await next();
  };
}

function safeHostname(host: string): string | undefined {
  try {
    return new URL(`http://${host}`).hostname;
  } catch {
    return undefined;
  }
}
