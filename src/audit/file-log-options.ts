import type { AuditFs } from './fs.js';
import type { AuditLockOptions } from './lock.js';

/** Options of the file sink: `openAuditLog` and `FileAuditLog` (file-log.ts). */
export interface OpenAuditLogOptions {
  /**
   * The writing instance: its records carry `instance` and form a hash chain of their own in
   * `audit-<day>.<instance>.jsonl` under the lock `audit.<instance>.lock`, so writers of one directory
   * do not wait for each other. Omitted: the unnamed chain (`audit-<day>.jsonl`, `audit.lock`).
   */
  instance?: string;
  /**
   * Claim a chain of its own instead of naming one: `<prefix>1`, `<prefix>2`... the first whose lock no
   * live process holds, kept for the life of this log (each desktop client starts its own gateway on one
   * config; a crashed one's chain is taken over and continued by the next). With every slot taken, opening
   * fails naming them. Overrides `instance`.
   */
  claim?: { prefix: string; slots?: number };
  /** Injected file system (tests: fail a write or an fsync, count fsyncs). Default: node's fs/promises. */
  fs?: AuditFs;
  /** Where warnings go (torn tail found at open...). Default: process.emitWarning. */
  onWarning?: (message: string) => void;
  /** The cross-process lock on the directory (wait bound, stale bound). */
  lock?: AuditLockOptions;
  /**
   * Keep the directory's lock this long (ms) after a round while no record is queued, instead of
   * releasing it after every round (0, the default: desktop gateways sharing a directory take
   * turns). `serve` keeps it: a busy server then pays one write and one fsync per round, not also
   * the lock's link/unlink and the check for other writers (nobody else can have written while it
   * held the lock). Another process waiting for the directory marks `audit.lock.want`; the holder
   * checks the mark after each round and lets go at once when it is newer than its hold, else keeps
   * the lock until it has been idle this long.
   */
  keepLockMs?: number;
  /** Deferred records ('deferred' durability) are fsync'd at most this long (ms) after they were written. Default 100. */
  deferredSyncMs?: number;
}
