import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { Deps } from '../deps.js';
import { GatewayError } from '../errors.js';
import { GENESIS_HASH, normalizeEvent, sealRecord } from './chain.js';
import { INSTANCE_RE } from '../config/schema.js';
import { auditClientConfig, auditSchemaName, describeDatabase, ensureAuditSchema, openAuditPool, type PgAuditTarget } from './pg-schema.js';
import { HeldConnection } from './pg-connection.js';
import { roundInsert } from './pg-round.js';
import { readCheckpoint, type CheckpointingSink, type CheckpointMaker, type StoredCheckpoint } from './checkpoint.js';
import type { AuditJwks } from './signing-key.js';
import type { AuditDurability, AuditEvent, AuditRecord } from './types.js';

export interface OpenPgAuditLogOptions extends PgAuditTarget {
  /** This instance's chain (see auditInstanceName). */
  instance: string;
  /** Longest wait for the database on one round (connect or commit); then the appends fail (fail closed). Default 5000. */
  queryTimeoutMs?: number;
  onWarning?: (message: string) => void;
}

interface Pending {
  event: AuditEvent;
  deferred: boolean;
  resolve(record: AuditRecord): void;
  reject(error: unknown): void;
}

/** A checkpoint, run in the chain's write order after the records queued before it. */
interface Task {
  task: () => Promise<void>;
  resolve(): void;
  reject(error: unknown): void;
}

/** How long an outcome record may wait for a decision's round before it gets one of its own. */
const DEFERRED_MS = 100;

/** A round found the chain's head moved (another live writer with this name, a commit lost in a database crash). */
class HeadMoved extends Error {}

/** Attempts of one round against a moving head before it fails (audit_unavailable): far more than two writers need. */
const HEAD_MOVED_ATTEMPTS = 8;

/**
 * The fleet's audit sink: each instance appends its hash chain to `audit_records` in PostgreSQL. Appends
 * are group-committed like the file sink's: whatever queues while one INSERT commits goes out in the next,
 * as one multi-row INSERT (one round trip, one WAL flush; pg-round.ts) on a connection held for the rounds
 * (pg-connection.ts). A decision record's append resolves only once its transaction committed with
 * synchronous_commit on, i.e. flushed to the WAL on the database's disk (and to synchronous standbys where
 * the database has them), before the downstream call, and rejects with `audit_unavailable` otherwise (fail
 * closed). Outcome records ('deferred') join the next decision's round, or after 100 ms a round of their
 * own, committed on a connection with synchronous_commit off: the database flushes it within its
 * wal_writer_delay, or with the next decision's commit (the WAL is flushed in order).
 *
 * Each INSERT also checks that the record it links to is the chain's head in the table: a record lost
 * with an unflushed commit (database crash) or written by a second live process using the same instance
 * name makes the round re-read the head and re-seal, so the table never holds a fork or a gap.
 */
export class PgAuditLog implements CheckpointingSink {
  readonly instance: string;
  readonly where: string;
  readonly warnings: string[] = [];
  /** Schema, readiness, keys, heads and checkpoints. */
  readonly #pool: pg.Pool;
  /** The rounds: decisions with synchronous_commit on, outcome-only rounds with it off. */
  readonly #rounds: HeldConnection;
  readonly #asyncRounds: HeldConnection;
  readonly #schema: string;
  readonly #now: () => number;
  readonly #onWarning: (message: string) => void;
  #head = { seq: 0, hash: GENESIS_HASH };
  #needsHead = true;
  #queue: (Pending | Task)[] = [];
  #running: Promise<void> | undefined;
  #closed = false;

  constructor(deps: Pick<Deps, 'now'>, options: OpenPgAuditLogOptions) {
    if (!INSTANCE_RE.test(options.instance)) {
      throw new GatewayError(
        'config_invalid',
        `audit instance "${options.instance}" is not a valid name: 1-100 letters, digits, ".", "_" or "-", starting with a letter or digit`,
      );
    }
    this.instance = options.instance;
    this.#schema = auditSchemaName(options);
    this.where = `${describeDatabase(options.databaseUrl)}${this.#schema === 'public' ? '' : ` (schema ${this.#schema})`}`;
    const queryTimeoutMs = options.queryTimeoutMs ?? 5000;
    const conn = { queryTimeoutMs, instance: this.instance };
    this.#pool = openAuditPool(options, { ...conn, max: 1, synchronousCommit: true });
    // A connection lost (database restart): the head is re-read before the next round.
    const lost = () => (this.#needsHead = true);
    this.#rounds = new HeldConnection(auditClientConfig(options, { ...conn, synchronousCommit: true }), lost);
    this.#asyncRounds = new HeldConnection(auditClientConfig(options, { ...conn, synchronousCommit: false }), lost);
    this.#pool.on('error', lost);
    this.#now = deps.now;
    this.#onWarning = options.onWarning ?? ((m) => process.emitWarning(m, 'AuditLogWarning'));
  }

  get head(): { seq: number; hash: string } {
    return { ...this.#head };
  }

  async init(): Promise<void> {
    try {
      await ensureAuditSchema(this.#pool, this.#schema);
      await this.#loadHead();
    } catch (e) {
      throw this.#unavailable('cannot open the audit table', e);
    }
  }

  append(event: AuditEvent, options: { durability?: AuditDurability } = {}): Promise<AuditRecord> {
    if (this.#closed) return Promise.reject(new GatewayError('audit_unavailable', `audit log in ${this.where} is closed`));
    let normalized: AuditEvent;
    try {
      normalized = normalizeEvent(event);
    } catch (e) {
      return Promise.reject(new GatewayError('internal', (e as Error).message, { cause: e }));
    }
    const deferred = options.durability === 'deferred';
    return new Promise((resolve, reject) => {
      this.#queue.push({ event: normalized, deferred, resolve, reject });
      // An outcome record waits for the next decision's round (one INSERT and one commit for both), or
      // DEFERRED_MS at most; a crash before then leaves its decision "outcome unknown", as with the file sink.
      if (deferred) this.#scheduleDeferred();
      else this.#kick();
    });
  }

  #deferredTimer: NodeJS.Timeout | undefined;

  #scheduleDeferred(): void {
    if (this.#deferredTimer) return;
    this.#deferredTimer = setTimeout(() => {
      this.#deferredTimer = undefined;
      this.#kick();
    }, DEFERRED_MS);
    this.#deferredTimer.unref();
  }

  /** Readiness: the database answers, is not a read-only standby, and this role may insert into the table. */
  async check(): Promise<string | undefined> {
    if (this.#closed) return `audit log in ${this.where} is closed`;
    try {
      const { rows } = await this.#pool.query<{ standby: boolean; insert: boolean }>(
        `SELECT pg_is_in_recovery() AS standby, has_table_privilege(current_user, 'audit_records', 'INSERT') AS insert`,
      );
      if (rows[0]?.standby) return `cannot write the audit table in ${this.where}: the database is a read-only standby`;
      if (!rows[0]?.insert) return `cannot write the audit table in ${this.where}: role may not INSERT into audit_records`;
      return undefined;
    } catch (e) {
      return `cannot reach the audit table in ${this.where}: ${describePgError(e)}`;
    }
  }

  /** Publish this instance's audit public keys in `audit_keys` (for the fleet's well-known URL). */
  async publishKeys(jwks: AuditJwks): Promise<void> {
    for (const k of jwks.keys) {
      await this.#pool.query('INSERT INTO audit_keys (kid, instance, jwk) VALUES ($1, $2, $3) ON CONFLICT (kid) DO NOTHING', [
        k.kid,
        this.instance,
        JSON.stringify(k),
      ]);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#deferredTimer);
    this.#deferredTimer = undefined;
    // Outcome records still waiting for a round: written before the connections end.
    if (this.#queue.length) this.#kick();
    while (this.#running) await this.#running;
    await Promise.all([this.#pool.end().catch(() => {}), this.#rounds.close(), this.#asyncRounds.close()]);
  }

  /**
   * See {@link CheckpointingSink.checkpoint}: stored in `audit_checkpoints` with a synchronous commit,
   * which also flushes every earlier record of this chain committed without waiting (WAL order).
   */
  checkpoint(make: CheckpointMaker): Promise<StoredCheckpoint | undefined> {
    if (this.#closed) return Promise.reject(new GatewayError('audit_unavailable', `audit log in ${this.where} is closed`));
    let stored: StoredCheckpoint | undefined;
    return new Promise((resolve, reject) => {
      this.#queue.push({
        task: async () => {
          if (this.#needsHead) await this.#loadHead();
          const { rows } = await this.#pool.query<{ checkpoint: string }>(
            'SELECT checkpoint FROM audit_checkpoints WHERE instance = $1 ORDER BY n DESC LIMIT 1',
            [this.instance],
          );
          const cp = await make(this.head, rows[0] ? readCheckpoint(rows[0].checkpoint) : undefined);
          if (!cp) return;
          try {
            await this.#pool.query('INSERT INTO audit_checkpoints (instance, n, seq, time, checkpoint) VALUES ($1, $2, $3, $4, $5)', [
              this.instance,
              cp.claims.n,
              cp.claims.seq,
              cp.claims.time,
              cp.jws,
            ]);
          } catch (e) {
            // Another live writer of this chain stored checkpoint n first: it signs the same chain; skip this one.
            if ((e as { code?: string }).code === '23505') return;
            throw e;
          }
          stored = cp;
        },
        resolve: () => resolve(stored),
        reject,
      });
      this.#kick();
    });
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
      // Records up to the first checkpoint task form the round; the task runs after them.
      const cut = this.#queue.findIndex((q) => 'task' in q);
      const round = this.#queue.splice(0, cut === -1 ? this.#queue.length : cut) as Pending[];
      if (round.length) {
        try {
          const records = await this.#commit(round);
          round.forEach((p, i) => p.resolve(records[i]!));
        } catch (e) {
          this.#needsHead = true;
          const err = this.#unavailable('cannot write the audit table', e);
          for (const p of round) p.reject(err);
        }
      }
      const next = this.#queue[0];
      if (next && 'task' in next) {
        this.#queue.shift();
        try {
          await next.task();
          next.resolve();
        } catch (e) {
          next.reject(this.#unavailable('cannot write an audit checkpoint', e));
        }
      }
    }
  }

  /**
   * Seal the round after the head and insert it; again after re-reading a head that moved. A second
   * live writer with the same name can win the race more than once in a row (each attempt, one of the
   * two commits), so a few attempts, each after a fresh head; one warning per round.
   */
  async #commit(round: Pending[]): Promise<AuditRecord[]> {
    for (let attempt = 0; ; attempt++) {
      if (this.#needsHead) await this.#loadHead();
      let { seq, hash } = this.#head;
      const prev = { seq, hash };
      const records = round.map((p) => {
        const record = sealRecord(p.event, {
          time: new Date(this.#now()).toISOString(),
          id: randomUUID(),
          seq: ++seq,
          prevHash: hash,
          instance: this.instance,
        });
        hash = record.hash;
        return record;
      });
      try {
        await this.#insert(
          records,
          prev,
          round.every((p) => p.deferred),
        );
        this.#head = { seq, hash };
        return records;
      } catch (e) {
        if (!(e instanceof HeadMoved) || attempt >= HEAD_MOVED_ATTEMPTS - 1) throw e;
        if (attempt === 0)
          this.#warn(
            `audit chain "${this.instance}" in ${this.where}: its head moved under this writer (another live instance uses the name "${this.instance}", or a commit was lost in a database crash); continuing after seq ${this.#head.seq}`,
          );
        this.#needsHead = true;
      }
    }
  }

  async #insert(records: AuditRecord[], prev: { seq: number; hash: string }, deferred: boolean): Promise<void> {
    let res: pg.QueryResult;
    try {
      // Linked only if `prev` is the chain's head.
      res = await (deferred ? this.#asyncRounds : this.#rounds).query(roundInsert(this.instance, records, prev));
    } catch (e) {
      if ((e as { code?: string }).code === '23505') throw new HeadMoved('unique violation');
      throw e;
    }
    if (res.rowCount !== records.length) throw new HeadMoved('head moved');
  }

  async #loadHead(): Promise<void> {
    const { rows } = await this.#pool.query<{ seq: string; hash: string }>(
      'SELECT seq, hash FROM audit_records WHERE instance = $1 ORDER BY seq DESC LIMIT 1',
      [this.instance],
    );
    this.#head = rows[0] ? { seq: Number(rows[0].seq), hash: rows[0].hash } : { seq: 0, hash: GENESIS_HASH };
    this.#needsHead = false;
  }

  #warn(message: string): void {
    this.warnings.push(message);
    this.#onWarning(message);
  }

  #unavailable(message: string, e: unknown): GatewayError {
    if (e instanceof GatewayError) return e;
    return new GatewayError('audit_unavailable', `${message} in ${this.where}: ${describePgError(e)}`, {
      cause: e,
      details: { database: this.where, ...((e as { code?: string })?.code ? { pgError: (e as { code: string }).code } : {}) },
    });
  }
}

/** "ECONNREFUSED 127.0.0.1:5433", "Query read timeout", "permission denied for table audit_records (42501)". */
export function describePgError(e: unknown): string {
  const err = e as { message?: string; code?: string; errors?: { message?: string }[] };
  // Node's AggregateError (a refused connection to every address of localhost) has an empty message.
  const message =
    err?.message ||
    err?.errors
      ?.map((x) => x.message)
      .filter(Boolean)
      .join('; ') ||
    String(e);
  return err?.code && !message.includes(err.code) ? `${message} (${err.code})` : message;
}

/** Open (creating the tables if needed) this instance's audit chain in PostgreSQL. */
export async function openPgAuditLog(deps: Pick<Deps, 'now'>, options: OpenPgAuditLogOptions): Promise<PgAuditLog> {
  const log = new PgAuditLog(deps, options);
  try {
    await log.init();
  } catch (e) {
    await log.close().catch(() => {});
    throw e;
  }
  return log;
}
