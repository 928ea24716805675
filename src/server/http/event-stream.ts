/**
 * Server-sent event streams the client holds open for notifications: the 2025 standalone GET
 * stream of a session, and (wrapped) the 2026-07-28 `subscriptions/listen` streams the SDK serves.
 * Each is registered in HeldStreams so the gateway can end it when its token expires, its sign-in
 * is revoked, its session ends, or at shutdown.
 */
import type { McpSessionOwner } from '../../store/mcp-sessions.js';
import { primingEventAllowed } from '../mcp/versions.js';

/** Suggested reconnection delay (SSE `retry`, SEP-1699): long enough for a restarted instance to be out of rotation. */
export const SSE_RETRY_MS = 3_000;
/** SSE comment frames keep idle streams alive through proxies and balancers (HAProxy `timeout server`). */
export const SSE_KEEPALIVE_MS = 15_000;

export interface HeldStream {
  owner: McpSessionOwner;
  /** `exp` (s) of the token the stream was opened with: it does not outlive it. */
  tokenExp: number;
  /** 2025 session id, when the stream is a session's GET stream. */
  sessionId?: string;
  /** Ends the stream (the client reconnects with a current token, or not at all). */
  close(): void;
}

/** The held streams of this instance, of both eras. */
export class HeldStreams {
  readonly #streams = new Set<HeldStream>();

  get size(): number {
    return this.#streams.size;
  }

  add(s: HeldStream): () => void {
    this.#streams.add(s);
    return () => this.#streams.delete(s);
  }

  list(): HeldStream[] {
    return [...this.#streams];
  }

  /** Closes the streams matching `pick`; returns how many. */
  closeWhere(pick: (s: HeldStream) => boolean): number {
    let n = 0;
    for (const s of [...this.#streams]) {
      if (!pick(s)) continue;
      this.#streams.delete(s);
      s.close();
      n++;
    }
    return n;
  }
}

const encoder = new TextEncoder();

export interface EventStream {
  response: Response;
  /** Sends one JSON-RPC message as an SSE `message` event; false once the stream is closed. */
  send(message: unknown): boolean;
  /**
   * Ends the stream; `reason` is written first as an SSE comment. The gateway declares no `logging`
   * capability, so MCP lets it send no notifications/message: the comment is for people reading the
   * wire (curl, proxy logs); clients learn the reason from the 404 of their next request.
   */
  close(reason?: string): void;
  /** Settles when the stream ended (client gone, or close()). */
  closed: Promise<void>;
}

/**
 * A standalone SSE stream (MCP Streamable HTTP, 2025 revisions: "Listening for Messages from the
 * Server"). It opens with a priming event carrying an event id and `retry` (SEP-1699) for clients of
 * 2025-11-25, and with `retry` alone for older ones (an empty `data` breaks their parsers). Event
 * ids are `<tag>.<n>`, so a reconnecting client's Last-Event-ID tells which tools revision it saw.
 */
export function openEventStream(opts: {
  protocolVersion: string;
  eventTag: string;
  headers?: Record<string, string>;
  retryMs?: number;
  keepAliveMs?: number;
}): EventStream {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let open = true;
  let seq = 0;
  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => (resolveClosed = r));
  const finish = () => {
    if (!open) return;
    open = false;
    clearInterval(keepAlive);
    resolveClosed();
  };
  const write = (frame: string): boolean => {
    if (!open) return false;
    try {
      controller.enqueue(encoder.encode(frame));
      return true;
    } catch {
      finish();
      return false;
    }
  };
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
    },
    cancel() {
      finish();
    },
  });
  const retry = opts.retryMs ?? SSE_RETRY_MS;
  write(primingEventAllowed(opts.protocolVersion) ? `id: ${opts.eventTag}.${seq++}\nretry: ${retry}\ndata: \n\n` : `retry: ${retry}\n\n`);
  const keepAlive = setInterval(() => write(': keepalive\n\n'), opts.keepAliveMs ?? SSE_KEEPALIVE_MS);
  keepAlive.unref();
  return {
    response: new Response(body, {
      status: 200,
      headers: { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache, no-transform', 'X-Accel-Buffering': 'no', ...opts.headers },
    }),
    send: (message) => write(`id: ${opts.eventTag}.${seq++}\nevent: message\ndata: ${JSON.stringify(message)}\n\n`),
    close(reason) {
      if (!open) return;
      if (reason) write(`: closed: ${reason.replace(/[\r\n]+/g, ' ')}\n\n`);
      try {
        controller.close();
      } catch {
        // already errored or closed by the consumer
      }
      finish();
    },
    closed,
  };
}

/** The tools revision a Last-Event-ID was sent under (see openEventStream), if it is one of ours. */
export function eventTagOf(lastEventId: string | null): string | undefined {
  if (!lastEventId) return undefined;
  const dot = lastEventId.lastIndexOf('.');
  return dot > 0 ? lastEventId.slice(0, dot) : undefined;
}

/**
 * Wraps a streamed response (a 2026-07-28 `subscriptions/listen` stream served by the SDK) so the
 * gateway can end it: `close()` cancels the SDK's stream (which tears its subscription down) and
 * ends the body the client reads.
 */
export function closableStream(res: Response): { response: Response; close(): void; closed: Promise<void> } {
  const reader = res.body!.getReader();
  let controllerRef!: ReadableStreamDefaultController<Uint8Array>;
  let done = false;
  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => (resolveClosed = r));
  const end = () => {
    if (done) return;
    done = true;
    resolveClosed();
  };
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      controllerRef = c;
    },
    async pull(c) {
      try {
        const { done: finished, value } = await reader.read();
        if (finished) {
          end();
          c.close();
          return;
        }
        c.enqueue(value);
      } catch (e) {
        end();
        c.error(e);
      }
    },
    cancel(reason) {
      end();
      return reader.cancel(reason).catch(() => {});
    },
  });
  return {
    response: new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers }),
    close() {
      if (done) return;
      end();
      void reader.cancel().catch(() => {});
      try {
        controllerRef.close();
      } catch {
        // already closed
      }
    },
    closed,
  };
}
