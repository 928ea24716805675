import { GatewayError } from '../errors.js';

/**
 * A downstream answer's body under the operation's maxResponseBytes: refused by its Content-Length
 * before reading, or as soon as the bytes streamed pass the cap (downstream_too_large), so a SaaS
 * cannot make the gateway hold more than the config allows.
 */

/** Drops an answer's body unread (a redirect, a DPoP nonce challenge, one over the cap). */
export async function discard(response: Response): Promise<void> {
  await response.body?.cancel().catch(() => undefined);
}

/** Reads at most `max` bytes of the body, checking Content-Length first, then while streaming. */
export async function readCapped(response: Response, max: number, host: string): Promise<Uint8Array> {
  const tooLarge = (size: string) =>
    new GatewayError('downstream_too_large', `the response of ${host} is larger than ${max} bytes (${size}; maxResponseBytes of the operation)`, {
      status: response.status,
      details: { host, maxResponseBytes: max },
    });
  const declared = Number(response.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > max) {
    await discard(response);
    throw tooLarge(`Content-Length ${declared}`);
  }
  if (!response.body) return new Uint8Array(0);
  // Within the cap by its Content-Length, which the HTTP parser holds the body to: read in one go. Not
  // when compressed: the length is of the compressed bytes, and fetch hands over the decoded ones.
  if (Number.isFinite(declared) && !response.headers.has('content-encoding')) return new Uint8Array(await response.arrayBuffer());
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > max) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge(`more than ${max} bytes streamed`);
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.byteLength;
  }
  return bytes;
}
