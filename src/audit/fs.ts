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

export const nodeAuditFs: AuditFs = {
  mkdir: (path, options) => fsp.mkdir(path, options),
  readdir: (path) => fsp.readdir(path),
  open: (path, flags, mode) => fsp.open(path, flags, mode),
  unlink: (path) => fsp.unlink(path),
};

const FILE_RE = /^audit-\d{4}-\d{2}-\d{2}\.jsonl$/;

export function isAuditFileName(name: string): boolean {
  return FILE_RE.test(name);
}

/** One file per UTC day; names sort in chain order. */
export function auditFileName(isoTime: string): string {
  return `audit-${isoTime.slice(0, 10)}.jsonl`;
}

/** Audit files of `dir` in chain order. */
export async function listAuditFiles(dir: string, fs: Pick<AuditFs, 'readdir'> = nodeAuditFs): Promise<string[]> {
  return (await fs.readdir(dir)).filter(isAuditFileName).sort();
}

/** "ENOSPC: no space left on device, write" — node's message already starts with the code most of the time. */
export function describeOsError(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  const message = err instanceof Error ? err.message : String(e);
  return err?.code && !message.startsWith(err.code) ? `${err.code}: ${message}` : message;
}
