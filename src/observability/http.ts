import { isLoopbackAddress, matchesAnyDigest, secretDigest } from '../security.js';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context } from 'hono';
import type { Metrics } from './metrics.js';

/**
 * GET /metrics in the Prometheus text format. Metrics name tools, resources and issuers, so they are
 * not public: by default only a scraper on the same host gets them (a loopback peer whose request was
 * not forwarded by a proxy); any other needs `Authorization: Bearer <token>` with one of `tokens()`
 * (observability.metrics.token, or the admin token). Without a token configured, remote scrapes get 403.
 */
export interface MetricsRouteOptions {
  metrics: Metrics;
  /** Bearer tokens accepted from non-loopback scrapers; empty: loopback only. */
  tokens: () => readonly string[];
}

/** A reverse proxy on the same host makes every peer look local: a forwarded request is not loopback. */
const FORWARDING_HEADERS = ['forwarded', 'x-forwarded-for', 'x-real-ip'];

function peerAddress(c: Context): string | undefined {
  try {
    return getConnInfo(c).remote.address;
  } catch {
    return undefined; // not served by @hono/node-server (app.fetch in-process): not a loopback peer
  }
}

export function metricsRoute(opts: MetricsRouteOptions): (c: Context) => Promise<Response> {
  return async (c) => {
    const local = isLoopbackAddress(peerAddress(c)) && !FORWARDING_HEADERS.some((h) => c.req.header(h) !== undefined);
    if (!local) {
      const tokens = opts.tokens().filter((t) => t.length > 0);
      if (tokens.length === 0) {
        return c.text('metrics are served to loopback scrapers only; configure observability.metrics.token (or admin.tokens) to scrape from elsewhere\n', 403, {
          'Cache-Control': 'no-store',
        });
      }
      const m = /^Bearer\s+(\S+)\s*$/i.exec(c.req.header('authorization') ?? '');
      if (!m || !matchesAnyDigest(m[1]!, tokens.map(secretDigest))) {
        return c.text('a valid bearer token is required for /metrics\n', 401, { 'WWW-Authenticate': 'Bearer realm="metrics"', 'Cache-Control': 'no-store' });
      }
    }
    return c.body(await opts.metrics.text(), 200, { 'Content-Type': opts.metrics.contentType, 'Cache-Control': 'no-store' });
  };
}
