import { createReadStream } from 'node:fs';
import type { AuditFileHandle } from './fs.js';

export interface Line {
  /** 1-based line number in its file (forward reads only). */
  number: number;
  /** Raw bytes without the newline: a torn line may end inside a UTF-8 sequence. */
  bytes: Buffer;
  /** False for a last line with no trailing newline. */
  terminated: boolean;
}

const NL = 0x0a;

/**
 * Stream the lines of a file without loading it. Bytes rather than readline strings, so a torn line
 * can be fingerprinted exactly and we know whether the last line ended with a newline.
 */
export async function* readLines(path: string, start = 0): AsyncGenerator<Line> {
  let carry: Buffer = Buffer.alloc(0);
  let number = 0;
  for await (const chunk of createReadStream(path, { start })) {
    const data = carry.length ? Buffer.concat([carry, chunk as Buffer]) : (chunk as Buffer);
    let from = 0;
    for (let nl = data.indexOf(NL, from); nl !== -1; nl = data.indexOf(NL, from)) {
      yield { number: ++number, bytes: data.subarray(from, nl), terminated: true };
      from = nl + 1;
    }
    carry = Buffer.from(data.subarray(from));
  }
  if (carry.length) yield { number: number + 1, bytes: carry, terminated: false };
}

export interface BackwardLine {
  /** 1 for the last line of the file, 2 for the one before... */
  fromEnd: number;
  bytes: Buffer;
  terminated: boolean;
}

/** Lines of the first `size` bytes of a file, last first, reading fixed-size chunks from the end. */
export async function* readLinesBackward(fh: AuditFileHandle, size: number, chunkSize = 64 * 1024): AsyncGenerator<BackwardLine> {
  if (size === 0) return;
  const last = await readAt(fh, size - 1, 1);
  const lastTerminated = last[0] === NL;
  let pos = lastTerminated ? size - 1 : size;
  let fromEnd = 0;
  const line = (bytes: Buffer): BackwardLine => ({ fromEnd: ++fromEnd, bytes, terminated: fromEnd === 1 ? lastTerminated : true });
  // `tail` holds the end of a line whose start lies before `pos`.
  let tail: Buffer = Buffer.alloc(0);
  while (pos > 0) {
    const len = Math.min(chunkSize, pos);
    pos -= len;
    const data = Buffer.concat([await readAt(fh, pos, len), tail]);
    let end = data.length;
    while (end > 0) {
      const nl = data.lastIndexOf(NL, end - 1);
      if (nl === -1) break;
      yield line(Buffer.from(data.subarray(nl + 1, end)));
      end = nl;
    }
    tail = Buffer.from(data.subarray(0, end));
  }
  yield line(tail);
}

async function readAt(fh: AuditFileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await fh.read(buf, got, length - got, position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return buf.subarray(0, got);
}

/** Number of lines in the first `size` bytes (a last line without newline counts). */
export async function countLines(fh: AuditFileHandle, size: number, chunkSize = 64 * 1024): Promise<number> {
  let count = 0;
  let lastByte = NL;
  for (let pos = 0; pos < size; pos += chunkSize) {
    const data = await readAt(fh, pos, Math.min(chunkSize, size - pos));
    for (let i = data.indexOf(NL); i !== -1; i = data.indexOf(NL, i + 1)) count++;
    if (data.length) lastByte = data[data.length - 1]!;
  }
  return lastByte === NL ? count : count + 1;
}
