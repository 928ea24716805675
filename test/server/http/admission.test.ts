import { afterEach, describe, expect, it, vi } from 'vitest';
import { Metrics } from '../../../src/observability/index.js';
import { Admission, overloadedResponse, type OverloadSettings } from '../../../src/server/http/admission.js';

/**
 * The admission limiter of /mcp on its own: slots, the FIFO queue, refusals, and how the limit adapts
 * to the event loop's load (clock and utilization injected: nothing here depends on real time).
 */

const fixed = (n: number, queue: number, waitMs = 10_000): OverloadSettings => ({
  maxConcurrentRequests: n,
  minConcurrentRequests: n,
  maxQueuedRequests: queue,
  maxQueueWaitMs: waitMs,
});

type Slot = ReturnType<Admission['acquire']>;
const isRelease = (s: unknown): s is () => void => typeof s === 'function';

describe('Admission: slots and the queue', () => {
  afterEach(() => vi.useRealTimers());

  it('admits up to the limit at once, queues up to maxQueuedRequests, refuses beyond (queue_full)', () => {
    const a = new Admission(() => fixed(2, 1));
    const r1 = a.acquire();
    const r2 = a.acquire();
    expect([isRelease(r1), isRelease(r2)]).toEqual([true, true]);
    const queued = a.acquire();
    expect(queued).toBeInstanceOf(Promise);
    expect(a.acquire()).toBe('queue_full');
    expect({ inProgress: a.inProgress, queued: a.queued, limit: a.limit, rejected: a.rejected }).toEqual({
      inProgress: 2,
      queued: 1,
      limit: 2,
      rejected: { queue_full: 1, queue_timeout: 0, queue_wait: 0 },
    });
  });

  it('hands freed slots to waiters first come, first served; a release counts once', async () => {
    const a = new Admission(() => fixed(1, 10));
    const first = a.acquire() as () => void;
    const order: number[] = [];
    const waiting = [1, 2, 3].map((i) => (a.acquire() as Promise<Slot>).then((r) => (order.push(i), r as () => void)));
    expect(a.queued).toBe(3);
    first();
    first(); // twice: still one slot
    const second = await waiting[0]!;
    expect({ order, inProgress: a.inProgress, queued: a.queued }).toEqual({ order: [1], inProgress: 1, queued: 2 });
    second();
    (await waiting[1]!)();
    (await waiting[2]!)();
    expect({ order, inProgress: a.inProgress, queued: a.queued }).toEqual({ order: [1, 2, 3], inProgress: 0, queued: 0 });
  });

  it('a new request does not overtake waiting ones', async () => {
    const a = new Admission(() => fixed(1, 10));
    const first = a.acquire() as () => void;
    const waiter = a.acquire() as Promise<Slot>;
    first();
    // The slot went to the waiter: a newcomer queues behind nobody but waits for it.
    expect(a.acquire()).toBeInstanceOf(Promise);
    expect(isRelease(await waiter)).toBe(true);
  });

  it('a waiter whose wait runs out is refused (queue_timeout) and leaves the queue', async () => {
    vi.useFakeTimers();
    const a = new Admission(() => fixed(1, 10, 500));
    void a.acquire();
    const waiter = a.acquire() as Promise<Slot>;
    vi.advanceTimersByTime(500);
    expect(await waiter).toBe('queue_timeout');
    expect({ queued: a.queued, rejected: a.rejected }).toEqual({ queued: 0, rejected: { queue_full: 0, queue_timeout: 1, queue_wait: 0 } });
  });

  it('a waiter whose client went away leaves the queue without taking a slot', async () => {
    const a = new Admission(() => fixed(1, 10));
    const first = a.acquire() as () => void;
    const gone = new AbortController();
    const waiter = a.acquire(gone.signal) as Promise<Slot>;
    gone.abort();
    expect(await waiter).toBe('aborted');
    first();
    expect({ inProgress: a.inProgress, queued: a.queued, rejected: a.rejected }).toEqual({
      inProgress: 0,
      queued: 0,
      rejected: { queue_full: 0, queue_timeout: 0, queue_wait: 0 },
    });
  });

  it('a newcomer who could not expect a slot within maxQueueWaitMs at the measured rate is refused at once (queue_wait)', () => {
    let now = 0;
    // 2 slots, a queue of 100, 1 s of wait at most; utilization low (the limit is fixed anyway).
    const a = new Admission(() => fixed(2, 100, 1000), { now: () => now, utilization: () => 0 });
    const r1 = a.acquire() as () => void;
    void a.acquire();
    void a.acquire(); // queued: no rate is known yet, so only the wait limit applies
    now += 100;
    r1(); // one completion in a 100 ms window with a queue: 0.01 per ms; the waiter takes the slot
    expect({ inProgress: a.inProgress, queued: a.queued }).toEqual({ inProgress: 2, queued: 0 });
    // Place k (1-based) expects k / 0.01 ms: places 1..9 are under 1000 ms, the 10th is not.
    const answers = Array.from({ length: 10 }, () => a.acquire());
    expect(answers.slice(0, 9).every((x) => x instanceof Promise)).toBe(true);
    expect(answers[9]).toBe('queue_wait');
    expect({ queued: a.queued, rejected: a.rejected }).toEqual({ queued: 9, rejected: { queue_full: 0, queue_timeout: 0, queue_wait: 1 } });
  });

  it('maxQueuedRequests 0: no queue, refused at once', () => {
    const a = new Admission(() => fixed(1, 0));
    void a.acquire();
    expect(a.acquire()).toBe('queue_full');
  });

  it('a hot reload that lowers the limit applies to the next request; raising it admits waiters', async () => {
    let s = fixed(2, 10);
    const a = new Admission(() => s);
    const r1 = a.acquire() as () => void;
    s = fixed(1, 10);
    const waiter = a.acquire() as Promise<Slot>;
    expect(a.queued).toBe(1);
    s = fixed(3, 10);
    r1();
    expect(isRelease(await waiter)).toBe(true);
  });
});

describe('Admission: the limit adapts to the event loop (min..max)', () => {
  // Each row: the utilization of successive 100 ms samples, whether requests wanted more slots in each,
  // and the limit after each sample. min 4, max 20.
  const table: Array<[string, number[], boolean[], number[]]> = [
    [
      'starts at min; grows by a quarter while the loop has headroom and requests wait',
      [0.2, 0.2, 0.2, 0.2, 0.2, 0.2],
      [true, true, true, true, true, true],
      [5, 7, 9, 12, 15, 19],
    ],
    ['stops at max', [0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1], [true, true, true, true, true, true, true, true], [5, 7, 9, 12, 15, 19, 20, 20]],
    ['does not grow without demand', [0.2, 0.2], [false, false], [4, 4]],
    [
      'shrinks by a quarter while the loop is saturated, never below min',
      [0.2, 0.2, 0.2, 0.2, 0.95, 0.95, 0.95, 0.99],
      [true, true, true, true, true, true, true, true],
      [5, 7, 9, 12, 9, 6, 4, 4],
    ],
  ];
  it.each(table)('%s', (_label, utilization, wanted, limits) => {
    let now = 0;
    let u = 0;
    const a = new Admission(() => ({ maxConcurrentRequests: 20, minConcurrentRequests: 4, maxQueuedRequests: 1000, maxQueueWaitMs: 60_000 }), {
      now: () => now,
      utilization: () => u,
    });
    const held: Array<() => void> = [];
    const seen: number[] = [];
    for (let i = 0; i < utilization.length; i++) {
      if (wanted[i]) {
        // Fill every slot and one more: demand beyond the limit.
        while (a.inProgress < a.limit) held.push(a.acquire() as () => void);
        void a.acquire();
      }
      now += 100;
      u = utilization[i]!;
      // The next event after the sample period adapts the limit (a release here; it also admits waiters).
      const r = held.pop();
      if (r) r();
      else void a.acquire();
      seen.push(a.limit);
    }
    expect(seen).toEqual(limits);
  });

  it('min = max: a fixed limit, whatever the load', () => {
    let now = 0;
    const a = new Admission(() => fixed(3, 10), { now: () => now, utilization: () => 1 });
    for (let i = 0; i < 5; i++) {
      now += 100;
      void a.acquire();
    }
    expect(a.limit).toBe(3);
    expect(a.inProgress).toBe(3);
  });
});

describe('Admission: the time requests hold their slots is a second signal (latency inflation)', () => {
  /**
   * Each sample of 100 ms: every slot of the limit is taken and one request more waits (demand), the
   * slots are held `hold` ms and released (the waiter then takes and gives back a slot at once), and the
   * next request after the sample adapts the limit. The event loop has headroom throughout (20%): only
   * the hold times move the limit. min 4, max 40.
   */
  async function limitsAfter(holds: number[]): Promise<number[]> {
    let now = 0;
    const a = new Admission(() => ({ maxConcurrentRequests: 40, minConcurrentRequests: 4, maxQueuedRequests: 1000, maxQueueWaitMs: 60_000 }), {
      now: () => now,
      utilization: () => 0.2,
    });
    const seen: number[] = [];
    for (const hold of holds) {
      const start = now;
      const slots: Array<() => void> = [];
      while (a.inProgress < a.limit) slots.push(a.acquire() as () => void);
      const waiter = a.acquire() as Promise<unknown>;
      now = start + hold;
      for (const release of slots) release();
      const late = await waiter;
      if (isRelease(late)) late();
      now = start + 100;
      const trigger = a.acquire();
      if (isRelease(trigger)) trigger();
      seen.push(a.limit);
    }
    return seen;
  }

  it.each<[string, number[], number[]]>([
    ['steady hold times: grows by a quarter while requests wait, as without the signal', [10, 10, 10, 10, 10], [5, 7, 9, 12, 15]],
    [
      'hold times tripled (the SaaS or the machine saturated): stops growing and gives back a tenth per sample, never below min',
      [10, 10, 10, 30, 30, 30, 30],
      [5, 7, 9, 8, 7, 6, 5],
    ],
    ['slow calls from the start (a slow API) are their own baseline: the limit grows for them', [90, 90, 90, 90], [5, 7, 9, 12]],
    ['hold times back to the baseline: growth resumes', [10, 10, 30, 30, 10, 10], [5, 7, 6, 5, 7, 9]],
  ])('%s', async (_label, holds, limits) => {
    expect(await limitsAfter(holds)).toEqual(limits);
  });
});

describe('the 503 and the metrics', () => {
  it('503, Retry-After in whole seconds, a JSON-RPC error naming the config keys', async () => {
    const s = fixed(8, 16, 1500);
    const table: Array<['queue_full' | 'queue_timeout' | 'queue_wait', string]> = [
      ['queue_full', '8 requests in progress and 16 queued'],
      ['queue_wait', '16 queued ahead: no slot expected within 1500 ms'],
      ['queue_timeout', 'no slot within 1500 ms; 8 requests in progress'],
    ];
    for (const [reason, why] of table) {
      const res = overloadedResponse(reason, { inProgress: 8, queued: 16, limit: 8, rejected: { queue_full: 0, queue_timeout: 0, queue_wait: 0 } }, s);
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('2');
      expect(await res.json()).toEqual({
        jsonrpc: '2.0',
        id: null,
        error: {
          code: -32000,
          message: `Service unavailable: the gateway is overloaded (${why}); retry after 2 s. Limits: server.overload.maxConcurrentRequests (8), server.overload.maxQueuedRequests (16), server.overload.maxQueueWaitMs (1500)`,
        },
      });
    }
  });

  it('Prometheus: in progress, queued, the limit, and refusals by reason', async () => {
    const metrics = new Metrics();
    const a = new Admission(() => fixed(1, 1));
    metrics.trackAdmission(a);
    void a.acquire();
    void a.acquire();
    void a.acquire();
    metrics.rateLimited('tools.perUser');
    const text = await metrics.text();
    for (const line of [
      'xaa_mcp_requests_in_progress 1',
      'xaa_mcp_requests_queued 1',
      'xaa_mcp_concurrency_limit 1',
      'xaa_mcp_requests_rejected_total{reason="queue_full"} 1',
      'xaa_mcp_requests_rejected_total{reason="queue_timeout"} 0',
      'xaa_mcp_requests_rejected_total{reason="queue_wait"} 0',
      'xaa_tool_calls_rate_limited_total{limit="tools.perUser"} 1',
    ]) {
      expect(text).toContain(line);
    }
  });
});
