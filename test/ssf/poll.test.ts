import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { createSsfReceiver, EVENT_TYPES, nextPollDelay, type PollTimers } from '../../src/ssf/index.js';
import { ENV, FakeControl, FakeTransmitter, MemorySink, runtimeWith } from './helpers.js';

/** An RFC 8936 poll endpoint in memory in front of the fake transmitter; records every request body. */
function pollEndpoint(t: FakeTransmitter) {
  const queue = new Map<string, string>();
  const requests: Array<{
    ack: string[];
    setErrs: Record<string, { err: string }>;
    maxEvents: number;
    returnImmediately: boolean;
    authorization: string | null;
  }> = [];
  let failing = false;
  let dropAcks = false;
  const counter = { attempts: 0 };
  const fetch: typeof globalThis.fetch = async (input, init) => {
    const req = input instanceof Request ? input : new Request(String(input), init);
    if (!req.url.endsWith('/ssf/poll')) return t.fetch(input, init);
    counter.attempts++;
    if (failing) throw new TypeError('fetch failed');
    const body = (await req.json()) as (typeof requests)[number];
    requests.push({ ...body, authorization: req.headers.get('authorization') });
    if (!dropAcks) for (const j of body.ack) queue.delete(j);
    for (const j of Object.keys(body.setErrs)) queue.delete(j);
    const sets = Object.fromEntries([...queue].slice(0, body.maxEvents));
    return Response.json({ sets, moreAvailable: queue.size > Object.keys(sets).length });
  };
  return { queue, requests, fetch, counter, fail: (f: boolean) => (failing = f), dropAcks: (d: boolean) => (dropAcks = d) };
}

/** The poller's timer, driven by hand: `delays` are what it asked for, `fire()` runs the pending poll. */
function manualTimers() {
  let pending: (() => void) | undefined;
  const delays: number[] = [];
  return {
    delays,
    timers: {
      set: (fn: () => void, ms: number) => {
        delays.push(ms);
        pending = fn;
        return fn;
      },
      clear: (h: unknown) => {
        if (pending === h) pending = undefined;
      },
    },
    fire() {
      const fn = pending;
      pending = undefined;
      fn?.();
    },
    get armed() {
      return pending !== undefined;
    },
  };
}

/**
 * Lets real I/O (WebCrypto, fetch) settle. Bounded by time, not by a count of event-loop turns: on a
 * loaded machine the signature checks can take longer than any fixed number of turns.
 */
async function until(cond: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1));
  expect(cond()).toBe(true);
}

function pollReceiver(t: FakeTransmitter, fetch: typeof globalThis.fetch, control: FakeControl, audit: MemorySink, maxEvents = 25, timers?: PollTimers) {
  return createSsfReceiver({
    config: {
      current: runtimeWith({
        transmitter: t.issuer,
        delivery: 'poll',
        pollUrl: 'https://idp.test/ssf/poll',
        pollToken: { env: 'POLL_TOKEN' },
        pollIntervalSeconds: 1,
      }),
    },
    control,
    audit,
    deps: { fetch, now: () => Date.now() },
    logger: silentLogger,
    env: ENV,
    poll: { maxEvents, maxBackoffMs: 8_000, ...(timers ? { timers } : {}) },
  });
}

describe('nextPollDelay', () => {
  it.each([
    [{ failures: 0, moreAvailable: false, pending: false }, 1000],
    [{ failures: 0, moreAvailable: true, pending: false }, 0],
    [{ failures: 0, moreAvailable: false, pending: true }, 0],
    [{ failures: 1, moreAvailable: true, pending: true }, 2000],
    [{ failures: 2, moreAvailable: false, pending: false }, 4000],
    [{ failures: 3, moreAvailable: false, pending: false }, 8000],
    [{ failures: 9, moreAvailable: false, pending: false }, 8000],
  ])('%j -> %i ms (interval 1 s, ceiling 8 s)', (o, ms) => {
    expect(nextPollDelay({ intervalMs: 1000, maxBackoffMs: 8000, ...o })).toBe(ms);
  });
});

describe('RFC 8936 poll', () => {
  it('processes sets, acknowledges them in the next poll, reports refused ones in setErrs', async () => {
    const t = await FakeTransmitter.create();
    const ep = pollEndpoint(t);
    const control = new FakeControl();
    const audit = new MemorySink();
    const r = pollReceiver(t, ep.fetch, control, audit);
    const now = Math.floor(Date.now() / 1000);
    // Queued newest first: the receiver acts in `iat` order (disable, then enable).
    ep.queue.set('j-enable', await t.sign({ jti: 'j-enable', iat: now, events: { [EVENT_TYPES.accountEnabled]: {} } }));
    ep.queue.set('j-disable', await t.sign({ jti: 'j-disable', iat: now - 10, events: { [EVENT_TYPES.accountDisabled]: {} } }));
    ep.queue.set('j-bad-aud', await t.sign({ jti: 'j-bad-aud', aud: 'https://elsewhere.test' }));
    ep.queue.set('j-mismatch', await t.sign({ jti: 'j-other' }));

    expect(await r.pollOnce()).toEqual({ received: 4, acted: 2, duplicates: 0, refused: 2, deferred: 0, moreAvailable: false });
    expect(control.calls.map((c) => c.method)).toEqual(['disableUser', 'enableUser']);
    expect(ep.requests[0]).toEqual({ ack: [], setErrs: {}, maxEvents: 25, returnImmediately: true, authorization: `Bearer ${ENV.POLL_TOKEN}` });
    expect(ep.queue.size).toBe(4); // nothing acknowledged yet

    expect(await r.pollOnce()).toEqual({ received: 0, acted: 0, duplicates: 0, refused: 0, deferred: 0, moreAvailable: false });
    expect(ep.requests[1]!.ack.sort()).toEqual(['j-disable', 'j-enable']);
    expect(ep.requests[1]!.setErrs).toEqual({
      'j-bad-aud': { err: 'invalid_audience', description: expect.any(String) },
      'j-mismatch': { err: 'invalid_request', description: expect.stringContaining('differs from its key') },
    });
    expect(ep.queue.size).toBe(0);
    expect(audit.records.map((a) => (a.securityEvent as { delivery: string }).delivery)).toEqual(['poll', 'poll']);
  });

  it('a redelivered SET (lost ack) is acknowledged again and not acted on twice', async () => {
    const t = await FakeTransmitter.create();
    const ep = pollEndpoint(t);
    const control = new FakeControl();
    const r = pollReceiver(t, ep.fetch, control, new MemorySink());
    const set = await t.sign({ jti: 'j-1' });
    ep.queue.set('j-1', set);
    await r.pollOnce();
    ep.dropAcks(true); // the transmitter loses the acknowledgement and delivers the SET again
    expect(await r.pollOnce()).toMatchObject({ received: 1, acted: 0, duplicates: 1 });
    ep.dropAcks(false);
    ep.requests.length = 0;
    ep.fail(true);
    await expect(r.pollOnce()).rejects.toThrow(/unreachable/); // a failed request keeps the acks for the next one
    ep.fail(false);
    expect(await r.pollOnce()).toMatchObject({ received: 0 });
    expect(ep.requests.at(-1)!.ack).toEqual(['j-1']);
    expect(ep.queue.size).toBe(0);
    expect(control.calls).toHaveLength(1);
  });

  it('runs on its interval, polls again at once while there is more, backs off on failures, and stops', async () => {
    const t = await FakeTransmitter.create();
    const ep = pollEndpoint(t);
    const control = new FakeControl();
    const clock = manualTimers();
    const r = pollReceiver(t, ep.fetch, control, new MemorySink(), 1, clock.timers);
    ep.queue.set('a', await t.sign({ jti: 'a' }));
    ep.queue.set('b', await t.sign({ jti: 'b', sub_id: { format: 'iss_sub', iss: t.issuer, sub: 'u-bob' } }));
    const step = async () => {
      const n = clock.delays.length;
      clock.fire();
      await until(() => clock.delays.length === n + 1);
    };

    r.start();
    expect(clock.delays).toEqual([0]);
    // maxEvents 1: a (more available) -> b at once -> the ack of b at once -> then the interval.
    for (let i = 0; i < 3; i++) await step();
    expect(ep.requests.map((q) => q.ack)).toEqual([[], ['a'], ['b']]);
    expect(control.calls.map((c) => c.user.sub)).toEqual(['u-alice', 'u-bob']);
    expect(clock.delays).toEqual([0, 0, 0, 1000]);

    // Failing: doubling from the interval up to the ceiling (8 s); recovered: the interval again.
    ep.fail(true);
    for (let i = 0; i < 5; i++) await step();
    ep.fail(false);
    await step();
    expect(clock.delays.slice(4)).toEqual([2000, 4000, 8000, 8000, 8000, 1000]);

    // Stopped: nothing more is scheduled, and a poll in progress is waited for.
    const n = ep.counter.attempts;
    await r.stop();
    expect(clock.armed).toBe(false);
    clock.fire();
    expect(ep.counter.attempts).toBe(n);
  });

  it('stop() sends the acknowledgements still pending (ack-only poll, maxEvents 0)', async () => {
    const t = await FakeTransmitter.create();
    const ep = pollEndpoint(t);
    const clock = manualTimers();
    const r = pollReceiver(t, ep.fetch, new FakeControl(), new MemorySink(), 25, clock.timers);
    ep.queue.set('x', await t.sign({ jti: 'x' }));
    r.start();
    clock.fire();
    await until(() => clock.delays.length === 2);
    expect(ep.queue.size).toBe(1);
    await r.stop();
    expect(ep.requests.at(-1)).toMatchObject({ ack: ['x'], maxEvents: 0, returnImmediately: true });
    expect(ep.queue.size).toBe(0);
  });
});
