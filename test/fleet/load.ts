import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { resultText } from './clients.js';

/** One tools/call as the load runner saw it. */
export interface CallRecord {
  label: string;
  i: number;
  start: number;
  end: number;
  ok: boolean;
  error?: string;
}

/**
 * `total` calls of `call` with `concurrency` workers. A call fails when it rejects (transport or
 * protocol error) or returns isError. `onDone` runs after each call (progress hooks).
 */
export async function runLoad(
  label: string,
  call: () => Promise<CallToolResult>,
  total: number,
  concurrency: number,
  onDone?: (r: CallRecord) => void,
): Promise<CallRecord[]> {
  const records: CallRecord[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < total; i = next++) {
        const start = Date.now();
        let rec: CallRecord;
        try {
          const r = await call();
          rec = r.isError
            ? { label, i, start, end: Date.now(), ok: false, error: `isError: ${resultText(r).slice(0, 300)}` }
            : { label, i, start, end: Date.now(), ok: true };
        } catch (e) {
          rec = { label, i, start, end: Date.now(), ok: false, error: describe(e) };
        }
        records.push(rec);
        onDone?.(rec);
      }
    }),
  );
  return records;
}

/** The error and its causes ("fetch failed" alone does not say whether the socket was refused, reset or closed). */
function describe(e: unknown): string {
  const parts: string[] = [];
  for (let c: unknown = e; c !== undefined && parts.length < 4; c = c instanceof Error ? c.cause : undefined) {
    const code = (c as { code?: unknown }).code;
    parts.push(c instanceof Error ? `${c.message}${typeof code === 'string' ? ` (${code})` : ''}` : String(c));
  }
  return parts.join(' <- ');
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
