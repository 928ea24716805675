import { fdatasyncSync, writeSync } from 'node:fs';
import * as fsp from 'node:fs/promises';

/** The few file-handle operations the sink uses; node's FileHandle satisfies it. */
export interface AuditFileHandle {
  write(buffer: Uint8Array, offset: number, length: number, position: number | null): Promise<{ bytesWritten: number }>;
  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  /** fsync: the directory's entry of a new file. */
  sync(): Promise<void>;
  /**
   * fdatasync: an audit file's appended records. Enough for durability of an append (POSIX: the file
   * size is metadata "needed for a subsequent data retrieval", so it is flushed too), without waiting for
   * a journal commit of timestamps, as PostgreSQL syncs its WAL on Linux.
   */
  datasync(): Promise<void>;
  truncate(length: number): Promise<void>;
  stat(): Promise<{ size: number }>;
  close(): Promise<void>;
}

/**
 * The few `fs/promises` functions the sink uses. Injectable so tests can make a write or an fsync fail
 * (ENOSPC, EIO) and count fsyncs.
 */
export interface AuditFs {
  mkdir(path: string, options: { recursive: true; mode: number }): Promise<unknown>;
  readdir(path: string): Promise<string[]>;
  open(path: string, flags: string, mode?: number): Promise<AuditFileHandle>;
  unlink(path: string): Promise<void>;
}

/**
 * An fdatasync that took less than this is made on the calling thread next time; a slower one sends the
 * next to the thread pool, until one there is fast again.
 */
export const INLINE_DATASYNC_MAX_MS = 2;

/**
 * node's FileHandle, except that writes are made on the calling thread (`writeSync`): an append to an
 * audit file is a copy into the page cache (microseconds), and a thread-pool round trip per record cost
 * more than the copy, twice per call (decision and outcome), in wake-ups and lost time slices on a busy
 * machine.
 *
 * The fdatasync that makes a round durable is made on the calling thread too while the disk answers it
 * fast: on a local SSD it takes 0.1-0.2 ms, and handing it to the thread pool and back cost about as much
 * again in wall time and half as much in CPU, once per round (measured on this project's 2-core machine:
 * 136 µs inline, 229 µs through the pool). A round of a slow disk (a network volume, a disk under another
 * writer) blocks the event loop once, for at most its own length, and the following ones go back to the
 * thread pool, where a slow sync holds only the calls waiting for it.
 */
export function handleOf(fh: fsp.FileHandle, now: () => number = performance.now.bind(performance)): AuditFileHandle {
  let inline = true;
  return {
    write: async (buffer, offset, length, position) => ({ bytesWritten: writeSync(fh.fd, buffer, offset, length, position) }),
    read: (buffer, offset, length, position) => fh.read(buffer, offset, length, position),
    sync: () => fh.sync(),
    datasync: async () => {
      const t0 = now();
      if (inline) fdatasyncSync(fh.fd);
      else await fh.datasync();
      inline = now() - t0 < INLINE_DATASYNC_MAX_MS;
    },
    truncate: (length) => fh.truncate(length),
    stat: () => fh.stat(),
    close: () => fh.close(),
  };
}

export const nodeAuditFs: AuditFs = {
  mkdir: (path, options) => fsp.mkdir(path, options),
  readdir: (path) => fsp.readdir(path),
  open: async (path, flags, mode) => handleOf(await fsp.open(path, flags, mode)),
  unlink: (path) => fsp.unlink(path),
};

/**
 * `audit-<day>.jsonl` (the unnamed chain of logs written before chains had names) or
 * `audit-<day>.<instance>.jsonl`: one hash chain per writing instance, one file per UTC day.
 */
const FILE_RE = /^audit-(\d{4}-\d{2}-\d{2})(?:\.([A-Za-z0-9][A-Za-z0-9._-]*))?\.jsonl$/;

/** Key of the unnamed chain in {@link listAuditChains}. */
export const UNNAMED_CHAIN = '';

export function isAuditFileName(name: string): boolean {
  return FILE_RE.test(name);
}

/** The chain a file belongs to ('' for the unnamed chain), or undefined when it is not an audit file. */
export function chainOfFile(name: string): string | undefined {
  const m = FILE_RE.exec(name);
  return m ? (m[2] ?? UNNAMED_CHAIN) : undefined;
}

/** One file per UTC day and chain; a chain's names sort in chain order. */
export function auditFileName(isoTime: string, chain: string = UNNAMED_CHAIN): string {
  return `audit-${isoTime.slice(0, 10)}${chain ? `.${chain}` : ''}.jsonl`;
}

/** Where a chain's signed checkpoints are kept, beside its records: `audit-checkpoints[.<instance>].jsonl`. */
export function checkpointFileName(chain: string = UNNAMED_CHAIN): string {
  return `audit-checkpoints${chain ? `.${chain}` : ''}.jsonl`;
}

/** The files of one chain of `dir` in chain order. */
export async function listAuditFiles(dir: string, fs: Pick<AuditFs, 'readdir'> = nodeAuditFs, chain: string = UNNAMED_CHAIN): Promise<string[]> {
  return (await fs.readdir(dir)).filter((n) => chainOfFile(n) === chain).sort();
}

/** Every chain of `dir` (instance name, '' for the unnamed chain) with its files in chain order, chains sorted by name. */
export async function listAuditChains(dir: string, fs: Pick<AuditFs, 'readdir'> = nodeAuditFs): Promise<Map<string, string[]>> {
  const chains = new Map<string, string[]>();
  for (const name of (await fs.readdir(dir)).sort()) {
    const chain = chainOfFile(name);
    if (chain === undefined) continue;
    const files = chains.get(chain) ?? [];
    files.push(name);
    chains.set(chain, files);
  }
  return new Map([...chains].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** "ENOSPC: no space left on device, write" — node's message already starts with the code most of the time. */
export function describeOsError(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  const message = err instanceof Error ? err.message : String(e);
  return err?.code && !message.startsWith(err.code) ? `${err.code}: ${message}` : message;
}
