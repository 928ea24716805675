import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * Prometheus metrics of one gateway process, on a registry of its own (not prom-client's global one),
 * so tests can create as many as they like. Labels only ever take low-cardinality values: tool names
 * from the config, issuers from the config, OAuth error codes. Never a user, a token or a URL path.
 */

/** success: a result; tool_error: a result with isError; denied: refused before the downstream call; error: a JSON-RPC error. */
export type ToolCallOutcome = 'success' | 'tool_error' | 'denied' | 'error';
export type TokenGrant = 'token_exchange' | 'jwt_bearer';

/** The broker's own counters (TokenBroker.stats), read at scrape time. */
export interface TokenCacheStats {
  readonly hits: number;
  readonly misses: number;
}

/** Admission control at /mcp (src/server/http/admission.ts), read at scrape time. */
export interface AdmissionMetricsSource {
  readonly inProgress: number;
  readonly queued: number;
  readonly limit: number;
  readonly rejected: Readonly<Record<'queue_full' | 'queue_timeout' | 'queue_wait', number>>;
}

/** The store's LISTEN connection (Store.listenStatus), read at scrape time. */
export interface StoreListenStats {
  readonly up: boolean;
  readonly reconnects: number;
}

export interface MetricsOptions {
  /** prom-client's default process metrics (CPU, memory, event loop lag, GC). Off by default: they start timers. */
  processMetrics?: boolean;
}

/** Label value for a tools/call whose name matched no tool: unbounded input must not become a label. */
export const UNKNOWN_TOOL = '_unknown';

// Tool calls include a token mint (two round trips) and the SaaS call; audit appends are an fsync.
const CALL_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const FSYNC_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

export class Metrics {
  readonly registry = new Registry();
  readonly #toolCalls: Counter<'tool' | 'outcome'>;
  readonly #toolCallDuration: Histogram<'tool'>;
  readonly #tokenRequests: Counter<'grant' | 'server' | 'result'>;
  readonly #auditWrite: Histogram;
  readonly #killSwitchDenials: Counter<'switch'>;
  readonly #cacheSources = new Set<TokenCacheStats>();
  #listenSource?: () => StoreListenStats | undefined;
  readonly #rateLimited: Counter<'limit'>;
  #admission?: AdmissionMetricsSource;

  constructor(opts: MetricsOptions = {}) {
    const registers = [this.registry];
    this.#toolCalls = new Counter({
      name: 'xaa_tool_calls_total',
      help: 'MCP tools/call requests by tool and outcome',
      labelNames: ['tool', 'outcome'],
      registers,
    });
    this.#toolCallDuration = new Histogram({
      name: 'xaa_tool_call_duration_seconds',
      help: 'Time to answer a tools/call, token minting and the downstream call included',
      labelNames: ['tool'],
      buckets: CALL_BUCKETS,
      registers,
    });
    const sources = this.#cacheSources;
    new Counter({
      name: 'xaa_token_cache_total',
      help: 'Downstream token lookups in the broker cache (hit: reused, miss: minted or joined a mint in flight)',
      labelNames: ['result'],
      registers,
      // The broker already counts; reading its counters at scrape time keeps the hot path untouched.
      collect(this: Counter<'result'>) {
        let hits = 0;
        let misses = 0;
        for (const s of sources) {
          hits += s.hits;
          misses += s.misses;
        }
        this.reset();
        this.inc({ result: 'hit' }, hits);
        this.inc({ result: 'miss' }, misses);
      },
    });
    this.#tokenRequests = new Counter({
      name: 'xaa_token_requests_total',
      help: 'Token requests: RFC 8693 token exchanges at the IdP and RFC 7523 jwt-bearer grants at resource authorization servers, by issuer and result (ok or the OAuth error code)',
      labelNames: ['grant', 'server', 'result'],
      registers,
    });
    this.#auditWrite = new Histogram({
      name: 'xaa_audit_write_seconds',
      help: "Time for one durable (fsync'd) audit append",
      buckets: FSYNC_BUCKETS,
      registers,
    });
    this.#killSwitchDenials = new Counter({
      name: 'xaa_kill_switch_denials_total',
      help: 'Tool calls denied by a kill switch, by switch kind',
      labelNames: ['switch'],
      registers,
    });
    // The store's LISTEN connection (PostgreSQL): read at scrape time, absent for the embedded store.
    const listen = () => this.#listenSource?.();
    new Gauge({
      name: 'xaa_store_listen_up',
      help: 'Whether the PostgreSQL LISTEN connection that carries kill switch and config changes between instances is up (1) or being re-opened (0; changes then arrive by the revision poll)',
      registers,
      collect(this: Gauge) {
        const s = listen();
        this.reset();
        if (s) this.set(s.up ? 1 : 0);
      },
    });
    new Counter({
      name: 'xaa_store_listen_reconnects_total',
      help: 'Times the PostgreSQL LISTEN connection was re-opened after PostgreSQL dropped it',
      registers,
      collect(this: Counter) {
        const s = listen();
        this.reset();
        if (s) this.inc(s.reconnects);
      },
    });
    this.#rateLimited = new Counter({
      name: 'xaa_tool_calls_rate_limited_total',
      help: 'Tool calls denied by a rate limit, by the toolRateLimits key that denied them (perUser, perTool, tools.perUser, tools.perTool)',
      labelNames: ['limit'],
      registers,
    });
    // Admission control at /mcp: the limiter counts; these read it at scrape time.
    const admission = () => this.#admission;
    const gauge = (name: string, help: string, read: (a: AdmissionMetricsSource) => number) =>
      new Gauge({
        name,
        help,
        registers,
        collect(this: Gauge) {
          const a = admission();
          this.reset();
          if (a) this.set(read(a));
        },
      });
    gauge(
      'xaa_mcp_requests_in_progress',
      'MCP POST requests at /mcp being served (each holds an admission slot until its response is sent)',
      (a) => a.inProgress,
    );
    gauge('xaa_mcp_requests_queued', 'MCP POST requests at /mcp waiting for an admission slot (server.overload.maxQueuedRequests at most)', (a) => a.queued);
    gauge(
      'xaa_mcp_concurrency_limit',
      'Requests in progress allowed now: between server.overload.minConcurrentRequests (event loop saturated) and maxConcurrentRequests',
      (a) => a.limit,
    );
    new Counter({
      name: 'xaa_mcp_requests_rejected_total',
      help: 'MCP POST requests at /mcp refused with 503 and Retry-After because the instance is overloaded, by reason (queue_full, queue_timeout, queue_wait)',
      labelNames: ['reason'],
      registers,
      collect(this: Counter<'reason'>) {
        const a = admission();
        this.reset();
        if (!a) return;
        this.inc({ reason: 'queue_full' }, a.rejected.queue_full);
        this.inc({ reason: 'queue_timeout' }, a.rejected.queue_timeout);
        this.inc({ reason: 'queue_wait' }, a.rejected.queue_wait);
      },
    });
    if (opts.processMetrics) collectDefaultMetrics({ register: this.registry });
  }

  toolCall(tool: string, outcome: ToolCallOutcome, seconds: number): void {
    this.#toolCalls.inc({ tool, outcome });
    this.#toolCallDuration.observe({ tool }, seconds);
  }

  tokenRequest(grant: TokenGrant, server: string, result: string): void {
    this.#tokenRequests.inc({ grant, server, result: safeLabel(result) });
  }

  auditWrite(seconds: number): void {
    this.#auditWrite.observe(seconds);
  }

  killSwitchDenial(kind: string): void {
    this.#killSwitchDenials.inc({ switch: safeLabel(kind) });
  }

  rateLimited(limit: string): void {
    this.#rateLimited.inc({ limit: safeLabel(limit) });
  }

  /** Report admission control at /mcp (the Admission of createHttpApp), read at each scrape. */
  trackAdmission(source: AdmissionMetricsSource): void {
    this.#admission = source;
  }

  /** Count a broker's cache hits and misses (its `stats`), read at each scrape. */
  trackTokenCache(stats: TokenCacheStats): void {
    this.#cacheSources.add(stats);
  }

  /** Report the store's LISTEN connection (Store.listenStatus; undefined for the embedded store). */
  trackStoreListen(source: () => StoreListenStats | undefined): void {
    this.#listenSource = source;
  }

  /** The Prometheus text exposition format. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

/** Values from peers (OAuth error codes) are bounded before they become labels: a hostile server could send anything. */
function safeLabel(value: string): string {
  return /^[A-Za-z0-9_.:-]{1,64}$/.test(value) ? value : 'other';
}
