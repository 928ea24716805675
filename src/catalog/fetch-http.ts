import { BodyTooLarge, type HttpAnswer, type HttpClient } from '../deps.js';

/**
 * The HTTP client port over a fetch (HttpClient in deps.ts): an injected fetch (tests) or a runtime's own.
 * Redirects are not followed (`redirect: 'manual'`): http-operation.ts decides which to follow.
 */
export function fetchHttp(fetchFn: typeof fetch): HttpClient {
  return async (request) => {
    const { method, url, headers, body, signal } = request;
    const response = await fetchFn(url, { method, headers, body, redirect: 'manual', signal });
    const answer: HttpAnswer = {
      status: response.status,
      header: (name) => response.headers.get(name) ?? undefined,
      read: (max) => readCapped(response, max),
      discard: () => discard(response),
    };
    return answer;
  };
}

async function discard(response: Response): Promise<void> {
  await response.body?.cancel().catch(() => undefined);
}

/** Reads at most `max` bytes of the body, checking Content-Length first, then while streaming. */
async function readCapped(response: Response, max: number): Promise<Uint8Array> {
  const declared = Number(response.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > max) {
    await discard(response);
    throw new BodyTooLarge(`Content-Length ${declared}`);
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
      throw new BodyTooLarge(`more than ${max} bytes streamed`);
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
