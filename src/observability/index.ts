import type { RuntimeConfig, SecretRef } from '../config/index.js';
import { readSecret } from '../config/secrets.js';
import type { Logger } from '../log.js';
import { Metrics } from './metrics.js';
import { setupTracing, type Tracing } from './tracing.js';

export { Metrics, UNKNOWN_TOOL, type MetricsOptions, type TokenCacheStats, type TokenGrant, type ToolCallOutcome } from './metrics.js';
export {
  endToolCallSpan,
  globalTracer,
  httpClientAttributes,
  otlpTracesUrl,
  recordedIds,
  setupTracing,
  startToolCallSpan,
  tracedFetch,
  tracedHttp,
  urlWithoutQuery,
  type McpRequestInfo,
  type Tracing,
  type TracingOptions,
} from './tracing.js';
export { grantErrorType, instrumentAuditSink, instrumentXaaPort } from './instrument.js';
export { metricsRoute, type MetricsRouteOptions } from './http.js';
export { isLoopbackAddress } from '../security.js';

export interface Observability {
  metrics: Metrics;
  tracing: Tracing;
  /** Flushes spans (call at shutdown). */
  shutdown(): Promise<void>;
}

/** Metrics with process metrics, and traces exported when the config or the OTEL_* variables say where. */
export async function createObservability(runtime: RuntimeConfig, logger: Logger, env: NodeJS.ProcessEnv = process.env): Promise<Observability> {
  const o = runtime.config.observability;
  const metrics = new Metrics({ processMetrics: true });
  const tracing = await setupTracing({ env, ...(o?.otlp ? { endpoint: o.otlp.endpoint } : {}), ...(o?.serviceName ? { serviceName: o.serviceName } : {}) });
  if (tracing.enabled) logger.info('exporting OpenTelemetry traces by OTLP/HTTP', { url: tracing.url });
  return {
    metrics,
    tracing,
    shutdown: () => tracing.shutdown(),
  };
}

/**
 * Bearer tokens that may read /metrics from a non-loopback address: observability.metrics.token and
 * the admin tokens (admin.tokens), read again when the config changes. A secret that cannot be read
 * is logged and left out.
 */
export function metricsTokens(current: () => RuntimeConfig, logger: Logger, env: NodeJS.ProcessEnv = process.env): () => string[] {
  let cache: { hash: string; tokens: string[] } | undefined;
  return () => {
    const rt = current();
    if (cache?.hash !== rt.hash) {
      const refs: [SecretRef, string][] = [];
      const own = rt.config.observability?.metrics.token;
      if (own) refs.push([own, 'observability.metrics.token']);
      (rt.config.admin?.tokens ?? []).forEach((ref, i) => refs.push([ref, `admin.tokens[${i}]`]));
      const tokens: string[] = [];
      for (const [ref, where] of refs) {
        try {
          tokens.push(readSecret(ref, where, { baseDir: rt.dir, env }));
        } catch (e) {
          logger.error('a /metrics bearer token is unreadable and is not accepted', { where, error: e instanceof Error ? e.message : String(e) });
        }
      }
      cache = { hash: rt.hash, tokens };
    }
    return cache.tokens;
  };
}
