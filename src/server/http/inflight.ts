import type { Context } from 'hono';

/**
 * Calls `done` exactly once when the response of `c` is over (fully sent, or the client went
 * away). Served by @hono/node-server, the node response's 'close' event says so at no cost;
 * elsewhere (in-process `app.request()` in tests) the body is wrapped (onBodyDone), which costs a
 * stream pipe through JavaScript per response.
 */
export function whenResponseDone(c: Context, done: () => void): void {
  const outgoing = (c.env as { outgoing?: { once(event: 'close', fn: () => void): unknown; writableFinished?: boolean; destroyed?: boolean } } | undefined)
    ?.outgoing;
  if (outgoing && typeof outgoing.once === 'function') {
    if (outgoing.writableFinished || outgoing.destroyed) done();
    else outgoing.once('close', done);
    return;
  }
  c.res = onBodyDone(c.res, done);
}

/**
 * Calls `done` exactly once, when the response body has been fully sent or the client went away.
 * Streamable HTTP answers a tools/call with an SSE stream that ends after the JSON-RPC response, so
 * "body finished" is "call finished" (the handler itself returns as soon as the stream starts).
 */
export function onBodyDone(res: Response, done: () => void): Response {
  let called = false;
  const finish = () => {
    if (!called) {
      called = true;
      done();
    }
  };
  if (!res.body) {
    finish();
    return res;
  }
  const reader = res.body.getReader();
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done: end, value } = await reader.read();
        if (end) {
          controller.close();
          finish();
        } else controller.enqueue(value);
      } catch (e) {
        finish();
        controller.error(e);
      }
    },
    cancel(reason) {
      finish();
      return reader.cancel(reason);
    },
  });
  return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
}

/** Counts requests in progress so shutdown can wait for them (with a bound). */
export class InFlight {
  #count = 0;
  #waiters = new Set<() => void>();

  get count(): number {
    return this.#count;
  }

  begin(): () => void {
    this.#count++;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.#count--;
      if (this.#count === 0) for (const w of this.#waiters) w();
    };
  }

  /** Resolves true when nothing is in flight, false when `timeoutMs` passed first. */
  idle(timeoutMs: number): Promise<boolean> {
    if (this.#count === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter = () => {
        clearTimeout(timer);
        this.#waiters.delete(waiter);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        resolve(false);
      }, timeoutMs);
      this.#waiters.add(waiter);
    });
  }
}
