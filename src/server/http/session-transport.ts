import { type AuthInfo, type JSONRPCMessage, type JSONRPCRequest, type RequestId, type Transport } from '@modelcontextprotocol/server';

/**
 * The in-process transport of a 2025 session's warm server: one SDK Server per cached session,
 * connected once, answering that session's plain JSON-mode requests (one JSON-RPC request per POST, no
 * progress token) without building a server, a Streamable HTTP transport and a stream per request.
 *
 * What it carries is what the SDK's Streamable HTTP transport carries for such a POST in JSON
 * response mode: the request in (with the bearer's AuthInfo and the HTTP request), its response out.
 * Anything else the server sends on the way (notifications, server-to-client requests) has no channel
 * in a JSON response, and is dropped here as it is there.
 */
export class SessionTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: Transport['onmessage'];
  readonly #pending = new Map<RequestId, (response: JSONRPCMessage) => void>();
  #closed = false;

  async start(): Promise<void> {}

  /** Whether a request with this id is in progress (a duplicate takes the per-request path). */
  busy(id: RequestId): boolean {
    return this.#pending.has(id);
  }

  /** Hands one request to the server; resolves with its JSON-RPC response. */
  request(message: JSONRPCRequest, extra: { authInfo: AuthInfo; request: Request }): Promise<JSONRPCMessage> {
    if (this.#closed || !this.onmessage) return Promise.resolve(closedError(message.id));
    return new Promise((resolve) => {
      this.#pending.set(message.id, resolve);
      this.onmessage!(message, extra);
    });
  }

  async send(message: JSONRPCMessage): Promise<void> {
    // A response is what carries `result` or `error` (notifications and server requests carry neither). The
    // message comes from the session's own in-process Server, already built to the schema: the SDK's zod
    // guards (isJSONRPCResultResponse...) would parse the whole result once more on every call.
    if (!('result' in message) && !('error' in message)) return;
    if (message.id === undefined) return; // an error answering no request (a parse error): none is sent here
    const resolve = this.#pending.get(message.id);
    if (!resolve) return;
    this.#pending.delete(message.id);
    resolve(message);
  }

  /** Requests still in progress are answered with an error (the session ended under them). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const [id, resolve] of this.#pending) resolve(closedError(id));
    this.#pending.clear();
    this.onclose?.();
  }
}

function closedError(id: RequestId): JSONRPCMessage {
  return { jsonrpc: '2.0', id, error: { code: -32000, message: 'Session closed while the request was in progress' } };
}
