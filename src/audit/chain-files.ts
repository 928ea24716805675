import { join } from 'node:path';
import { GENESIS_HASH } from './chain.js';
import { fileLogUnavailable } from './file-errors.js';
import { type AuditFileHandle, type AuditFs, listAuditFiles } from './fs.js';
import { findChainHead, recoveryEvent, tornLinesWarning } from './tail-recovery.js';
import type { AuditEvent, AuditRecord } from './types.js';

const NL = 0x0a;
const noop = () => {};

/** Writes all of `buf` at the end of the file (a short write continues where it stopped). */
export async function writeAll(fh: AuditFileHandle, buf: Buffer): Promise<void> {
  for (let off = 0; off < buf.length;) {
    const { bytesWritten } = await fh.write(buf, off, buf.length - off, null);
    if (bytesWritten <= 0) throw new Error('write made no progress');
    off += bytesWritten;
  }
}

/** fsync the directory: a new file's directory entry must survive a crash too. */
export async function syncDir(fs: AuditFs, dir: string): Promise<void> {
  const d = await fs.open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close().catch(noop);
  }
}

export interface OpenFile {
  name: string;
  fh: AuditFileHandle;
  size: number;
  /** The file does not end with a newline (torn line, or a record cut just before its newline). */
  needsNewline: boolean;
}

/**
 * The end of one chain on disk: its head, its newest file, and the day file that records are appended to,
 * kept open between rounds. A segment (one day's records of a round) goes out with one write and at most one
 * fdatasync; a failed one is cut off again. The caller serializes the calls (one round at a time, under the
 * chain's lock).
 */
export class ChainFiles {
  /** seq and hash of the last durable record (seq 0 and 64 zeros for an empty log). */
  head = { seq: 0, hash: GENESIS_HASH };
  /** Newest file written: never write to an earlier-named one (clock stepped back), or file order would break the chain. */
  lastFile: string | undefined;
  /** The file written last, open, its size known (to see whether another writer moved the head). */
  current: OpenFile | undefined;
  /** Records written and not yet fsync'd (deferred durability). */
  unsynced = false;
  /** hashes of records whose write failed: if recovery finds one on disk, say so. */
  readonly #failed = new Set<string>();
  readonly #fs: AuditFs;
  readonly #dir: string;
  readonly #chain: string;
  /** Called after a segment was written without its fsync: the sink schedules the sync of deferred records. */
  readonly #onDeferred: () => void;
  readonly #warn: (message: string) => void;

  constructor(fs: AuditFs, dir: string, chain: string, hooks: { onDeferred: () => void; warn: (message: string) => void }) {
    this.#fs = fs;
    this.#dir = dir;
    this.#chain = chain;
    this.#onDeferred = hooks.onDeferred;
    this.#warn = hooks.warn;
  }

  /**
   * Append one day's records of a round with one write, and fdatasync them unless `sync` is false (deferred).
   * Written, the last of them is the chain's head.
   */
  async write(name: string, records: AuditRecord[], sync: boolean): Promise<void> {
    const current = await this.open(name);
    const text = (current.needsNewline ? '\n' : '') + records.map((r) => `${JSON.stringify(r)}\n`).join('');
    const buf = Buffer.from(text, 'utf8');
    const before = current.size;
    try {
      await writeAll(current.fh, buf);
      if (sync) await current.fh.datasync();
    } catch (e) {
      // Cut off whatever part of this round reached the file, so no rejected record stays in the log.
      this.current = undefined;
      try {
        await current.fh.truncate(before);
        await current.fh.datasync();
      } catch {
        // The tail is re-read before the next write and recovered from whatever is there.
      }
      await current.fh.close().catch(noop);
      throw e;
    }
    current.size = before + buf.length;
    current.needsNewline = false;
    // fdatasync covers every earlier write to the file: deferred records are durable with this one.
    this.unsynced = !sync;
    if (!sync) this.#onDeferred();
    const last = records.at(-1)!;
    this.head = { seq: last.seq, hash: last.hash };
    this.lastFile = name;
  }

  /** Records of a failed write: none of them joined the chain (if recovery finds one on disk, it says so). */
  markFailed(records: AuditRecord[]): void {
    for (const r of records) this.#failed.add(r.hash);
  }

  /** Under the lock: did another writer extend the log since this one last wrote or read it? */
  async movedByOthers(): Promise<boolean> {
    const current = this.current;
    // Both at once: one thread-pool round trip instead of two on every round.
    const [names, st] = await Promise.all([listAuditFiles(this.#dir, this.#fs, this.#chain), current?.fh.stat()]);
    const newest = names.at(-1);
    if (newest !== this.lastFile) return true;
    if (newest === undefined) return false;
    if (current?.name !== newest || !st) return true; // nothing open to compare with: re-read
    return st.size !== current.size;
  }

  /** The file `name` open for appending: the current one, or opened (leaving the current one behind). */
  async open(name: string): Promise<OpenFile> {
    if (this.current?.name === name) return this.current;
    if (this.current) {
      const old = this.current;
      this.current = undefined;
      // Deferred records of the previous day's file: durable before it is left behind.
      if (this.unsynced) await old.fh.datasync();
      this.unsynced = false;
      await old.fh.close().catch(noop);
    }
    // 'a+': O_APPEND for writes, readable to check the last byte.
    const fh = await this.#fs.open(join(this.#dir, name), 'a+', 0o600);
    try {
      const { size } = await fh.stat();
      let needsNewline = false;
      if (size > 0) {
        const last = Buffer.alloc(1);
        await fh.read(last, 0, 1, size - 1);
        needsNewline = last[0] !== NL;
      } else {
        await syncDir(this.#fs, this.#dir); // the new file's directory entry must survive a crash too
      }
      this.current = { name, fh, size, needsNewline };
      return this.current;
    } catch (e) {
      await fh.close().catch(noop);
      throw e;
    }
  }

  /**
   * Find the chain head from the end of the log: the last line that is a valid record. Lines after it that
   * are not JSON are torn writes: kept (evidence), and covered by a recovery record that the caller writes
   * first (returned here). A line that is JSON but not a valid record means the log was modified: refuse to
   * extend it.
   */
  async recover(): Promise<AuditEvent | undefined> {
    if (this.current) {
      const old = this.current;
      this.current = undefined;
      // Our deferred records are in it: durable first (an fsync failure surfaces as a failed round).
      if (this.unsynced) await old.fh.datasync();
      this.unsynced = false;
      await old.fh.close().catch(noop);
    }
    const { head, torn, newest } = await findChainHead(this.#fs, this.#dir, this.#chain);
    this.head = head;
    this.lastFile = newest;
    // Keep the newest file open, its size known, for the next round's "moved by others" check.
    if (this.lastFile) await this.open(this.lastFile).catch(noop);
    if (this.#failed.has(head.hash)) {
      this.#warn(`audit log ${this.#dir}: records up to seq ${head.seq} reached the disk although their append failed; the chain continues after them`);
    }
    this.#failed.clear();
    if (!torn.length) return undefined;
    this.#warn(tornLinesWarning(this.#dir, head, torn));
    return recoveryEvent(head, torn);
  }

  /** The sink closes: deferred records synced, then the file closed (either failing is `audit_unavailable`). */
  async close(): Promise<void> {
    const current = this.current;
    this.current = undefined;
    if (current) {
      try {
        // Deferred records still unsynced: durable before the file is closed.
        if (this.unsynced) await current.fh.datasync();
        this.unsynced = false;
        await current.fh.close();
      } catch (e) {
        throw fileLogUnavailable(this.#dir, `cannot close audit log ${join(this.#dir, current.name)}`, e);
      }
    }
  }
}
