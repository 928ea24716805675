import type { MiddlewareHandler } from 'hono';
import type { Logger } from '../../log.js';
import { GatewayError } from '../../errors.js';
import { jsonRpcRefusal } from './errors.js';

/**
 * Browser origins allowed at /mcp: publicUrl's origin plus `server.allowedOrigins`, normalized the
 * way browsers serialize an Origin. "*" and unparseable entries are dropped (and reported once).
 */
export function allowedOriginSet(publicOrigin: string, allowed: readonly string[], logger?: Logger): Set<string> {
  const set = new Set([publicOrigin]);
  for (const o of allowed) {
    if (o === '*' || !URL.canParse(o)) {
      logger?.warn('server.allowedOrigins entry ignored: list exact origins like "https://app.example"', { entry: o });
      continue;
    }
    set.add(new URL(o).origin);
  }
  return set;
}

/**
 * MCP Streamable HTTP (2025-06-18 and 2025-11-25, "Security Warning"): servers MUST validate
 * `Origin` to stop DNS rebinding; a present, unlisted Origin gets 403. Requests without Origin
 * come from non-browser clients and pass (the bearer token still guards them).
 */
export function originGuard(allowed: () => Set<string>): MiddlewareHandler {
  return async (c, next) => {
    const origin = c.req.header('Origin');
    if (origin !== undefined && !allowed().has(origin)) {
      const shown = JSON.stringify(origin).slice(1, -1).slice(0, 200);
      return jsonRpcRefusal(new GatewayError('forbidden_origin', `Forbidden: Origin ${shown} is not allowed; add it to server.allowedOrigins`));
    }
    await next();
  };
}
