import { createHash, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { Deps } from '../deps.js';
import { GatewayError } from '../errors.js';
import { INSTANCE_RE } from '../config/schema.js';
import { GENESIS_HASH, checkRecord, normalizeEvent, sealRecord } from './chain.js';
import { type AuditFileHandle, type AuditFs, UNNAMED_CHAIN, auditFileName, checkpointFileName, describeOsError, listAuditFiles, nodeAuditFs } from './fs.js';
import { countLines, readLinesBackward } from './lines.js';
import { type AuditLockOptions, DirLock } from './lock.js';
import { readCheckpoint, type CheckpointingSink, type CheckpointMaker, type StoredCheckpoint } from './checkpoint.js';
import { parseLine } from './source.js';
import type { AuditDurability, AuditEvent, AuditRecord } from './types.js';

/** `type` of the record the sink writes itself after finding torn lines left by an interrupted write. */
export const RECOVERY_EVENT_TYPE = 'audit_recovery';

/** A line that is not JSON, found after the last valid record: the tail of an interrupted write. */
export interface TornLine {
  file: string;
  line: number;
  bytes: number;
  /** hex SHA-256 of the raw bytes of the line, so the recovery record names exactly what it covers. */
  sha256: string;
}

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

/** How long a holder that let go for a waiting writer stays away: more than a waiter's longest back-off (DirLock). */
const HANDOVER_MS = 30;

/** Writes all of `buf` at the end of the file (a short write continues where it stopped). */
async function writeAll(fh: AuditFileHandle, buf: Buffer): Promise<void> {
  for (let off = 0; off < buf.length;) {
    const { bytesWritten } = await fh.write(buf, off, buf.length - off, null);
    if (bytesWritten <= 0) throw new Error('write made no progress');
    off += bytesWritten;
  }
}

/** More unreadable lines than this after the last valid record is not a crash: refuse to guess. */
const MAX_TORN_LINES = 8;
const NL = 0x0a;

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

interface OpenFile {
  name: string;
  fh: AuditFileHandle;
  size: number;
  /** The file does not end with a newline (torn line, or a record cut just before its newline). */
  needsNewline: boolean;
}

const noop = () => {};
/** A directory with a day file's name holds no records: the scan skips it, and writing there fails naming it. */
const isDir = (e: unknown) => (e as NodeJS.ErrnoException)?.code === 'EISDIR';

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
  #head = { seq: 0, hash: GENESIS_HASH };
  /** Newest file written: never write to an earlier-named one (clock stepped back), or file order would break the chain. */
  #lastFile: string | undefined;
  #current: OpenFile | undefined;
  /** Re-read the tail before the next write: set at open and after any failed write. */
  #needsRecovery = true;
  /** hashes of records whose write failed: if recovery finds one on disk, say so. */
  #failed = new Set<string>();
  #lock: DirLock;
  #chain: string;
  readonly #lockOptions: AuditLockOptions | undefined;
  readonly #claim: { prefix: string; slots: number } | undefined;
  #queue: Pending[] = [];
  #running: Promise<void> | undefined;
  #closed = false;
  #keepLockMs: number;
  readonly #deferredSyncMs: number;
  /** Records written and not yet fsync'd (deferred durability), and the timer that will sync them. */
  #unsynced = false;
  #syncTimer: NodeJS.Timeout | undefined;
  /** The lock was held without a break since this writer's last round: nobody else can have written. */
  #lockKept = false;
  #releaseTimer: NodeJS.Timeout | undefined;

  constructor(dir: string, deps: Pick<Deps, 'now'>, options: OpenAuditLogOptions = {}) {
    this.dir = dir;
    this.#fs = options.fs ?? nodeAuditFs;
    this.#now = deps.now;
    this.#onWarning = options.onWarning ?? ((m) => process.emitWarning(m, 'AuditLogWarning'));
    const instance = options.claim ? undefined : options.instance;
    if (instance !== undefined && !INSTANCE_RE.test(instance)) {
      throw new GatewayError(
        'config_invalid',
        `audit instance "${instance}" is not a valid name: 1-100 letters, digits, ".", "_" or "-", starting with a letter or digit (it names files)`,
      );
    }
    if (options.claim && !INSTANCE_RE.test(`${options.claim.prefix}1`)) {
      throw new GatewayError('config_invalid', `audit chain prefix "${options.claim.prefix}" does not make valid instance names`);
    }
    this.#chain = instance ?? UNNAMED_CHAIN;
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
    return { ...this.#head };
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
  async #claimChain({ prefix, slots }: { prefix: string; slots: number }): Promise<void> {
    for (let k = 1; k <= slots; k++) {
      const lock = new DirLock(this.dir, this.#lockOptions, `${prefix}${k}`);
      let taken: boolean;
      try {
        taken = await lock.tryAcquire();
      } catch (e) {
        throw this.#unavailable(`cannot lock audit log ${this.dir}`, e);
      }
      if (taken) {
        await this.#lock.close();
        this.#lock = lock;
        this.#chain = `${prefix}${k}`;
        // Kept for life: nobody else writes this chain while this process lives.
        this.#keepLockMs = Infinity;
        return;
      }
      await lock.close();
    }
    throw new GatewayError(
      'audit_unavailable',
      `audit log ${this.dir}: all ${slots} chains ${prefix}1..${prefix}${slots} are held by live processes; stop one of them (or give this one an audit directory of its own)`,
      { details: { dir: this.dir } },
    );
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
    const probe = join(this.dir, `.write-probe.${process.pid}`);
    try {
      const fh = await this.#fs.open(probe, 'w', 0o600);
      try {
        await writeAll(fh, Buffer.alloc(4096));
        await fh.datasync();
      } finally {
        await fh.close().catch(noop);
        await this.#fs.unlink(probe).catch(noop);
      }
    } catch (e) {
      return `cannot write in ${this.dir}: ${describeOsError(e)}`;
    }
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
    const current = this.#current;
    this.#current = undefined;
    try {
      if (current) {
        try {
          // Deferred records still unsynced: durable before the file is closed.
          if (this.#unsynced) await current.fh.datasync();
          this.#unsynced = false;
          await current.fh.close();
        } catch (e) {
          throw this.#unavailable(`cannot close audit log ${join(this.dir, current.name)}`, e);
        }
      }
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
      if (!this.#unsynced) return;
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
    // Let a synchronous burst of appends join the first round.
    await Promise.resolve();
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
          if (await this.#lock.wanted()) {
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

  /** Under the lock: did another writer extend the log since this one last wrote or read it? */
  async #movedByOthers(): Promise<boolean> {
    const current = this.#current;
    // Both at once: one thread-pool round trip instead of two on every round.
    const [names, st] = await Promise.all([listAuditFiles(this.dir, this.#fs, this.#chain), current?.fh.stat()]);
    const newest = names.at(-1);
    if (newest !== this.#lastFile) return true;
    if (newest === undefined) return false;
    if (current?.name !== newest || !st) return true; // nothing open to compare with: re-read
    return st.size !== current.size;
  }

  /** One group-commit round: seal in call order, write each day's records with one write, one fsync. */
  async #commit(all: Pending[]): Promise<void> {
    const batch = all.filter((p) => p.event);
    const waiters = all.filter((p) => !p.event);
    let stamped: { p: Pending; time: string; file: string }[];
    try {
      if (this.#needsRecovery || (!this.#lockKept && (await this.#movedByOthers()))) {
        const recovery = await this.#recover();
        this.#needsRecovery = false;
        if (recovery) batch.unshift({ event: recovery, resolve: noop, reject: noop });
      }
      let file = this.#lastFile;
      stamped = batch.map((p) => {
        const time = new Date(this.#now()).toISOString();
        const day = auditFileName(time, this.#chain);
        file = file !== undefined && file > day ? file : day;
        return { p, time, file };
      });
    } catch (e) {
      this.#needsRecovery = true;
      const err = this.#unavailable(`cannot prepare audit log ${this.dir}`, e);
      for (const p of all) p.reject(err);
      return;
    }

    // One fsync per round, unless every record in it is deferred (then a later round, or the
    // deferred-sync timer, makes them durable); a round of waiters only syncs what is pending.
    const sync = stamped.some((s) => !s.p.deferred) || (stamped.length === 0 && this.#unsynced);
    if (stamped.length === 0 && sync) {
      try {
        await this.#current?.fh.datasync();
        this.#unsynced = false;
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
      let { seq, hash } = this.#head;
      const records = segment.map((s) => {
        const record = sealRecord(s.p.event!, {
          time: s.time,
          id: randomUUID(),
          seq: ++seq,
          prevHash: hash,
          ...(this.#chain ? { instance: this.#chain } : {}),
        });
        hash = record.hash;
        return record;
      });
      try {
        await this.#writeSegment(file, records, sync);
      } catch (e) {
        // Nothing of this round joins the chain; the next round re-reads the tail first.
        this.#needsRecovery = true;
        for (const r of records) this.#failed.add(r.hash);
        const err = this.#unavailable(`cannot write audit log in ${this.dir} (${file})`, e);
        for (const s of stamped.slice(i)) s.p.reject(err);
        for (const p of waiters) p.reject(err);
        return;
      }
      this.#head = { seq, hash };
      this.#lastFile = file;
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
        if (this.#unsynced) await this.#current?.fh.datasync();
        this.#unsynced = false;
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
          stored = await this.#writeCheckpoint(make);
        },
        resolve: () => resolve(stored),
        reject,
      });
      this.#kick();
    });
  }

  async #writeCheckpoint(make: CheckpointMaker): Promise<StoredCheckpoint | undefined> {
    const path = join(this.dir, checkpointFileName(this.#chain));
    let last: StoredCheckpoint | undefined;
    let endsWithNewline = true;
    let existed = true;
    try {
      const fh = await this.#fs.open(path, 'r');
      try {
        const { size } = await fh.stat();
        for await (const line of readLinesBackward(fh, size)) {
          if (line.fromEnd === 1) endsWithNewline = line.terminated;
          last = readCheckpoint(String((parseLine(line.bytes) as { checkpoint?: unknown } | undefined)?.checkpoint ?? ''));
          if (last) break; // a torn last line (crash mid-append) is not a checkpoint
        }
      } finally {
        await fh.close().catch(noop);
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      existed = false;
    }
    const cp = await make(this.head, last);
    if (!cp) return undefined;
    const fh = await this.#fs.open(path, 'a', 0o600);
    try {
      const text = `${endsWithNewline ? '' : '\n'}${JSON.stringify({ n: cp.claims.n, seq: cp.claims.seq, time: cp.claims.time, checkpoint: cp.jws })}\n`;
      await writeAll(fh, Buffer.from(text, 'utf8'));
      await fh.datasync();
    } finally {
      await fh.close().catch(noop);
    }
    if (!existed) await this.#syncDir();
    return cp;
  }

  async #writeSegment(name: string, records: AuditRecord[], sync: boolean): Promise<void> {
    const current = await this.#fileFor(name);
    const text = (current.needsNewline ? '\n' : '') + records.map((r) => `${JSON.stringify(r)}\n`).join('');
    const buf = Buffer.from(text, 'utf8');
    const before = current.size;
    try {
      await writeAll(current.fh, buf);
      if (sync) await current.fh.datasync();
    } catch (e) {
      // Cut off whatever part of this round reached the file, so no rejected record stays in the log.
      this.#current = undefined;
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
    this.#unsynced = !sync;
    if (!sync) this.#scheduleSync();
  }

  async #fileFor(name: string): Promise<OpenFile> {
    if (this.#current?.name === name) return this.#current;
    if (this.#current) {
      const old = this.#current;
      this.#current = undefined;
      // Deferred records of the previous day's file: durable before it is left behind.
      if (this.#unsynced) await old.fh.datasync();
      this.#unsynced = false;
      await old.fh.close().catch(noop);
    }
    // 'a+': O_APPEND for writes, readable to check the last byte.
    const fh = await this.#fs.open(join(this.dir, name), 'a+', 0o600);
    try {
      const { size } = await fh.stat();
      let needsNewline = false;
      if (size > 0) {
        const last = Buffer.alloc(1);
        await fh.read(last, 0, 1, size - 1);
        needsNewline = last[0] !== NL;
      } else {
        await this.#syncDir(); // the new file's directory entry must survive a crash too
      }
      this.#current = { name, fh, size, needsNewline };
      return this.#current;
    } catch (e) {
      await fh.close().catch(noop);
      throw e;
    }
  }

  async #syncDir(): Promise<void> {
    const d = await this.#fs.open(this.dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close().catch(noop);
    }
  }

  /**
   * Find the chain head from the end of the log: the last line that is a valid record. Lines after it that
   * are not JSON are torn writes: kept (evidence), and covered by a recovery record that the caller writes
   * first. A line that is JSON but not a valid record means the log was modified: refuse to extend it.
   */
  async #recover(): Promise<AuditEvent | undefined> {
    if (this.#current) {
      const old = this.#current;
      this.#current = undefined;
      // Our deferred records are in it: durable first (an fsync failure surfaces as a failed round).
      if (this.#unsynced) await old.fh.datasync();
      this.#unsynced = false;
      await old.fh.close().catch(noop);
    }
    let names: string[];
    try {
      names = await listAuditFiles(this.dir, this.#fs, this.#chain);
    } catch (e) {
      throw this.#unavailable(`cannot read audit log directory ${this.dir}`, e);
    }
    let head = { seq: 0, hash: GENESIS_HASH };
    const torn: TornLine[] = [];
    for (let i = names.length - 1; i >= 0; i--) {
      const name = names[i]!;
      const found = await this.#scanTail(name, torn);
      if (found) {
        head = found;
        break;
      }
    }
    torn.reverse();
    this.#head = head;
    this.#lastFile = names.at(-1);
    // Keep the newest file open, its size known, for the next round's "moved by others" check.
    if (this.#lastFile) await this.#fileFor(this.#lastFile).catch(noop);
    if (this.#failed.has(head.hash)) {
      this.#warn(`audit log ${this.dir}: records up to seq ${head.seq} reached the disk although their append failed; the chain continues after them`);
    }
    this.#failed.clear();
    if (!torn.length) return undefined;
    const where = torn.map((t) => `${t.file}:${t.line} (${t.bytes} bytes)`).join(', ');
    this.#warn(
      `audit log ${this.dir}: torn line ${where} left by an interrupted write; kept as evidence, the chain continues ` +
        `from seq ${head.seq} on a fresh line after a recovery record`,
    );
    return {
      type: RECOVERY_EVENT_TYPE,
      phase: 'outcome',
      traceId: randomUUID(),
      reason: 'interrupted write: torn lines kept as evidence; the chain continues from the last valid record',
      recovered: { afterSeq: head.seq, torn },
    };
  }

  /** Scan one file from its end; push torn lines (newest first) and return the last valid record's head. */
  async #scanTail(name: string, torn: TornLine[]): Promise<{ seq: number; hash: string } | undefined> {
    const path = join(this.dir, name);
    let fh: AuditFileHandle;
    try {
      fh = await this.#fs.open(path, 'r');
    } catch (e) {
      if (isDir(e)) return undefined;
      throw this.#unavailable(`cannot read audit log ${path}`, e);
    }
    try {
      const { size } = await fh.stat();
      const fileTorn: { fromEnd: number; bytes: Buffer }[] = [];
      let head: { seq: number; hash: string } | undefined;
      for await (const line of readLinesBackward(fh, size)) {
        let parsed: unknown;
        try {
          parsed = JSON.parse(line.bytes.toString('utf8'));
        } catch {
          fileTorn.push({ fromEnd: line.fromEnd, bytes: line.bytes });
          if (torn.length + fileTorn.length > MAX_TORN_LINES) {
            throw new GatewayError(
              'audit_unavailable',
              `audit log ${this.dir}: more than ${MAX_TORN_LINES} unreadable lines at the end of ${name}; this is not an interrupted write — run "xaa-gateway audit verify"`,
            );
          }
          continue;
        }
        const check = checkRecord(parsed);
        if (!check.ok) {
          const lineNo = (await countLines(fh, size)) - line.fromEnd + 1;
          throw new GatewayError(
            'audit_unavailable',
            `audit log ${this.dir}: ${name}:${lineNo} is not a valid record (${check.reason}); refusing to extend a chain that may have been modified — run "xaa-gateway audit verify"`,
          );
        }
        head = { seq: check.record.seq, hash: check.record.hash };
        break;
      }
      if (fileTorn.length) {
        const total = await countLines(fh, size);
        for (const t of fileTorn) {
          torn.push({
            file: name,
            line: total - t.fromEnd + 1,
            bytes: t.bytes.length,
            sha256: createHash('sha256').update(t.bytes).digest('hex'),
          });
        }
      }
      return head;
    } catch (e) {
      if (isDir(e)) return undefined;
      throw this.#unavailable(`cannot read audit log ${path}`, e);
    } finally {
      await fh.close().catch(noop);
    }
  }

  #warn(message: string): void {
    this.warnings.push(message);
    this.#onWarning(message);
  }

  #unavailable(message: string, e: unknown): GatewayError {
    if (e instanceof GatewayError) return e;
    const osError = (e as NodeJS.ErrnoException)?.code;
    return new GatewayError('audit_unavailable', `${message}: ${describeOsError(e)}`, {
      cause: e,
      details: { dir: this.dir, ...(osError ? { osError } : {}) },
    });
  }
}

/** Open (creating if needed, mode 0700) the audit log in `dir`; the chain continues from its last valid record. */
export async function openAuditLog(dir: string, deps: Pick<Deps, 'now'>, options: OpenAuditLogOptions = {}): Promise<FileAuditLog> {
  const log = new FileAuditLog(dir, deps, options);
  await log.init();
  return log;
}
