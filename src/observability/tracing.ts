import { createRequire } from 'node:module';
import {
  context,
  isSpanContextValid,
  propagation,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import type { SpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { HttpClient } from '../deps.js';

/**
 * OpenTelemetry traces. The gateway only ever calls @opentelemetry/api: without {@link setupTracing}
 * every tracer is the API's no-op and a span costs one object. setupTracing installs a tracer provider
 * that exports by OTLP/HTTP, the AsyncLocalStorage context manager (so the token-exchange spans the
 * broker starts nest under the tools/call span) and the W3C Trace Context propagator (traceparent).
 * The SDK packages are imported only then: with tracing off (the default) they are never loaded
 * (about 10 MiB of a serve process's memory, see docs/fleet.md "Memory").
 */

export const TRACER_NAME = 'xaa-gateway';
export const SERVICE_VERSION: string = (() => {
  try {
    return (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
  } catch {
    return '0.0.0';
  }
})();

/** The global tracer, looked up per use so a provider installed after construction is still used. */
export const globalTracer = (): Tracer => trace.getTracer(TRACER_NAME, SERVICE_VERSION);

export interface TracingOptions {
  /** config `observability.otlp.endpoint`: an OTLP/HTTP base URL; spans go to `<endpoint>/v1/traces`. */
  endpoint?: string;
  /** `service.name` of the resource. Default OTEL_SERVICE_NAME, else "xaa-gateway". */
  serviceName?: string;
  env?: NodeJS.ProcessEnv;
  /** Export to these instead of OTLP (tests: an in-memory exporter); turns tracing on. */
  spanProcessors?: SpanProcessor[];
}

export interface Tracing {
  readonly enabled: boolean;
  /** Where spans are sent (the OTLP traces URL), when exporting by OTLP. */
  readonly url?: string;
  /** Flushes queued spans and uninstalls the globals. Idempotent. */
  shutdown(): Promise<void>;
}

/**
 * The OTLP traces URL, or undefined when tracing stays off. The config wins over the standard
 * variables (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as-is, OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces);
 * OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none turn it off.
 */
export function otlpTracesUrl(endpoint: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true' || env.OTEL_TRACES_EXPORTER?.trim().toLowerCase() === 'none') return undefined;
  const base = (url: string) => `${url.replace(/\/+$/, '')}/v1/traces`;
  if (endpoint) return base(endpoint);
  if (env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim()) return env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT.trim();
  if (env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim()) return base(env.OTEL_EXPORTER_OTLP_ENDPOINT.trim());
  return undefined;
}

export async function setupTracing(opts: TracingOptions = {}): Promise<Tracing> {
  const env = opts.env ?? process.env;
  const url = opts.spanProcessors ? undefined : otlpTracesUrl(opts.endpoint, env);
  if (!opts.spanProcessors && !url) return { enabled: false, shutdown: async () => {} };
  const [{ AsyncLocalStorageContextManager }, { W3CTraceContextPropagator }, { resourceFromAttributes }, { BasicTracerProvider, BatchSpanProcessor }] =
    await Promise.all([
      import('@opentelemetry/context-async-hooks'),
      import('@opentelemetry/core'),
      import('@opentelemetry/resources'),
      import('@opentelemetry/sdk-trace-base'),
    ]);
  // Headers (API keys of hosted collectors) come from OTEL_EXPORTER_OTLP_HEADERS, read by the exporter.
  const processors = opts.spanProcessors ?? [new BatchSpanProcessor(new (await import('@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter({ url }))];
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': opts.serviceName ?? env.OTEL_SERVICE_NAME ?? 'xaa-gateway', 'service.version': SERVICE_VERSION }),
    spanProcessors: processors,
  });
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  let done: Promise<void> | undefined;
  return {
    enabled: true,
    ...(url ? { url } : {}),
    shutdown: () =>
      (done ??= (async () => {
        try {
          await provider.shutdown();
        } finally {
          trace.disable();
          propagation.disable();
          context.disable();
        }
      })()),
  };
}

// ---------------------------------------------------------------------------------------------
// Spans of the call path

/** What the MCP layer knows about a request (MCP semantic conventions, server span). */
export interface McpRequestInfo {
  /** `Mcp-Session-Id` of a Streamable HTTP session. */
  sessionId?: string;
  /** JSON-RPC id of the request. */
  requestId?: string | number;
  /** `params._meta` of the request: may carry `traceparent` (SEP-414). */
  meta?: unknown;
}

/**
 * The server span of one tools/call (MCP semantic conventions, span kind SERVER). Its name becomes
 * `tools/call <tool>` once the tool is known to exist ({@link endToolCallSpan}): an unknown name is
 * client input and must not become a span name.
 */
export function startToolCallSpan(tracer: Tracer, req: McpRequestInfo): { span: Span; context: Context } {
  // The agent's trace context travels in params._meta (SEP-414); it becomes the parent.
  const parent = req.meta !== null && typeof req.meta === 'object' ? propagation.extract(context.active(), req.meta) : context.active();
  const attributes: Attributes = { 'mcp.method.name': 'tools/call', 'gen_ai.operation.name': 'execute_tool' };
  if (req.sessionId) attributes['mcp.session.id'] = req.sessionId;
  if (req.requestId !== undefined) attributes['jsonrpc.request.id'] = String(req.requestId);
  const span = tracer.startSpan('tools/call', { kind: SpanKind.SERVER, attributes }, parent);
  return { span, context: trace.setSpan(parent, span) };
}

export interface ToolCallEnd {
  /** The tool, once it resolved to a configured or upstream tool. */
  tool?: string;
  /** `error.type`: 'tool_error' for an isError result (MCP semconv), the JSON-RPC code for a thrown error. */
  errorType?: string;
  /** Short, secret-free description (an error code or the JSON-RPC message). */
  errorMessage?: string;
  /** The gateway's own outcome class (success, tool_error, denied, error) and error code. */
  outcome: string;
  errorCode?: string;
}

export function endToolCallSpan(span: Span, end: ToolCallEnd): void {
  if (end.tool) {
    span.updateName(`tools/call ${end.tool}`);
    span.setAttribute('gen_ai.tool.name', end.tool);
  }
  span.setAttribute('xaa.outcome', end.outcome);
  if (end.errorCode) span.setAttribute('xaa.error.code', end.errorCode);
  if (end.errorType) {
    span.setAttribute('error.type', end.errorType);
    span.setStatus({ code: SpanStatusCode.ERROR, ...(end.errorMessage ? { message: end.errorMessage } : {}) });
  }
  span.end();
}

/** The trace and span ids of a span that is being recorded (tracing on), for the audit record. */
export function recordedIds(span: Span): { traceId: string; spanId: string } | undefined {
  if (!span.isRecording()) return undefined;
  const { traceId, spanId } = span.spanContext();
  return { traceId, spanId };
}

/**
 * Runs `fn` in a CLIENT child span of the active context; the span records failures as `error.type`
 * (what `describeError` returns) and always ends.
 */
export async function inClientSpan<T>(
  tracer: Tracer,
  name: string,
  attributes: Attributes,
  fn: (span: Span) => Promise<T>,
  describeError: (e: unknown) => { type: string; attributes?: Attributes },
): Promise<T> {
  const span = tracer.startSpan(name, { kind: SpanKind.CLIENT, attributes });
  try {
    return await context.with(trace.setSpan(context.active(), span), () => fn(span));
  } catch (e) {
    const d = describeError(e);
    span.setAttribute('error.type', d.type);
    if (d.attributes) span.setAttributes(d.attributes);
    span.setStatus({ code: SpanStatusCode.ERROR, message: d.type });
    throw e;
  } finally {
    span.end();
  }
}

/** `url.full` without the query string or credentials: query parameters carry tool arguments. */
export function urlWithoutQuery(url: string | URL): string {
  const u = typeof url === 'string' ? new URL(url) : url;
  return u.origin + u.pathname;
}

/** HTTP client span attributes (OpenTelemetry HTTP semantic conventions). */
export function httpClientAttributes(method: string, url: string | URL): Attributes {
  const u = typeof url === 'string' ? new URL(url) : url;
  return {
    'http.request.method': method.toUpperCase(),
    'url.full': urlWithoutQuery(u),
    'server.address': u.hostname,
    'server.port': u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : 80,
  };
}

/**
 * A fetch whose every request is a CLIENT span named after the method (HTTP semconv) and carries the
 * span's `traceparent`, so the SaaS (or upstream MCP server) can join the trace. With tracing off the
 * request goes out untouched.
 */
export function tracedFetch(fetchFn: typeof fetch, tracer: () => Tracer): typeof fetch {
  return async (input, init) => {
    const method = (init?.method ?? (input instanceof Request ? input.method : 'GET')).toUpperCase();
    const span = clientSpan(tracer, method, () => (input instanceof Request ? input.url : String(input)));
    if (!span) return fetchFn(input, init); // tracing off: nothing to record or propagate
    return endClientSpan(span, () => {
      const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
      propagation.inject(trace.setSpan(context.active(), span), headers, { set: (h, k, v) => h.set(k, v) });
      return fetchFn(input, { ...init, headers });
    });
  };
}

/** {@link tracedFetch} for the HTTP client of tool operations (HttpClient in deps.ts). */
export function tracedHttp(client: HttpClient, tracer: () => Tracer): HttpClient {
  return async (request) => {
    const span = clientSpan(tracer, request.method, () => request.url);
    if (!span) return client(request);
    return endClientSpan(span, () => {
      const headers = { ...request.headers };
      propagation.inject(trace.setSpan(context.active(), span), headers, { set: (h, k, v) => (h[k] = v) });
      return client({ ...request, headers });
    });
  };
}

/** A CLIENT span for a request, or undefined when tracing is off. */
function clientSpan(tracer: () => Tracer, method: string, url: () => string | URL): Span | undefined {
  const span = tracer().startSpan(method, { kind: SpanKind.CLIENT });
  if (!span.isRecording() && !isSpanContextValid(span.spanContext())) {
    span.end();
    return undefined;
  }
  try {
    span.setAttributes(httpClientAttributes(method, url()));
  } catch {
    // not a URL: the request reports it
  }
  return span;
}

/** Runs the request, records its answer's status (an error from 400 on) or its failure, and ends the span at the answer's headers. */
async function endClientSpan<T extends { status: number }>(span: Span, request: () => Promise<T>): Promise<T> {
  try {
    const answer = await request();
    span.setAttribute('http.response.status_code', answer.status);
    if (answer.status >= 400) {
      span.setAttribute('error.type', String(answer.status));
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
    return answer;
  } catch (e) {
    const type = e instanceof Error ? e.name : '_OTHER';
    span.setAttribute('error.type', type);
    span.setStatus({ code: SpanStatusCode.ERROR, message: type });
    throw e;
  } finally {
    span.end();
  }
}
