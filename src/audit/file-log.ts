import type { Deps } from '../deps.js';
import { GatewayError } from '../errors.js';
import { normalizeEvent } from './chain.js';
import { claimChain, namedChain } from './chain-claim.js';
import { writeCheckpointFile } from './checkpoint-file.js';
import { ChainFiles } from './chain-files.js';
import { fileLogUnavailable } from './file-errors.js';
import type { OpenAuditLogOptions } from './file-log-options.js';
import { type AuditFs, nodeAuditFs } from './fs.js';
import { type AuditLockOptions, DirLock } from './lock.js';
import type { CheckpointingSink, CheckpointMaker, StoredCheckpoint } from './checkpoint.js';
import { type Stamped, sealSegment, stampRound } from './round-records.js';
import { probeWrite } from './write-probe.js';
import type { AuditDurability, AuditEvent, AuditRecord } from './types.js';

// Moved to files of their own; exported here still, where the rest of the code base imports them from.
export { RECOVERY_EVENT_TYPE } from './tail-recovery.js';
export type { TornLine } from './tail-recovery.js';
export type { OpenAuditLogOptions } from './file-log-options.js';

/** How long a holder that let go for a waiting writer stays away: more than a waiter's longest back-off (DirLock). */
const HANDOVER_MS = 30;

interface Pending {
  /** undefined: no record, only wait for the round (init: recover the head under the lock; a deferred sync). */
  event: AuditEvent | undefined;
  /** Written without its own fsync ('deferred'): the round syncs only if something in it needs it. */
  deferred?: boolean;
  /** Run under the lock after the round's records are durable (a checkpoint). */
  task?: () => Promise<void>;
  resolve(record: AuditRecord | undefined): void;
  reject(error: unknown): void;
}

const noop = () => {};

/**
 * Append-only, hash-chained JSON Lines audit log, one file per UTC day. Appends are serialized in call
 * order and group-committed: everything queued while one write+fsync runs goes out in the next round.
 * An append resolves only once its record is fsync'd, and rejects with `audit_unavailable` otherwise;
 * a rejected record never becomes part of the chain (the file is truncated back to where it was).
 *
 * Several processes (each desktop MCP client starts its own gateway) may write the same directory: each
 * round holds the directory's lock file (`audit.lock`, see {@link DirLock}) and, if another writer moved the
 * head since this one last wrote (the newest file is another one, or the current file's size changed),
 * re-reads the tail first. One lock per round, not per record.
 * Use {@link openAuditLog} to create one.
 */
export class FileAuditLog implements CheckpointingSink {
  readonly dir: string;
  /** Warnings raised so far (torn lines found and recovered...). */
  readonly warnings: string[] = [];
  readonly #fs: AuditFs;
  readonly #now: () => number;
  readonly #onWarning: (message: string) => void;
  /** The chain's end on disk: head, newest file, the day file open for appending, deferred records awaiting their fsync. */
  #files: ChainFiles;
  /** Re-read the tail before the next write: set at open and after any failed write. */
  #needsRecovery = true;
  #lock: DirLock;
  #chain: string;
  readonly #lockOptions: AuditLockOptions | undefined;
  readonly #claim: { prefix: string; slots: number } | undefined;
  #queue: Pending[] = [];
  #running: Promise<void> | undefined;
  #closed = false;
  #keepLockMs: number;
  readonly #deferredSyncMs: number;
  /** The timer that will sync records written and not yet fsync'd (deferred durability). */
  #syncTimer: NodeJS.Timeout | undefined;
  /** The lock was held without a break since this writer's last round: nobody else can have written. */
  #lockKept = false;
  #releaseTimer: NodeJS.Timeout | undefined;

  constructor(dir: string, deps: Pick<Deps, 'now'>, options: OpenAuditLogOptions = {}) {
    this.dir = dir;
    this.#fs = options.fs ?? nodeAuditFs;
    this.#now = deps.now;
    this.#onWarning = options.onWarning ?? ((m) => process.emitWarning(m, 'AuditLogWarning'));
    this.#chain = namedChain(options.instance, options.claim);
    this.#files = this.#chainFiles();
    this.#lockOptions = options.lock;
    this.#claim = options.claim ? { prefix: options.claim.prefix, slots: options.claim.slots ?? 256 } : undefined;
    this.#lock = new DirLock(dir, options.lock, this.#chain);
    this.#keepLockMs = options.keepLockMs ?? 0;
    this.#deferredSyncMs = options.deferredSyncMs ?? 100;
  }

  /** Path of the directory's lock file. */
  get lockFile(): string {
    return this.#lock.path;
  }

  /** Whether this log claimed its chain for its life (no other live process writes it). */
  get claimed(): boolean {
    return this.#keepLockMs === Infinity;
  }

  /** The instance this log writes as (its chain's name); undefined for the unnamed chain. */
  get instance(): string | undefined {
    return this.#chain || undefined;
  }

  /** seq and hash of the last durable record (seq 0 and 64 zeros for an empty log). */
  get head(): { seq: number; hash: string } {
    return { ...this.#files.head };
  }

  /** Create the directory, recover the chain head from the tail of the last file. Called by openAuditLog. */
  async init(): Promise<void> {
    try {
      await this.#fs.mkdir(this.dir, { recursive: true, mode: 0o700 });
    } catch (e) {
      throw this.#unavailable(`cannot create audit log directory ${this.dir}`, e);
    }
    if (this.#claim) await this.#claimChain(this.#claim);
    // Recover the head under the lock (another process may be mid-write), writing the recovery record if any.
    this.#needsRecovery = true;
    await this.#emptyRound();
  }

  /** Take the first free slot's lock and keep it. */
  async #claimChain(claim: { prefix: string; slots: number }): Promise<void> {
    const { lock, chain } = await claimChain(this.dir, this.#lockOptions, claim);
    await this.#lock.close();
    this.#lock = lock;
    this.#chain = chain;
    this.#files = this.#chainFiles(); // nothing was read or written yet: no state to carry over
    // Kept for life: nobody else writes this chain while this process lives.
    this.#keepLockMs = Infinity;
  }

  /** The chain's files, calling back to sync deferred records and to warn. */
  #chainFiles(): ChainFiles {
    return new ChainFiles(this.#fs, this.dir, this.#chain, { onDeferred: () => this.#scheduleSync(), warn: (m) => this.#warn(m) });
  }

  /** A round with no record of its own: takes the lock, re-reads the tail if needed, syncs what is pending. */
  #emptyRound(): Promise<AuditRecord | undefined> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ event: undefined, resolve, reject });
      this.#kick();
    });
  }

  append(event: AuditEvent, options: { durability?: AuditDurability } = {}): Promise<AuditRecord> {
    if (this.#closed) return Promise.reject(new GatewayError('audit_unavailable', `audit log ${this.dir} is closed`));
    let normalized: AuditEvent;
    try {
      normalized = normalizeEvent(event);
    } catch (e) {
      return Promise.reject(new GatewayError('internal', (e as Error).message, { cause: e }));
    }
    return this.#enqueue(normalized, options.durability === 'deferred');
  }

  /**
   * Readiness: writes, fsyncs and removes a 4 KiB probe file in the directory (a full disk fails the
   * write with ENOSPC, a read-only one the open with EROFS, a failing device the fsync with EIO), then
   * runs an empty round under the directory's lock (the lock, and re-reading the tail after a failed
   * round). A disk that filled up and was freed is ready again without a call having to succeed first.
   */
  async check(): Promise<string | undefined> {
    if (this.#closed) return `audit log ${this.dir} is closed`;
    const unwritable = await probeWrite(this.#fs, this.dir);
    if (unwritable !== undefined) return unwritable;
    try {
      await this.#emptyRound();
    } catch (e) {
      return e instanceof Error ? e.message : String(e);
    }
    return undefined;
  }

  /** Waits for queued appends, then closes the file. Later appends reject. */
  async close(): Promise<void> {
    this.#closed = true;
    while (this.#running) await this.#running;
    clearTimeout(this.#syncTimer);
    try {
      await this.#files.close();
    } finally {
      await this.#releaseLock();
      await this.#lock.close();
    }
  }

  #enqueue(event: AuditEvent, deferred: boolean): Promise<AuditRecord> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ event, ...(deferred ? { deferred } : {}), resolve: resolve as (r: AuditRecord | undefined) => void, reject });
      this.#kick();
    });
  }

  /** Deferred records are waiting: a round with no record of its own syncs them within deferredSyncMs. */
  #scheduleSync(): void {
    if (this.#syncTimer || this.#closed) return;
    this.#syncTimer = setTimeout(() => {
      this.#syncTimer = undefined;
      if (!this.#files.unsynced) return;
      this.#queue.push({
        event: undefined,
        resolve: noop,
        reject: (e) => this.#warn(`audit log ${this.dir}: deferred records not synced: ${(e as Error).message}`),
      });
      this.#kick();
    }, this.#deferredSyncMs);
    this.#syncTimer.unref();
  }

  #kick(): void {
    if (this.#running) return;
    this.#running = this.#drain().finally(() => {
      this.#running = undefined;
      if (this.#queue.length) this.#kick();
    });
  }

  async #drain(): Promise<void> {
    // Let a synchronous burst of appends join the first round. A round of deferred records only (a call's
    // outcome, queued as its result goes back to the client) starts after this turn of the event loop:
    // nothing waits for it, and sealed and written in a microtask it went ahead of the result's write.
    if (this.#queue.every((p) => p.deferred)) await new Promise((r) => setImmediate(r));
    else await Promise.resolve();
    while (this.#queue.length) {
      clearTimeout(this.#releaseTimer);
      this.#releaseTimer = undefined;
      if (!this.#lock.held) {
        this.#lockKept = false;
        try {
          await this.#lock.acquire();
        } catch (e) {
          const err = this.#unavailable(`cannot lock audit log ${this.dir}`, e);
          for (const p of this.#queue.splice(0)) p.reject(err);
          return;
        }
      }
      // Taken after the lock: whatever queued while waiting for it joins this round. Released after
      // every round (keepLockMs 0), its promises settle once the lock is, so a resolved append also
      // means this writer holds no lock; kept, they settle at once.
      const settle: (() => void)[] = [];
      const round = this.#queue.splice(0).map((p): Pending => ({
        event: p.event,
        ...(p.deferred ? { deferred: true } : {}),
        ...(p.task ? { task: p.task } : {}),
        resolve: (r) => settle.push(() => p.resolve(r)),
        reject: (e) => settle.push(() => p.reject(e)),
      }));
      try {
        await this.#commit(round);
        this.#lockKept = true;
      } finally {
        if (this.#keepLockMs > 0 && !this.#closed) {
          for (const f of settle) f();
          // Another writer asked for the directory while this one held it: hand it over after this round
          // (waiters mark audit.lock.want), so a busy holder cannot starve a process that shares the directory.
          if (this.#lock.wanted()) {
            await this.#releaseLock();
            // Let the waiter in: it sleeps up to 25 ms between tries, and a busy holder re-taking the lock
            // at once would win every time. Only when someone waits.
            await new Promise((r) => setTimeout(r, HANDOVER_MS));
          } else if (this.#queue.length === 0 && this.#keepLockMs !== Infinity) {
            // Idle: let go, unless a round started meanwhile (it re-arms this timer when it ends).
            this.#releaseTimer = setTimeout(() => void (this.#running ? undefined : this.#releaseLock()), this.#keepLockMs);
            this.#releaseTimer.unref();
          }
        } else {
          await this.#releaseLock();
          for (const f of settle) f();
        }
      }
    }
  }

  async #releaseLock(): Promise<void> {
    clearTimeout(this.#releaseTimer);
    this.#releaseTimer = undefined;
    this.#lockKept = false;
    const warning = await this.#lock.release();
    if (warning) this.#warn(warning);
  }

  /** One group-commit round: seal in call order, write each day's records with one write, one fsync. */
  async #commit(all: Pending[]): Promise<void> {
    const batch = all.filter((p) => p.event);
    const waiters = all.filter((p) => !p.event);
    let stamped: Stamped<Pending>[];
    try {
      if (this.#needsRecovery || (!this.#lockKept && (await this.#files.movedByOthers()))) {
        const recovery = await this.#files.recover();
        this.#needsRecovery = false;
        if (recovery) batch.unshift({ event: recovery, resolve: noop, reject: noop });
      }
      stamped = stampRound(batch, this.#now, this.#chain, this.#files.lastFile);
    } catch (e) {
      this.#needsRecovery = true;
      const err = this.#unavailable(`cannot prepare audit log ${this.dir}`, e);
      for (const p of all) p.reject(err);
      return;
    }

    // One fsync per round, unless every record in it is deferred (then a later round, or the
    // deferred-sync timer, makes them durable); a round of waiters only syncs what is pending.
    const sync = stamped.some((s) => !s.p.deferred) || (stamped.length === 0 && this.#files.unsynced);
    if (stamped.length === 0 && sync) {
      try {
        await this.#files.current?.fh.datasync();
        this.#files.unsynced = false;
      } catch (e) {
        this.#needsRecovery = true;
        const err = this.#unavailable(`cannot sync audit log in ${this.dir}`, e);
        for (const p of waiters) p.reject(err);
        return;
      }
    }
    for (let i = 0; i < stamped.length;) {
      const file = stamped[i]!.file;
      let j = i;
      while (j < stamped.length && stamped[j]!.file === file) j++;
      const segment = stamped.slice(i, j);
      const records = sealSegment(segment, this.#files.head, this.#chain);
      try {
        await this.#files.write(file, records, sync);
      } catch (e) {
        // Nothing of this round joins the chain; the next round re-reads the tail first.
        this.#needsRecovery = true;
        this.#files.markFailed(records);
        const err = this.#unavailable(`cannot write audit log in ${this.dir} (${file})`, e);
        for (const s of stamped.slice(i)) s.p.reject(err);
        for (const p of waiters) p.reject(err);
        return;
      }
      segment.forEach((s, k) => s.p.resolve(records[k]!));
      i = j;
    }
    for (const p of waiters) {
      if (!p.task) {
        p.resolve(undefined);
        continue;
      }
      try {
        // What the task may sign must be durable first (deferred records included).
        if (this.#files.unsynced) await this.#files.current?.fh.datasync();
        this.#files.unsynced = false;
        await p.task();
        p.resolve(undefined);
      } catch (e) {
        p.reject(this.#unavailable(`cannot write an audit checkpoint in ${this.dir}`, e));
      }
    }
  }

  /** See {@link CheckpointingSink.checkpoint}: stored in `audit-checkpoints[.<instance>].jsonl`, fdatasync'd. */
  checkpoint(make: CheckpointMaker): Promise<StoredCheckpoint | undefined> {
    if (this.#closed) return Promise.reject(new GatewayError('audit_unavailable', `audit log ${this.dir} is closed`));
    let stored: StoredCheckpoint | undefined;
    return new Promise((resolve, reject) => {
      this.#queue.push({
        event: undefined,
        task: async () => {
          stored = await writeCheckpointFile(this.#fs, this.dir, this.#chain, () => this.head, make);
        },
        resolve: () => resolve(stored),
        reject,
      });
      this.#kick();
    });
  }

  #warn(message: string): void {
    this.warnings.push(message);
    this.#onWarning(message);
  }

  #unavailable(message: string, e: unknown): GatewayError {
    return fileLogUnavailable(this.dir, message, e);
  }
}

/** Open (creating if needed, mode 0700) the audit log in `dir`; the chain continues from its last valid record. */
export async function openAuditLog(dir: string, deps: Pick<Deps, 'now'>, options: OpenAuditLogOptions = {}): Promise<FileAuditLog> {
  const log = new FileAuditLog(dir, deps, options);
  await log.init();
  return log;
}
