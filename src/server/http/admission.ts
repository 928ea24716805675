import { performance } from 'node:perf_hooks';
import type { MiddlewareHandler } from 'hono';
import type { OverloadConfig } from '../../config/schema.js';
import { GatewayError } from '../../errors.js';
import { jsonRpcRefusal } from './errors.js';
import { whenResponseDone } from './inflight.js';

/**
 * Overload protection of /mcp (server.overload): a bounded number of MCP POST requests in progress
 * on this instance and a bounded first-come-first-served queue with a maximum wait; beyond them a
 * cheap 503 with Retry-After, before the bearer check reads anything.
 *
 * Why the limit adapts: a call holds its slot while it waits on the SaaS API. When calls are
 * CPU-bound (fast downstreams), more than a few dozen at once only lengthens every call and the
 * throughput falls; when they wait on slow APIs (hundreds of ms, seconds for upstream MCP tools), a
 * few dozen would leave the CPU idle while refusing work. So the limit moves between min and max
 * (AIMD, like TCP's window): every SAMPLE_MS it shrinks by a quarter while the event loop was busy
 * at least BUSY of the time, and grows by a quarter while it was not and requests had to wait. It
 * starts at min. With min = max the limit is fixed.
 *
 * The event loop is not the only bottleneck: when the SaaS API (or the machine the instance shares)
 * is saturated, the loop idles while every call waits longer, and growing the limit only lengthens
 * the calls (at 200 clients on the 2-core bench machine the limit climbed to the maximum and p99 reached
 * 2 s). So, as TCP Vegas and Envoy's adaptive concurrency do, the time a request holds its slot is a
 * second signal: the limit does not grow, and shrinks by a tenth, while the mean hold time of a sample
 * is more than INFLATION times the lowest mean of the last BASELINE_SAMPLES samples. Calls that are
 * slow at any concurrency (a slow API, an upstream tool) do not inflate against their own baseline, and
 * the limit grows for them as before.
 */

export type OverloadSettings = Pick<OverloadConfig, 'maxConcurrentRequests' | 'minConcurrentRequests' | 'maxQueuedRequests' | 'maxQueueWaitMs'>;

/**
 * Why a request was refused (the metric's `reason` label): the queue was full; its wait ran out; or
 * at arrival its expected wait (its place in the queue at the rate requests have been completing)
 * was already beyond maxQueueWaitMs, so it is told at once rather than after waiting in vain.
 */
export type Refusal = 'queue_full' | 'queue_timeout' | 'queue_wait';

export interface AdmissionStats {
  readonly inProgress: number;
  readonly queued: number;
  /** The limit in force now, between minConcurrentRequests and maxConcurrentRequests. */
  readonly limit: number;
  readonly rejected: Readonly<Record<Refusal, number>>;
}

export interface AdmissionDeps {
  /** Monotonic milliseconds. */
  now(): number;
  /** Fraction of the time (0..1) the event loop was busy since the previous call. */
  utilization(): number;
}

const SAMPLE_MS = 100;
const BUSY = 0.9;
/** A sample's mean hold time this many times the baseline: more concurrency no longer buys throughput. */
const INFLATION = 2;
/** The baseline is the lowest mean hold time of this many recent samples (with completions): 10 s. */
const BASELINE_SAMPLES = 100;
/** Fewer completions than this in a sample say nothing about its hold time. */
const MIN_COMPLETIONS = 5;

export function eventLoopUtilization(): () => number {
  let last = performance.eventLoopUtilization();
  return () => {
    const now = performance.eventLoopUtilization();
    const u = performance.eventLoopUtilization(now, last).utilization;
    last = now;
    return u;
  };
}

type Release = () => void;

interface Waiter {
  settle(r: Release | Refusal | 'aborted'): void;
}

export class Admission implements AdmissionStats {
  #inProgress = 0;
  readonly #queue: Waiter[] = [];
  #limit: number;
  #sampledAt: number;
  /** Whether a request found every slot taken since the last sample: demand beyond the limit. */
  #wanted = false;
  /** Requests completed since the last sample, and the smoothed completion rate (per ms) while busy. */
  #completed = 0;
  #rate = 0;
  /** Milliseconds the requests completed since the last sample held their slots, summed. */
  #heldMs = 0;
  /** Mean hold time of recent samples (ring of BASELINE_SAMPLES), for the baseline. */
  readonly #recentHeld: number[] = [];
  #recentAt = 0;
  readonly rejected: Record<Refusal, number> = { queue_full: 0, queue_timeout: 0, queue_wait: 0 };
  readonly #deps: AdmissionDeps;

  constructor(
    private readonly settings: () => OverloadSettings,
    deps?: Partial<AdmissionDeps>,
  ) {
    this.#deps = { now: deps?.now ?? (() => performance.now()), utilization: deps?.utilization ?? eventLoopUtilization() };
    this.#limit = settings().minConcurrentRequests;
    this.#sampledAt = this.#deps.now();
  }

  get inProgress(): number {
    return this.#inProgress;
  }

  get queued(): number {
    return this.#queue.length;
  }

  get limit(): number {
    const s = this.settings();
    return Math.min(s.maxConcurrentRequests, Math.max(s.minConcurrentRequests, this.#limit));
  }

  /**
   * A slot: at once (a release function), after a wait in the queue (a promise of one), or a refusal
   * when the queue is full, the wait ran out, or `signal` aborted (the client went away). The signal is
   * asked for only when the request has to wait (making one costs an AbortController per request).
   */
  acquire(signalOf?: AbortSignal | (() => AbortSignal)): Release | Refusal | Promise<Release | Refusal | 'aborted'> {
    this.#adapt();
    this.#drain();
    if (this.#queue.length === 0 && this.#inProgress < this.limit) return this.#take();
    this.#wanted = true;
    const s = this.settings();
    if (this.#queue.length >= s.maxQueuedRequests) {
      this.rejected.queue_full++;
      return 'queue_full';
    }
    // Bounded by time, not only by length: a place that would not come up within maxQueueWaitMs at the
    // rate slots have been freeing is refused now (the client learns at once, and no request sits
    // in the queue only to time out). Until a rate is known, the wait limit alone applies.
    if (this.#rate > 0 && (this.#queue.length + 1) / this.#rate >= s.maxQueueWaitMs) {
      this.rejected.queue_wait++;
      return 'queue_wait';
    }
    const signal = typeof signalOf === 'function' ? signalOf() : signalOf;
    return new Promise((resolve) => {
      const waiter: Waiter = {
        settle: (r) => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          resolve(r);
        },
      };
      const leave = (r: Refusal | 'aborted') => {
        const i = this.#queue.indexOf(waiter);
        if (i === -1) return;
        this.#queue.splice(i, 1);
        if (r !== 'aborted') this.rejected[r]++;
        waiter.settle(r);
      };
      const onAbort = () => leave('aborted');
      const timer = setTimeout(() => leave('queue_timeout'), s.maxQueueWaitMs);
      timer.unref();
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#queue.push(waiter);
      if (signal?.aborted) leave('aborted');
    });
  }

  #take(): Release {
    this.#inProgress++;
    let released = false;
    const taken = this.#deps.now();
    return () => {
      if (released) return;
      released = true;
      this.#inProgress--;
      this.#completed++;
      this.#heldMs += this.#deps.now() - taken;
      this.#adapt();
      this.#drain();
    };
  }

  /** Hands free slots to the longest-waiting requests. */
  #drain(): void {
    while (this.#queue.length > 0 && this.#inProgress < this.limit) this.#queue.shift()!.settle(this.#take());
  }

  #adapt(): void {
    const now = this.#deps.now();
    const elapsed = now - this.#sampledAt;
    if (elapsed < SAMPLE_MS) return;
    this.#sampledAt = now;
    // Only a window with a queue says how fast slots free up under load (idle windows would read as slow).
    if (this.#queue.length > 0 || this.#wanted)
      this.#rate = this.#rate === 0 ? this.#completed / elapsed : 0.5 * this.#rate + 0.5 * (this.#completed / elapsed);
    const inflated = this.#inflated();
    this.#completed = 0;
    this.#heldMs = 0;
    const s = this.settings();
    if (s.minConcurrentRequests === s.maxConcurrentRequests) return;
    const busy = this.#deps.utilization() >= BUSY;
    const limit = this.limit;
    if (busy) this.#limit = Math.floor(limit * 0.75);
    else if (inflated) this.#limit = Math.floor(limit * 0.9);
    else if (this.#wanted || this.#queue.length > 0) this.#limit = limit + Math.max(1, Math.ceil(limit / 4));
    this.#limit = Math.min(s.maxConcurrentRequests, Math.max(s.minConcurrentRequests, this.#limit));
    this.#wanted = false;
  }

  /** Records this sample's mean hold time; true when it is over INFLATION times the recent baseline. */
  #inflated(): boolean {
    if (this.#completed < MIN_COMPLETIONS) return false;
    const mean = this.#heldMs / this.#completed;
    const baseline = this.#recentHeld.length ? Math.min(...this.#recentHeld) : mean;
    this.#recentHeld[this.#recentAt] = mean;
    this.#recentAt = (this.#recentAt + 1) % BASELINE_SAMPLES;
    return mean > INFLATION * baseline;
  }
}

/** Retry-After (seconds): by then the queue has turned over at least once. */
export function retryAfterSeconds(s: OverloadSettings): number {
  return Math.max(1, Math.ceil(s.maxQueueWaitMs / 1000));
}

export function overloadedResponse(reason: Refusal, stats: AdmissionStats, s: OverloadSettings): Response {
  const retry = retryAfterSeconds(s);
  const why =
    reason === 'queue_full'
      ? `${stats.inProgress} requests in progress and ${stats.queued} queued`
      : reason === 'queue_wait'
        ? `${stats.queued} queued ahead: no slot expected within ${s.maxQueueWaitMs} ms`
        : `no slot within ${s.maxQueueWaitMs} ms; ${stats.inProgress} requests in progress`;
  return jsonRpcRefusal(
    new GatewayError(
      'overloaded',
      `Service unavailable: the gateway is overloaded (${why}); retry after ${retry} s. Limits: server.overload.maxConcurrentRequests (${s.maxConcurrentRequests}), server.overload.maxQueuedRequests (${s.maxQueuedRequests}), server.overload.maxQueueWaitMs (${s.maxQueueWaitMs})`,
      { details: { retryAfterSeconds: retry, reason } },
    ),
  );
}

/**
 * The hono middleware for /mcp, in front of the bearer check. Only POSTs take a slot: GET (the 2025
 * stream) and DELETE (ending a session) do little work and must get through an overload. A POST whose
 * answer is a stream the client holds (2026 subscriptions/listen: `heldStream`) gives its slot back as
 * soon as the stream starts; any other gives it back when its response body has been sent (a
 * tools/call answered over SSE ends with its result).
 */
export function admissionControl(admission: Admission, settings: () => OverloadSettings): MiddlewareHandler<{ Variables: { heldStream?: boolean } }> {
  return async (c, next) => {
    if (c.req.method !== 'POST') return next();
    const first = admission.acquire(() => c.req.raw.signal);
    const slot = typeof first === 'object' ? await first : first;
    // The client went away while queued: nobody reads this answer.
    if (slot === 'aborted') return new Response(null, { status: 499 });
    if (typeof slot === 'string') return overloadedResponse(slot, admission, settings());
    const release = slot;
    try {
      await next();
    } catch (e) {
      release();
      throw e;
    }
    if (c.get('heldStream')) release();
    else whenResponseDone(c, release);
  };
}
