import type { Readable, Writable } from 'node:stream';
import { parseJSONRPCMessage, type JSONRPCMessage, type Transport } from '@modelcontextprotocol/server';

/**
 * MCP stdio transport (newline-delimited JSON-RPC on stdin/stdout) that survives bad input: a line
 * that is not JSON gets a -32700 Parse error, a line that is not a JSON-RPC message a -32600, and a
 * line over `maxMessageBytes` is discarded as it streams in and answered with a -32600 naming the
 * limit — the gateway stays up in every case. (The SDK's StdioServerTransport closes on an
 * over-long line, which ended the gateway with exit code 0.) stdin's end closes the transport.
 * A tools/call beyond `maxToolCalls` in progress is answered at once with a -32000 naming the limit
 * (stdio.maxConcurrentToolCalls), rather than starting one more downstream call.
 */
export class LineTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;

  /** Pieces of the current line, while it is within the limit. */
  #chunks: Buffer[] = [];
  #length = 0;
  /** The current line is over the limit: its bytes are dropped; its head and tail are kept to find its id. */
  #discarding?: { head: Buffer; tail: Buffer; bytes: number };
  #closed = false;
  #resolveClosed!: () => void;
  /** Settles once the transport closed (stdin ended, or close()). */
  readonly closed = new Promise<void>((r) => (this.#resolveClosed = r));

  constructor(private readonly opts: { stdin: Readable; stdout: Writable; maxMessageBytes: () => number; maxToolCalls?: () => number }) {}

  /** Ids (as JSON) of the tools/call requests in progress: received, not yet answered nor cancelled. */
  readonly #calls = new Set<string>();

  async start(): Promise<void> {
    this.opts.stdin.on('data', this.#ondata);
    this.opts.stdin.on('error', this.#onerror);
    this.opts.stdin.on('end', this.#onend);
    this.opts.stdin.on('close', this.#onend);
  }

  readonly #onerror = (e: Error) => this.onerror?.(e);
  readonly #onend = () => void this.close();

  readonly #ondata = (chunk: Buffer) => {
    let at = 0;
    while (at < chunk.length) {
      const nl = chunk.indexOf(0x0a, at);
      const piece = chunk.subarray(at, nl === -1 ? chunk.length : nl);
      this.#append(piece);
      if (nl === -1) break;
      this.#endLine();
      at = nl + 1;
    }
  };

  #append(piece: Buffer): void {
    if (this.#discarding) {
      this.#discarding.bytes += piece.length;
      this.#discarding.tail = Buffer.concat([this.#discarding.tail, piece]).subarray(-TAIL_BYTES);
      return;
    }
    if (this.#length + piece.length > this.opts.maxMessageBytes()) {
      const all = Buffer.concat([...this.#chunks, piece]);
      this.#discarding = { head: all.subarray(0, HEAD_BYTES), tail: all.subarray(-TAIL_BYTES), bytes: all.length };
      this.#chunks = [];
      this.#length = 0;
      return;
    }
    this.#chunks.push(piece);
    this.#length += piece.length;
  }

  #endLine(): void {
    const dropped = this.#discarding;
    if (dropped) {
      this.#discarding = undefined;
      const id = idOf(dropped.head.toString('utf8'), dropped.tail.toString('utf8'));
      this.#reply(
        id,
        -32600,
        `Invalid Request: message of ${dropped.bytes} bytes is over the limit of ${this.opts.maxMessageBytes()} bytes (server.maxBodyBytes); it was not processed`,
      );
      this.onerror?.(new Error(`stdio message of ${dropped.bytes} bytes refused (limit ${this.opts.maxMessageBytes()})`));
      return;
    }
    const line = Buffer.concat(this.#chunks).toString('utf8').replace(/\r$/, '');
    this.#chunks = [];
    this.#length = 0;
    if (line.trim() === '') return;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      this.#reply(null, -32700, 'Parse error: the line is not valid JSON');
      return;
    }
    if (Array.isArray(json)) {
      this.#reply(null, -32600, 'Invalid Request: JSON-RPC batches are not supported over stdio');
      return;
    }
    let message: JSONRPCMessage;
    try {
      message = parseJSONRPCMessage(json);
    } catch {
      const id = (json as { id?: unknown } | null)?.id;
      this.#reply(typeof id === 'string' || typeof id === 'number' ? id : null, -32600, 'Invalid Request: not a JSON-RPC 2.0 message');
      return;
    }
    if (!this.#admit(message)) return;
    this.onmessage?.(message);
  }

  /** Counts tools/call requests in progress; false (and answered) when one more is over the limit. */
  #admit(message: JSONRPCMessage): boolean {
    if (!('method' in message)) return true;
    if (message.method === 'tools/call' && 'id' in message) {
      const limit = this.opts.maxToolCalls?.();
      if (limit !== undefined && this.#calls.size >= limit) {
        this.#reply(
          message.id,
          -32000,
          `Server busy: ${limit} tools/call requests are already in progress on this connection (limit: stdio.maxConcurrentToolCalls in the gateway's config); call again when one has finished`,
        );
        return false;
      }
      this.#calls.add(JSON.stringify(message.id));
    } else if (message.method === 'notifications/cancelled') {
      // A cancelled request gets no answer (MCP cancellation): its slot is free now.
      const id = (message.params as { requestId?: unknown } | undefined)?.requestId;
      if (id !== undefined) this.#calls.delete(JSON.stringify(id));
    }
    return true;
  }

  #reply(id: string | number | null, code: number, message: string): void {
    void this.send({ jsonrpc: '2.0', id, error: { code, message } } as JSONRPCMessage).catch((e: unknown) => this.onerror?.(e as Error));
  }

  async send(message: JSONRPCMessage): Promise<void> {
    if (this.#closed) throw new Error('stdio transport is closed');
    if (this.#calls.size > 0 && 'id' in message && !('method' in message)) this.#calls.delete(JSON.stringify(message.id));
    const line = JSON.stringify(message) + '\n';
    await new Promise<void>((resolve, reject) => {
      const ok = this.opts.stdout.write(line, (e) => (e ? reject(e) : undefined));
      if (ok) resolve();
      else this.opts.stdout.once('drain', resolve);
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.opts.stdin.off('data', this.#ondata);
    this.opts.stdin.off('error', this.#onerror);
    this.opts.stdin.off('end', this.#onend);
    this.opts.stdin.off('close', this.#onend);
    this.opts.stdin.pause();
    this.#chunks = [];
    this.onclose?.();
    this.#resolveClosed();
  }
}

const HEAD_BYTES = 256;
const TAIL_BYTES = 256;
const ID = '(-?\\d+(?:\\.\\d+)?|"(?:[^"\\\\]|\\\\.)*")';

/**
 * The JSON-RPC id of a message too large to parse, so its error reaches the request that waits for
 * it: SDK clients put `"id"` last (`{"method":…,"params":…,"jsonrpc":"2.0","id":7}`), others first.
 * Only a top-level position is trusted (at the very end, or right after the opening brace); else null.
 */
export function idOf(head: string, tail: string): string | number | null {
  const last = new RegExp(`"id"\\s*:\\s*${ID}\\s*\\}\\s*$`).exec(tail);
  const first = new RegExp(`^\\s*\\{\\s*(?:"jsonrpc"\\s*:\\s*"2\\.0"\\s*,\\s*)?"id"\\s*:\\s*${ID}`).exec(head);
  const raw = last?.[1] ?? first?.[1];
  if (raw === undefined) return null;
  try {
    return JSON.parse(raw) as string | number;
  } catch {
    return null;
  }
}
