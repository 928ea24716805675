import { randomUUID } from 'node:crypto';
import { statSync, unlinkSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { GatewayError } from '../errors.js';
import { describeOsError } from './fs.js';

/** Name of the lock file of the unnamed chain; a named chain's is `audit.<instance>.lock`. */
export const LOCK_FILE = 'audit.lock';

/** The lock file of a chain ('' for the unnamed chain). */
export function lockFileName(chain: string): string {
  return chain ? `audit.${chain}.lock` : LOCK_FILE;
}

export interface AuditLockOptions {
  /** Longest wait for the lock; then the append rejects with `audit_unavailable` (fail closed). Default 5000. */
  timeoutMs?: number;
  /**
   * A lock whose file was not touched for this long is stale: its holder crashed on another host, or its pid
   * was reused. The holder touches the file every staleMs/3 while it holds it, so only a wedged process can
   * lose it. A holder on this host whose pid is gone is stale at once. Default 30000.
   */
  staleMs?: number;
  /** Wall clock compared with the lock file's mtime. Default Date.now. */
  now?: () => number;
}

/** What a lock file says about its holder: `{"pid":123,"host":"h","id":"uuid"}`. */
interface Holder {
  pid?: number;
  host?: string;
  id?: string;
  /** ms since the file was created or last touched. */
  ageMs: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by another user
  }
}

/**
 * A waiter's mark (`<lock file>.want`): touched by every writer that found the lock taken, read by a holder
 * that keeps the lock between rounds (keepLockMs), which lets go after its round when the mark is newer
 * than its hold.
 */
const WANT_SUFFIX = '.want';
/** A mark this much older than the hold still counts (clocks of processes sharing a network file system). */
const WANT_SLACK_MS = 1000;
/**
 * A holder looks for the mark at most this often: a stat in the thread pool, on every round of a busy
 * holder otherwise, for a waiter that is rare since each instance writes a chain of its own (two live
 * writers of one chain: two instances given one name, or a CLI). A waiter's back-off is up to 25 ms anyway.
 */
const WANT_CHECK_MS = 25;

/** Per-instance token files: `<lock file>.<pid>.<id>`. */
const TOKEN_RE = /^audit\.(?:[A-Za-z0-9._-]+\.)?lock\.\d+\.[0-9a-f]{8}-[0-9a-f-]+$/;

/**
 * Exclusive lock on an audit directory across processes, held for one group-commit round at a time.
 *
 * The lock file `audit.lock` names its holder: `{"pid","host","id"}`. To take it, an instance hard-links its
 * own token file (written once, `audit.lock.<pid>.<id>`) to `audit.lock`: link() is atomic and fails with
 * EEXIST like O_EXCL, the content is complete the moment the name exists, and a round costs two syscalls
 * (link, unlink). Where hard links are not available (Windows, FAT) the lock file is created with O_EXCL
 * and written instead.
 *
 * A lock is stale when its holder is on this host and its pid is gone, or when the file was not touched
 * for staleMs (the holder touches it every staleMs/3 while it holds it). Taking over a stale lock goes
 * through a second O_EXCL file (`audit.lock.break`), so two waiters never both remove it and both believe
 * they hold the lock.
 */
export class DirLock {
  readonly path: string;
  readonly #dir: string;
  readonly #timeoutMs: number;
  readonly #staleMs: number;
  readonly #now: () => number;
  readonly #host = hostname();
  readonly #content: string;
  readonly #id = randomUUID();
  readonly #token: string;
  /** 'link' until link() turns out not to work here, then 'create'. */
  #mode: 'link' | 'create' = process.platform === 'win32' ? 'create' : 'link';
  #tokenReady = false;
  #held = false;
  /** When this instance took the lock, and last looked for a waiter's mark (its clock). */
  #heldSince = 0;
  #wantCheckedAt = 0;
  readonly #wantPath: string;
  #refresh: NodeJS.Timeout | undefined;
  readonly #onExit = () => {
    // The process is exiting mid-round (process.exit): do not leave the lock to the stale check.
    if (this.#held) {
      try {
        unlinkSync(this.path);
      } catch {
        // stale detection covers it
      }
    }
  };

  /** `chain`: the lock of that chain's files ('' for the unnamed chain: `audit.lock`). */
  constructor(dir: string, options: AuditLockOptions = {}, chain = '') {
    this.#dir = dir;
    this.path = join(dir, lockFileName(chain));
    this.#timeoutMs = options.timeoutMs ?? 5000;
    this.#staleMs = options.staleMs ?? 30_000;
    this.#now = options.now ?? (() => Date.now());
    this.#content = JSON.stringify({ pid: process.pid, host: this.#host, id: this.#id });
    this.#token = `${this.path}.${process.pid}.${this.#id}`;
    this.#wantPath = `${this.path}${WANT_SUFFIX}`;
  }

  /**
   * One attempt without waiting (a stale lock is broken first): true if this instance holds the lock now.
   * A desktop gateway claims a chain of its own this way (see FileAuditLog's `claim`).
   */
  async tryAcquire(): Promise<boolean> {
    for (let attempt = 0; attempt < 3; attempt++) {
      if (await this.#tryTake()) {
        await this.#taken(false);
        return true;
      }
      const holder = await this.#readHolder(this.path);
      if (holder && !this.#isStale(holder)) return false;
      if (holder) await this.#breakStale();
    }
    return false;
  }

  /** Take the lock, waiting at most timeoutMs; rejects with `audit_unavailable` naming the file and its holder. */
  async acquire(): Promise<void> {
    const deadline = this.#now() + this.#timeoutMs;
    let delay = 1;
    let marked = false;
    for (;;) {
      if (await this.#tryTake()) break;
      const holder = await this.#readHolder(this.path);
      if (!holder) continue; // released meanwhile
      if (this.#isStale(holder)) {
        await this.#breakStale();
        continue;
      }
      const left = deadline - this.#now();
      if (left <= 0) throw this.#timeout(holder);
      await this.#markWanted();
      marked = true;
      await sleep(Math.min(delay, left));
      delay = Math.min(delay * 2, 25);
    }
    await this.#taken(marked);
  }

  async #taken(marked: boolean): Promise<void> {
    this.#held = true;
    this.#heldSince = this.#now();
    this.#wantCheckedAt = 0;
    // Our mark is served; a writer still waiting marks again on its next try.
    if (marked) await fsp.unlink(this.#wantPath).catch(() => {});
    process.on('exit', this.#onExit);
    const every = Math.max(1, Math.floor(this.#staleMs / 3));
    this.#refresh = setInterval(() => {
      const t = new Date(this.#now());
      fsp.utimes(this.path, t, t).catch(() => {});
    }, every).unref();
  }

  /**
   * Whether another writer found the lock taken since this instance took it (its mark is newer than the
   * hold, within WANT_SLACK_MS). One stat, at most every WANT_CHECK_MS (a busy holder's rounds come every
   * few hundred microseconds; a waiter sleeps 1-25 ms between tries anyway); a missing or unreadable mark
   * means nobody asked.
   *
   * The stat is made on the calling thread, and a missing mark (the usual answer) is not an exception:
   * through fs/promises each check was a thread-pool round trip ending in an ENOENT error with its stack,
   * about as costly as a whole record's sealing for ten desktop gateways sharing two cores. Like the
   * inline fdatasync (fs.ts), it blocks the loop for one metadata lookup at most every WANT_CHECK_MS.
   */
  wanted(): boolean {
    if (!this.#held) return false;
    const now = this.#now();
    if (now - this.#wantCheckedAt < WANT_CHECK_MS) return false;
    this.#wantCheckedAt = now;
    try {
      const st = statSync(this.#wantPath, { throwIfNoEntry: false });
      return st !== undefined && st.mtimeMs >= this.#heldSince - WANT_SLACK_MS;
    } catch {
      return false;
    }
  }

  /** Best effort: the holder then lets go after its current round instead of keeping the lock. */
  async #markWanted(): Promise<void> {
    const t = new Date(this.#now());
    try {
      await fsp.utimes(this.#wantPath, t, t);
    } catch {
      await fsp
        .writeFile(this.#wantPath, '', { mode: 0o600 })
        .then(
          () => fsp.utimes(this.#wantPath, t, t),
          () => {},
        )
        .catch(() => {});
    }
  }

  /** Whether this instance holds the lock now. */
  get held(): boolean {
    return this.#held;
  }

  /** Remove the lock file. Never throws: the round's records are durable already. Returns a warning, if any. */
  async release(): Promise<string | undefined> {
    if (!this.#held) return undefined;
    this.#held = false;
    clearInterval(this.#refresh);
    this.#refresh = undefined;
    process.off('exit', this.#onExit);
    try {
      await fsp.unlink(this.path);
      return undefined;
    } catch (e) {
      return `audit log ${this.#dir}: cannot remove lock file ${this.path}: ${describeOsError(e)}`;
    }
  }

  /** Remove this instance's token file (close). */
  async close(): Promise<void> {
    await this.release();
    if (!this.#tokenReady) return;
    this.#tokenReady = false;
    await fsp.unlink(this.#token).catch(() => {});
  }

  /** One attempt at the lock: false if someone holds it. */
  async #tryTake(): Promise<boolean> {
    if (this.#mode === 'create') return this.#tryCreate(this.path);
    if (!this.#tokenReady) {
      await this.#removeDeadTokens();
      await fsp.unlink(this.#token).catch(() => {});
      if (!(await this.#tryCreate(this.#token))) throw this.#error(`cannot write audit log lock token ${this.#token}`, new Error('exists'));
      this.#tokenReady = true;
    }
    try {
      await fsp.link(this.#token, this.path);
      return true;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') return false;
      if (code === 'ENOENT') {
        this.#tokenReady = false; // token removed under us (or the directory is gone: the next try says so)
        return this.#tryTake();
      }
      // No hard links on this file system (EPERM, ENOTSUP, ENOSYS, EXDEV...): create the lock file instead.
      this.#mode = 'create';
      await fsp.unlink(this.#token).catch(() => {});
      this.#tokenReady = false;
      return this.#tryCreate(this.path);
    }
  }

  /** Token files of processes on this host that are gone (they crashed before close). Best effort. */
  async #removeDeadTokens(): Promise<void> {
    let names: string[];
    try {
      names = await fsp.readdir(this.#dir);
    } catch {
      return;
    }
    for (const name of names.filter((n) => TOKEN_RE.test(n))) {
      const path = join(this.#dir, name);
      const h = await this.#readHolder(path).catch(() => undefined);
      if (h?.pid !== undefined && h.host === this.#host && h.pid !== process.pid && !pidAlive(h.pid)) {
        await fsp.unlink(path).catch(() => {});
      }
    }
  }

  /** O_EXCL create with our identity; false if it exists. */
  async #tryCreate(path: string): Promise<boolean> {
    let fh: fsp.FileHandle;
    try {
      fh = await fsp.open(path, 'wx', 0o600);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw this.#error(`cannot write audit log lock ${path}`, e);
    }
    try {
      await fh.writeFile(this.#content);
      await fh.close();
      return true;
    } catch (e) {
      await fh.close().catch(() => {});
      await fsp.unlink(path).catch(() => {});
      throw this.#error(`cannot write audit log lock ${path}`, e);
    }
  }

  async #readHolder(path: string): Promise<Holder | undefined> {
    let text: string;
    let mtimeMs: number;
    try {
      const st = await fsp.stat(path);
      // link() sets ctime: the moment a token became the lock. utimes (the holder's touch) sets both.
      mtimeMs = Math.max(st.mtimeMs, st.ctimeMs);
      text = await fsp.readFile(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw this.#error(`cannot read audit log lock ${path}`, e);
    }
    const holder: Holder = { ageMs: this.#now() - mtimeMs };
    try {
      const parsed = JSON.parse(text) as Record<string, unknown>;
      if (Number.isSafeInteger(parsed.pid) && (parsed.pid as number) > 0) holder.pid = parsed.pid as number;
      if (typeof parsed.host === 'string') holder.host = parsed.host;
      if (typeof parsed.id === 'string') holder.id = parsed.id;
    } catch {
      // Empty or cut short (its creator is between open and write, or crashed there): only age can tell.
    }
    return holder;
  }

  #isStale(h: Holder): boolean {
    if (h.ageMs > this.#staleMs) return true;
    if (h.id === this.#id) return true; // our own, left by a release that could not remove it
    return h.pid !== undefined && h.host === this.#host && h.pid !== process.pid && !pidAlive(h.pid);
  }

  /** Remove a stale lock, under `audit.lock.break` so that only one waiter removes it and only while still stale. */
  async #breakStale(): Promise<void> {
    const guard = `${this.path}.break`;
    if (!(await this.#tryCreate(guard))) {
      // Someone else is taking over (microseconds); a guard left by a crash there is stale like any lock.
      const g = await this.#readHolder(guard);
      if (g && this.#isStale(g)) await fsp.unlink(guard).catch(() => {});
      else await sleep(1);
      return;
    }
    try {
      const holder = await this.#readHolder(this.path);
      if (holder && this.#isStale(holder)) await fsp.unlink(this.path).catch(() => {});
    } finally {
      await fsp.unlink(guard).catch(() => {});
    }
  }

  #timeout(h: Holder): GatewayError {
    const who =
      h.pid !== undefined ? `pid ${h.pid}${h.host && h.host !== this.#host ? ` on host ${h.host}` : ''}` : 'an unknown process (no pid in the file yet)';
    return new GatewayError(
      'audit_unavailable',
      `cannot lock audit log ${this.#dir}: ${this.path} is held by ${who} (for ${Math.max(0, Math.round(h.ageMs))} ms); gave up after ${this.#timeoutMs} ms`,
      { details: { dir: this.#dir, lockFile: this.path, ...(h.pid !== undefined ? { holderPid: h.pid } : {}) } },
    );
  }

  #error(message: string, e: unknown): GatewayError {
    const osError = (e as NodeJS.ErrnoException)?.code;
    return new GatewayError('audit_unavailable', `${message}: ${describeOsError(e)}`, {
      cause: e,
      details: { dir: this.#dir, lockFile: this.path, ...(osError ? { osError } : {}) },
    });
  }
}
